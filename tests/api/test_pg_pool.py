"""PostgreSQL pooled connections that died are replaced, not answered 500.

The pool checks a connection at every checkout without a round trip (a readable
socket or a broken libpq state: dead; ``cloudctl/db/engine.py``), where
``pool_pre_ping`` sent a BEGIN and a SELECT per session (pinging only connections that
rested a few seconds was tried and lost requests after a database restart). Every
server connection of the cloud's database is terminated, and after a moment every kind
of request (STS, IAM, S3 object and bucket reads, an EC2 write) succeeds, and neither
they nor the background loops log a failed statement.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import psycopg
from sqlalchemy import text

from cloudctl.db.engine import create_engine
from tests.infra import postgres
from tests.support import new_cloud


def _terminate_backends(server: postgres.PostgresServer, database: str) -> int:
    out = postgres._as_postgres([
        str(postgres.PG_BIN / "psql"), "-h", str(server.root), "-p", str(server.port), "-tA",
        "-c", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
              f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"])
    return int(out.stdout.strip() or 0)


def test_dead_idle_connections_are_replaced(pg_server: Any) -> None:
    cloud = new_cloud(pg_server.create_database("pool_idle_dead"))
    cloud.start()
    try:
        s3, sts, iam = cloud.client("s3"), cloud.client("sts"), cloud.client("iam")
        ec2 = cloud.client("ec2")
        s3.create_bucket(Bucket="pool-idle")
        s3.put_object(Bucket="pool-idle", Key="k", Body=b"kept")
        for _ in range(5):
            sts.get_caller_identity()
            iam.get_user()
        logged = len(cloud.log_path.read_text(errors="replace"))
        assert _terminate_backends(pg_server, "pool_idle_dead") >= 1
        time.sleep(1)
        for _ in range(3):
            assert sts.get_caller_identity()["Account"] == cloud.account_id
            assert iam.get_user()["User"]["UserName"]
            assert s3.get_object(Bucket="pool-idle", Key="k")["Body"].read() == b"kept"
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["pool-idle"]
        volume = ec2.create_volume(Size=1, AvailabilityZone=f"{cloud.region}-1a")
        assert volume["VolumeId"].startswith("vol-")
        # no request and no background loop met a dead connection
        after = cloud.log_path.read_text(errors="replace")[logged:]
        assert not [line for line in after.splitlines()
                    if " ERROR " in line or "Traceback" in line or "terminat" in line], after
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def test_checkout_checks_without_a_round_trip_and_drops_the_dead(pg_server: Any) -> None:
    """A checked-out connection has sent nothing (with ``pool_pre_ping`` it was inside
    the ping's transaction); one whose backend was terminated while pooled is replaced
    before the session's first statement."""
    url = pg_server.create_database("pool_checkout")
    engine = create_engine(url, pool_size=1, max_overflow=0)

    async def run() -> tuple[list[psycopg.pq.TransactionStatus], int, int]:
        statuses = []
        for _ in range(3):
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                statuses.append(raw.driver_connection.info.transaction_status)
                first = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        assert _terminate_backends(pg_server, "pool_checkout") == 1
        time.sleep(0.5)
        async with engine.connect() as conn:
            second = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        await engine.dispose()
        return statuses, first, second

    statuses, first, second = asyncio.run(run())
    assert statuses == [psycopg.pq.TransactionStatus.IDLE] * 3
    assert second != first
