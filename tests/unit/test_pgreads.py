"""``cloudctl/db/pgreads.py`` on a real PostgreSQL server.

A read is one statement and no transaction (autocommit: no BEGIN, the connection idle
after it), prepared on first use; it runs once more on a new connection when its own
died (a terminated backend) or when a migration changed the type of a column its
prepared statement returns; the connections close with the engine.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy import text

from cloudctl.db import pgreads
from cloudctl.db.engine import create_engine
from tests.infra import postgres


def _backends(server: postgres.PostgresServer, database: str, terminate: bool = False) -> int:
    what = "count(pg_terminate_backend(pid))" if terminate else "count(*)"
    out = postgres._as_postgres([
        str(postgres.PG_BIN / "psql"), "-h", str(server.root), "-p", str(server.port), "-tA",
        "-c", f"SELECT {what} FROM pg_stat_activity "
              f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"])
    return int(out.stdout.strip() or 0)


def test_reads_prepare_retry_and_close(pg_server: Any) -> None:
    url = pg_server.create_database("pgreads_unit")
    engine = create_engine(url)
    reads = pgreads.for_engine(engine)
    assert reads is not None and pgreads.for_engine(engine) is reads
    reads.inline.mode = "off"  # the awaited connections (inline: test_pginline.py)

    async def run() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, v int)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 10), (2, 20)"))
        assert await reads.one("SELECT v FROM t WHERE id = %s", (2,)) == (20,)
        assert await reads.one("SELECT v FROM t WHERE id = %s", (3,)) is None
        assert await reads.rows("SELECT id FROM t ORDER BY id") == [(1,), (2,)]
        (conn,) = reads._idle  # one at a time: one connection, idle, no transaction
        assert conn.autocommit
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        # the three statements it ran are prepared on it (and kept)
        assert await reads.one("SELECT count(*) FROM pg_prepared_statements") == (3,)
        # a migration changes the type the prepared statement returns
        async with engine.begin() as sa_conn:
            await sa_conn.execute(text("ALTER TABLE t ALTER COLUMN v TYPE text"))
        assert await reads.one("SELECT v FROM t WHERE id = %s", (2,)) == ("20",)
        # the backend of the pooled connection is terminated
        assert _backends(pg_server, "pgreads_unit", terminate=True) >= 1
        await asyncio.sleep(0.3)
        assert await reads.one("SELECT v FROM t WHERE id = %s", (1,)) == ("10",)
        await engine.dispose()
        await asyncio.sleep(0.3)
        assert _backends(pg_server, "pgreads_unit") == 0

    asyncio.run(run())


def test_only_postgres_over_psycopg() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    assert pgreads.for_engine(engine) is None
