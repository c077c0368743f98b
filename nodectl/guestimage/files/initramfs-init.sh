#!/bin/sh
# /init of the nodectl tiny guest's initramfs (busybox-static).
# Loads the virtio modules in dependency order, mounts the root disk named by
# root= on the kernel command line (default /dev/vda) and switches to it.
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /newroot
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "nodectl-initramfs: start"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         virtio_blk failover net_failover virtio_net; do
    insmod "/lib/modules/$m.ko" || echo "nodectl-initramfs: insmod $m failed"
done
root=/dev/vda
rootfstype=ext4
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=*) root="${arg#root=}" ;;
        rootfstype=*) rootfstype="${arg#rootfstype=}" ;;
    esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t "$rootfstype" -o rw "$root" /newroot; then
    echo "nodectl-initramfs: cannot mount $root, dropping to a shell"
    exec sh
fi
echo "nodectl-initramfs: root $root mounted, switching"
umount /proc
umount /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
