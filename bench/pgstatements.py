"""Statements per request on PostgreSQL, per operation, counted by the server.

Starts a private PostgreSQL server (``tests/infra/postgres.py``) with
``log_statement=all`` and a cloud of one worker on it, seeds a bucket, an object, a
user and a volume, lets the background controllers settle, then sends ``--requests``
requests of each read operation of ``bench/load.py``'s mix one at a time and counts
the server's log lines per request: simple-protocol statements (``BEGIN``,
``COMMIT``, ``ROLLBACK``, SQL) and extended-protocol executions, each a round trip
of its own under psycopg (a prepared statement's first use adds its PREPARE).
Background work (controllers, pollers) runs meanwhile and is counted too: the figure
is an upper bound, measured over a quiet stretch as the baseline.

Run: ``python -m bench.pgstatements [--requests 200]``; prints a table.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import start_cloud

_LINE = re.compile(r"LOG:  (statement|execute [^:]*): (.*)")


def _count(log: Path, start: int) -> dict[str, int]:
    counts: dict[str, int] = {"BEGIN": 0, "COMMIT/ROLLBACK": 0, "other": 0}
    with log.open("rb") as handle:
        handle.seek(start)
        for raw in handle.read().decode(errors="replace").splitlines():
            found = _LINE.search(raw)
            if found is None:
                continue
            text = found.group(2).strip().upper()
            if text.startswith("BEGIN"):
                counts["BEGIN"] += 1
            elif text.startswith(("COMMIT", "ROLLBACK")):
                counts["COMMIT/ROLLBACK"] += 1
            else:
                counts["other"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from tests.infra import postgres

    pg = postgres.start_postgres()
    os.environ["CLOUDCTL_DATABASE_URL"] = pg.create_database("statements")
    log = pg.root / "server.log"
    server = start_cloud(1)
    try:
        cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
        kw: dict[str, Any] = {"endpoint_url": server.endpoint, "region_name": "eucalyptus",
                              "aws_access_key_id": server.access_key,
                              "aws_secret_access_key": server.secret_key, "config": cfg}
        s3, iam = boto3.client("s3", **kw), boto3.client("iam", **kw)
        sts, ec2 = boto3.client("sts", **kw), boto3.client("ec2", **kw)
        s3.create_bucket(Bucket="stmts")
        s3.put_object(Bucket="stmts", Key="k", Body=b"x" * 4096)
        iam.create_user(UserName="stmts")
        ec2.create_volume(AvailabilityZone=ec2.describe_availability_zones()
                          ["AvailabilityZones"][0]["ZoneName"], Size=1)
        import subprocess
        subprocess.run(["runuser", "-u", "postgres", "--", str(postgres.PG_BIN / "psql"),
                        "-h", str(pg.root), "-p", str(pg.port), "-U", "postgres", "-c",
                        "ALTER SYSTEM SET log_statement = 'all'", "-c",
                        "SELECT pg_reload_conf()"], check=True, capture_output=True)
        time.sleep(1)
        ops = {
            "idle (per 10 ms)": lambda: time.sleep(0.01),
            "s3:GetObject": lambda: s3.get_object(Bucket="stmts", Key="k")["Body"].read(),
            "s3:HeadObject": lambda: s3.head_object(Bucket="stmts", Key="k"),
            "iam:GetUser": lambda: iam.get_user(UserName="stmts"),
            "sts:GetCallerIdentity": lambda: sts.get_caller_identity(),
            "ec2:DescribeVolumes": lambda: ec2.describe_volumes(),
            "s3:PutObject": lambda: s3.put_object(Bucket="stmts", Key="k", Body=b"y" * 4096),
        }
        print("| op | statements/request | BEGIN | COMMIT/ROLLBACK | other |")
        print("|---|---|---|---|---|")
        for name, call in ops.items():
            call()  # caches warm, statements prepared
            time.sleep(0.3)
            start = log.stat().st_size
            for _ in range(args.requests):
                call()
            time.sleep(0.3)
            counts = _count(log, start)
            total = sum(counts.values())
            n = args.requests
            print(f"| {name} | {total / n:.2f} | {counts['BEGIN'] / n:.2f} | "
                  f"{counts['COMMIT/ROLLBACK'] / n:.2f} | {counts['other'] / n:.2f} |",
                  flush=True)
    finally:
        server.stop()
        os.environ.pop("CLOUDCTL_DATABASE_URL", None)
        pg.stop()


if __name__ == "__main__":
    main()
