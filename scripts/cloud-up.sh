#!/usr/bin/env bash
# Set up everything and run the whole cloud on this host in the foreground
# (SQLite, files, a private libvirtd). Data in ${CLOUDCTL_DATA_DIR:-./.data}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh run
export CLOUDCTL_DATA_DIR="${CLOUDCTL_DATA_DIR:-$PWD/.data}"
exec cloudctl up "$@"
