#!/bin/sh
# Install what netd and its tests need, idempotently.
#
# - Debian packages: nftables (the nft tool and libnftables), python3-nftables
#   (the libnftables JSON binding; not on PyPI), dnsmasq-base (the dnsmasq
#   binary without its system service), iproute2 (ip netns, used by the tests
#   for debugging only) and busybox (not required; handy inside namespaces).
# - pip: pyroute2 into the interpreter given as $PYTHON (default: `python3` on
#   PATH, e.g. the pyenv 3.11).
# - Makes Debian's pure-Python `nftables` package importable from $PYTHON by
#   symlinking exactly that package into its site-packages (it loads
#   libnftables.so.1 through ctypes, so any CPython 3 can use it). Nothing else
#   from /usr/lib/python3/dist-packages is exposed.
#
# Package postinst scripts must not start services: /usr/sbin/policy-rc.d has
# to exit 101 (this script creates it when it is missing).
set -eu

PYTHON="${PYTHON:-python3}"
PACKAGES="nftables python3-nftables dnsmasq-base iproute2"

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
    echo "net.sh: installing$missing"
    # Another apt-get may hold the dpkg lock: wait for it rather than fail.
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
        --no-install-recommends $missing
fi

"$PYTHON" -m pip install --quiet 'pyroute2>=0.7'

site="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
src=/usr/lib/python3/dist-packages/nftables
if [ ! -d "$src" ]; then
    echo "net.sh: $src not found" >&2
    exit 1
fi
dst="$site/nftables"
if [ "$(readlink "$dst" 2>/dev/null || true)" != "$src" ]; then
    ln -sfn "$src" "$dst"
fi

"$PYTHON" -c 'import nftables, pyroute2; print("net.sh: nftables", nftables.__file__, "pyroute2", pyroute2.__version__)'
