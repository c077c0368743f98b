"""``cloudctl/db/pglazybegin.py`` on a real PostgreSQL server.

A session's plain SELECTs open no transaction (no BEGIN; the connection idle after
them, so its end sends no ROLLBACK); the BEGIN goes out before its first write or
locking read, and a write session stays one transaction (its rollback undoes it all).
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db import pglazybegin
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.pglazybegin import reads_without_transaction

_IN_OWN_TRANSACTION = ("SELECT xact_start = query_start FROM pg_stat_activity "
                       "WHERE pid = pg_backend_pid()")


async def _status(session: AsyncSession) -> psycopg.pq.TransactionStatus:
    raw = await (await session.connection()).get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver.info.transaction_status


def test_reads_run_without_begin_and_writes_keep_their_transaction(pg_server: Any) -> None:
    engine = create_engine(pg_server.create_database("lazybegin_unit"))
    sessions = session_factory(engine)
    idle, in_transaction = psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.INTRANS

    async def run() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, v int)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 10)"))
        async with sessions() as session:
            assert (await session.execute(text("SELECT v FROM t WHERE id = 1"))).scalar() == 10
            assert await _status(session) == idle  # no BEGIN was sent: nothing to end
            # the next read is a transaction of its own, not one begun before the first
            assert (await session.execute(text(_IN_OWN_TRANSACTION))).scalar() is True
            assert await _status(session) == idle
        # a write session: reads first, then the BEGIN with the write; one transaction
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
            await session.execute(text("INSERT INTO t VALUES (2, 20)"))
            assert await _status(session) == in_transaction
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 2
            assert (await session.execute(text(_IN_OWN_TRANSACTION))).scalar() is False
            await session.rollback()
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        # reads that need the transaction open begin it, as before
        for locking in ("SELECT v FROM t WHERE id = 1 FOR UPDATE",
                        "SELECT pg_advisory_xact_lock(7)"):
            async with sessions() as session:
                await session.execute(text(locking))
                assert await _status(session) == in_transaction, locking
                # a session that began its transaction first keeps it for its reads
                assert (await session.execute(text(_IN_OWN_TRANSACTION))).scalar() is False
        await engine.dispose()

    asyncio.run(run())


def test_which_statements_run_without_transaction() -> None:
    assert reads_without_transaction("SELECT a FROM t WHERE id = %(id)s")
    assert reads_without_transaction(b"  select count(*) from t")
    assert reads_without_transaction("SELECT t.informed FROM t")  # "INTO" is a word
    for needs_one in ("INSERT INTO t VALUES (1)", "UPDATE t SET v = 1", "BEGIN",
                      "SELECT v FROM t FOR UPDATE", "SELECT v FROM t FOR NO KEY UPDATE",
                      "SELECT v FROM t for share", "SELECT v FROM t FOR KEY SHARE",
                      "SELECT pg_advisory_xact_lock(1)", "SELECT pg_try_advisory_lock(1)",
                      "SELECT nextval('s')", "SELECT setval('s', 1)",
                      "SELECT set_config('a.b', '1', true)", "SELECT * INTO t2 FROM t",
                      "SELECT pg_notify('c', 'x')", "SELECT txid_current()",
                      "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                      "SAVEPOINT sa_savepoint_1", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"):
        assert not reads_without_transaction(needs_one), needs_one


def test_a_statement_is_classified_once() -> None:
    """The pattern search over a long ORM SELECT took ~0.47 ms a statement, every time:
    a text is classified once, then looked up."""
    columns = ", ".join(f"ec2_volumes.col_{i} AS col_{i}" for i in range(40))
    query = f"SELECT {columns} FROM ec2_volumes WHERE ec2_volumes.id = %(id)s"
    assert reads_without_transaction(query)
    pglazybegin._VERDICTS[query] = False  # what a second call answers comes from here
    assert not reads_without_transaction(query)
    del pglazybegin._VERDICTS[query]
