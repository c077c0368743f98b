"""``cloudctl/db/pgfresh.py`` (``PgReads.fresh``) on a real PostgreSQL server.

Concurrent callers share one read, and a caller that comes while a read is out gets
the next one; a waiting credential lookup resumes in the loop pass after the answer
reaches the socket; a dead connection is read around and replaced.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from sqlalchemy import text

from cloudctl.db import pgreads
from cloudctl.db.engine import create_engine
from cloudctl.services.iam.credentials import _EpochReads
from tests.infra import postgres

_COUNTED = "SELECT nextval('reads_made') FROM gate"  # which read answered; gate can block it


def _setup(pg_server: Any, name: str) -> tuple[Any, pgreads.PgReads, str]:
    url = pg_server.create_database(name)
    engine = create_engine(url)
    reads = pgreads.for_engine(engine)
    assert reads is not None
    return engine, reads, url.replace("+psycopg", "")


async def _schema(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SEQUENCE reads_made"))
        await conn.execute(text("CREATE TABLE gate (id int)"))
        await conn.execute(text("INSERT INTO gate VALUES (1)"))
        await conn.execute(text(
            "CREATE TABLE iam_credential_epoch (id int PRIMARY KEY, generation int)"))
        await conn.execute(text("INSERT INTO iam_credential_epoch VALUES (1, 7)"))


async def _until_blocked(watcher: psycopg.Connection[Any], table: str) -> None:
    for _ in range(200):
        waiting = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            f"AND query LIKE '%FROM {table}%'").fetchall()[0][0]
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the read never waited for the lock")


async def _warm(reads: pgreads.PgReads, statement: str) -> None:
    """The first read goes through ``PgReads.one`` while the connection opens."""
    await reads.fresh(statement)
    for _ in range(100):
        shared = reads._fresh[statement]
        if shared._conn is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the connection never opened")


def test_callers_share_a_read_sent_after_they_began(pg_server: Any) -> None:
    engine, reads, url = _setup(pg_server, "fresh_share")

    async def run() -> None:
        await _schema(engine)
        await _warm(reads, _COUNTED)  # read 1
        assert await reads.fresh(_COUNTED) == "2"
        with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
            locker.execute("LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")
            first = asyncio.ensure_future(reads.fresh(_COUNTED))
            await _until_blocked(watcher, "gate")  # read 3 is out, for the first caller
            later = [asyncio.ensure_future(reads.fresh(_COUNTED)) for _ in range(5)]
            await asyncio.sleep(0.05)
            assert not first.done() and not any(task.done() for task in later)
            locker.rollback()
        assert await first == "3"
        # those that came while read 3 was out share read 4, sent after they came
        assert await asyncio.gather(*later) == ["4"] * 5
        assert await reads.fresh(_COUNTED) == "5"
        await engine.dispose()

    asyncio.run(run())


def test_a_waiting_lookup_resumes_in_the_pass_after_the_answer(pg_server: Any) -> None:
    """The answer is read by the socket's callback, which sets the lookup's future: it
    resumes in the next pass (through a reading task, psycopg's future and the task's
    own, it took two passes more)."""
    engine, reads, url = _setup(pg_server, "fresh_passes")

    async def run() -> int:
        loop = asyncio.get_running_loop()
        await _schema(engine)
        epochs = _EpochReads(None, pg=lambda: reads)  # type: ignore[arg-type]
        assert await epochs.read() == 7
        await _warm(reads, "SELECT generation FROM iam_credential_epoch WHERE id = 1")
        with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
            locker.execute("LOCK TABLE iam_credential_epoch IN ACCESS EXCLUSIVE MODE")
            lookup = asyncio.ensure_future(epochs.read())
            await _until_blocked(watcher, "iam_credential_epoch")
            locker.rollback()
        time.sleep(0.2)  # the loop held: the answer is in the socket's buffer
        passes = 0

        def tick() -> None:
            nonlocal passes
            passes += 1
            if not lookup.done():
                loop.call_soon(tick)

        loop.call_soon(tick)
        assert await lookup == 7
        await engine.dispose()
        return passes

    # pass 1: the poll finds the answer, the callback reads it and sets the lookup's
    # future; pass 2: the lookup ends; pass 3: the tick sees it done
    assert asyncio.run(run()) == 3


def test_a_dead_connection_is_read_around_and_replaced(pg_server: Any) -> None:
    engine, reads, _url = _setup(pg_server, "fresh_dead")

    async def run() -> None:
        await _schema(engine)
        await _warm(reads, _COUNTED)
        dead = reads._fresh[_COUNTED]._conn
        assert dead is not None
        postgres._as_postgres([
            str(postgres.PG_BIN / "psql"), "-h", str(pg_server.root), "-p",
            str(pg_server.port), "-c", f"SELECT pg_terminate_backend({dead.info.backend_pid})"])
        await asyncio.sleep(0.2)
        assert await reads.fresh(_COUNTED) == "2"  # through PgReads.one
        await _warm(reads, _COUNTED)  # read 3; a new connection opened
        assert reads._fresh[_COUNTED]._conn is not dead
        assert await reads.fresh(_COUNTED) == "4"
        await engine.dispose()
        # closed with the engine: nothing of it open any more
        assert reads._fresh == {}
        assert dead.closed

    asyncio.run(run())
