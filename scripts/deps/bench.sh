#!/bin/sh
# Install what the benchmarks under bench/ need beyond the test dependencies, idempotently.
#
# - iperf3 (Debian): TCP throughput between namespaces (bench/vpc_dataplane.py). Its
#   package may offer a system service; /usr/sbin/policy-rc.d (exit 101) keeps it off.
set -eu

PACKAGES="iperf3"

if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    echo "bench.sh: installing$missing"
    echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections 2>/dev/null || true
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
        --no-install-recommends $missing
fi
