#!/bin/sh
# Install the S3 clients the test suite drives against the cloud, idempotently:
# rclone (SigV4 and SigV2) and restic, from Debian.
set -eu
PACKAGES="rclone restic"
missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    echo "s3tools.sh: installing$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
