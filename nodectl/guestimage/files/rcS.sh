#!/bin/sh
# /etc/init.d/rcS of the nodectl tiny guest: mounts, ACPI power button, cloud-init.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q " /dev " /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname nodectl-guest
ip link set lo up
# ACPI power button -> /etc/acpi/PWRF/00000080 (poweroff)
insmod /lib/modules/evdev.ko 2>/dev/null
insmod /lib/modules/button.ko 2>/dev/null
acpid -c /etc/acpi
/etc/init.d/cloud-init
