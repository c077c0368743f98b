#!/bin/sh
# Install what the Ceph-backed storage tests need, idempotently.
#
# - Debian packages: a monitor, an OSD, a manager (optional at run time), the
#   command-line tools, the librados/librbd Python bindings and qemu-img with
#   the RBD block driver.
# - Makes Debian's CPython 3.11 `rados` and `rbd` extension modules importable
#   from the interpreter given as $PYTHON (default: `python3` on PATH, e.g. the
#   pyenv 3.11) by symlinking exactly those two modules into its site-packages.
#   Nothing else from /usr/lib/python3/dist-packages is exposed, so Debian's
#   copies of other libraries never shadow or mix with the project's.
#
# Package postinst scripts must not start services: /usr/sbin/policy-rc.d has
# to exit 101 (this script creates it when it is missing).
set -eu

PYTHON="${PYTHON:-python3}"
PACKAGES="ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd qemu-utils qemu-block-extra"

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
    echo "ceph.sh: installing$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

site="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
abi="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
for mod in rados rbd; do
    src="/usr/lib/python3/dist-packages/${mod}${abi}"
    if [ ! -e "$src" ]; then
        echo "ceph.sh: $src not found (Python ABI $abi differs from Debian's?)" >&2
        exit 1
    fi
    dst="$site/${mod}${abi}"
    if [ "$(readlink "$dst" 2>/dev/null || true)" != "$src" ]; then
        ln -sfn "$src" "$dst"
    fi
done

"$PYTHON" -c 'import rados, rbd; print("ceph.sh: rados", rados.__file__, "rbd", rbd.__file__)'
