#!/bin/sh
# Install what the node agent (nodectl) needs on a Debian 12 host, idempotently:
# libvirt + QEMU (TCG), tini, the libvirt Python binding, the tools the tiny guest
# image is built with, and the Debian cloud kernel unpacked into a cache dir (not
# installed). Safe to run again: every step checks first.
#
# Usage: scripts/deps/node.sh [KERNEL_CACHE_DIR]
#   KERNEL_CACHE_DIR defaults to $NODECTL_KERNEL_CACHE or /var/cache/nodectl/kernel
set -eu

KERNEL_CACHE="${1:-${NODECTL_KERNEL_CACHE:-/var/cache/nodectl/kernel}}"
PYTHON="${PYTHON:-python3}"

PACKAGES="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
qemu-system-x86 qemu-utils tini libvirt-dev pkg-config gcc \
dnsmasq-base busybox-static dropbear-bin e2fsprogs cpio iproute2 util-linux"

# Keep package postinsts from starting services (no systemd here).
if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "node.sh: installing:$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends $missing
fi

if ! "$PYTHON" -c 'import libvirt' 2>/dev/null; then
    "$PYTHON" -m pip install 'libvirt-python>=9.0'
fi

# The cloud kernel: the meta package names the real image package in Depends.
mkdir -p "$KERNEL_CACHE"
if ! ls "$KERNEL_CACHE"/root/boot/vmlinuz-* >/dev/null 2>&1; then
    real=$(apt-cache depends linux-image-cloud-amd64 \
        | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
    if [ -z "$real" ]; then
        echo "node.sh: cannot resolve linux-image-cloud-amd64's kernel package" >&2
        exit 1
    fi
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    (cd "$tmp" && apt-get download linux-image-cloud-amd64 "$real")
    rm -rf "$KERNEL_CACHE/root.tmp"
    mkdir -p "$KERNEL_CACHE/root.tmp"
    for deb in "$tmp"/linux-image-*.deb; do
        dpkg-deb -x "$deb" "$KERNEL_CACHE/root.tmp"
    done
    rm -rf "$KERNEL_CACHE/root"
    mv "$KERNEL_CACHE/root.tmp" "$KERNEL_CACHE/root"
    rm -rf "$tmp"
fi
echo "node.sh: kernel cache: $(ls "$KERNEL_CACHE"/root/boot/vmlinuz-*)"
