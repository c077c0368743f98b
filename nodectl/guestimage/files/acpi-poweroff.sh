#!/bin/sh
# Run by busybox acpid on the ACPI power button: a clean poweroff.
echo "cloud-init: acpi power button, powering off" > /dev/console
poweroff
