#!/bin/sh
# A minimal cloud-init for the nodectl tiny guest (busybox sh).
# DHCP on eth0, EC2-style metadata (instance-id, ssh key, user-data), dropbear.
# Every step prints a "cloud-init:" marker on the console; a failing step is
# reported and skipped, never fatal.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
MD=http://169.254.169.254/latest
say() { echo "cloud-init: $*"; }
fetch() { timeout 5 wget -q -O - "$MD/$1" 2>/dev/null; }

say "start"
if ip link show eth0 >/dev/null 2>&1; then
    ip link set eth0 up
    if udhcpc -i eth0 -n -q -t 4 -T 1 -s /etc/udhcpc.script >/dev/null 2>&1; then
        say "eth0 $(ip -4 -o addr show eth0 | awk '{print $4}')"
    else
        say "eth0 dhcp failed"
    fi
else
    say "no eth0"
fi

say "fetching metadata from $MD/meta-data/"
iid=$(fetch meta-data/instance-id)
if [ -n "$iid" ]; then
    say "instance-id $iid"
    echo "$iid" > /run/instance-id
    key=$(fetch meta-data/public-keys/0/openssh-key)
    if [ -n "$key" ]; then
        mkdir -p /root/.ssh && chmod 700 /root/.ssh
        echo "$key" > /root/.ssh/authorized_keys
        chmod 600 /root/.ssh/authorized_keys
        say "ssh key installed"
    fi
    fetch user-data > /run/user-data
    if [ "$(head -c 2 /run/user-data)" = "#!" ]; then
        chmod 700 /run/user-data
        /run/user-data
        say "user-data ran (exit $?)"
    else
        say "no user-data script"
    fi
else
    say "metadata unavailable, carrying on"
fi

mkdir -p /etc/dropbear
if dropbear -R -s -p 22 -P /run/dropbear.pid; then
    say "ssh ready"
else
    say "ssh failed"
fi
say "done"
