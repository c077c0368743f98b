#!/bin/sh
# Install haproxy (Debian 12: 2.6), the data plane of the cloud's load balancers (ELB).
# netd runs one haproxy a load balancer itself (master-worker, in its own network
# namespace); the package's own service is never started (policy-rc.d exits 101).
# bind9-dnsutils: `dig`, with which the tests ask the cloud's resolver (dnsmasq) for
# load balancer names. Idempotent: a second run installs nothing.
set -eu

if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi

missing=""
for pkg in haproxy bind9-dnsutils; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
