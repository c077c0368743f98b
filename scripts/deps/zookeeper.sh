#!/bin/sh
# Install ZooKeeper (the VPC topology store) and the Python client, idempotently.
#
# - Debian packages: `zookeeper` (the server jars under /usr/share/zookeeper and
#   /usr/share/java; its init script is never used: netd/zookeeper.py and
#   tests/infra/zookeeper.py run QuorumPeerMain with their own zoo.cfg),
#   `libslf4j-java` and `liblog4j1.2-java` (so the server logs through
#   slf4j-log4j12) and a headless JRE.
# - pip: kazoo (the ZooKeeper client of netd and the controller) into $PYTHON.
#
# Package postinst scripts must not start services: /usr/sbin/policy-rc.d has
# to exit 101 (this script creates it when it is missing).
set -eu

PYTHON="${PYTHON:-python3}"
PACKAGES="zookeeper libslf4j-java liblog4j1.2-java default-jre-headless"

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
    echo "zookeeper.sh: installing$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
        --no-install-recommends $missing
fi

"$PYTHON" -m pip install --quiet 'kazoo>=2.10'
"$PYTHON" -c 'import kazoo; print("zookeeper.sh: kazoo", kazoo.__version__)'
