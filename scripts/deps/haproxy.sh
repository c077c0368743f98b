#!/bin/sh
# Install haproxy (Debian 12: 2.6), the data plane of the cloud's load balancers (ELB).
# netd runs one haproxy a load balancer itself (master-worker, in its own network
# namespace); the package's own service is never started (policy-rc.d exits 101).
# Idempotent: a second run installs nothing.
set -eu

if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi

if ! dpkg-query -W -f='${Status}' haproxy 2>/dev/null | grep -q "install ok installed"; then
    apt-get install -y -q --no-install-recommends haproxy >/dev/null
fi
