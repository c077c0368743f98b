"""``cloudctl/db/pgnearwait.py`` on a real PostgreSQL server.

A session's plain reads outside a transaction (``pglazybegin``) on a server on this
host complete without suspending their coroutine: no loop pass, the same rows (a large
answer too, read in many chunks from the socket). Its writes, and the reads of its
open transaction, are awaited as before. A read held up (a table locked by another
session) holds the loop only for the budget, then goes on awaited, the loop serving
other tasks meanwhile, and the engine's reads are awaited for the back-off; a long
answer already arriving goes on awaited too, without a back-off. ``off``
awaits every read, a server across a network is awaited in ``auto``, ``on`` waits on
the loop whatever the server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudctl.db import pgnearwait
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.pgnearwait import NearWaits
from tests.unit.loop_probes import at_once, spinner


@pytest.fixture(scope="module")
def url(pg_server: Any) -> str:
    made = str(pg_server.create_database("pgnearwait_unit"))
    with psycopg.connect(made.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t VALUES (1, 10)")
    return made


@pytest.fixture()
def roomy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget no read here reaches on a loaded 2-core machine: "without a pass" must
    not depend on the host's scheduling."""
    monkeypatch.setattr(pgnearwait, "BUDGET", 0.5)


def _near(engine: AsyncEngine) -> NearWaits:
    near = pgnearwait.for_engine(engine)
    assert near is not None
    return near


def test_plain_reads_answer_without_a_loop_pass(url: str, roomy: None) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    near = _near(engine)
    assert near.local  # the suite's server listens on a unix socket

    async def read(statement: str) -> list[Any]:
        async with sessions() as session:
            return list((await session.execute(text(statement))).all())

    async def readat_once(statement: str) -> list[Any]:
        # the session's end is awaited: SQLAlchemy closes it in a task of its own
        async with sessions() as session:
            return list(at_once(session.execute(text(statement))).all())

    async def run() -> None:
        # the first checkout connects (awaited); later ones find it pooled
        assert await read("SELECT v FROM t WHERE id = 1") == [(10,)]
        before = near.on_loop
        assert await readat_once("SELECT v FROM t WHERE id = 1") == [(10,)]
        # ~2.4 MB: many reads of the socket, all on the loop
        big = await readat_once("SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g")
        assert len(big) == 20000 and big[-1] == (20000, "x" * 100)
        assert near.on_loop == before + 2
        # a write session: its reads before the write wait on the loop, the write and
        # the reads of its transaction are awaited, and it commits as one
        async with sessions() as session:
            await session.execute(text("SELECT count(*) FROM t"))
            counted = near.on_loop
            await session.execute(text("INSERT INTO t VALUES (2, 20)"))
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 2
            assert near.on_loop == counted
            await session.commit()
        assert await readat_once("SELECT count(*) FROM t") == [(2,)]
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM t WHERE id = 2"))
        # a statement's error is raised from the loop as from an awaited read
        with pytest.raises(Exception, match="division by zero"):
            await readat_once("SELECT 1 / (v - 10) FROM t WHERE id = 1")
        assert await readat_once("SELECT v FROM t WHERE id = 1") == [(10,)]
        await engine.dispose()

    asyncio.run(run())


def test_a_held_up_read_goes_on_awaited_and_the_loop_serves_meanwhile(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    near = _near(engine)
    sync_url = url.replace("postgresql+psycopg", "postgresql")

    async def run() -> None:
        async with sessions() as session:  # connect first: only the read is timed
            await session.execute(text("SELECT 1"))
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.002)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        locker = await psycopg.AsyncConnection.connect(sync_url)
        await locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")

        async def release() -> None:
            await asyncio.sleep(0.3)
            await locker.commit()

        overruns, stalls = near.overruns, near.stalls
        monkeypatch.setattr(pgnearwait, "BACKOFF", 10.0)  # still backing off below
        ticking = asyncio.create_task(ticker())
        releasing = asyncio.create_task(release())
        await asyncio.sleep(0.01)
        started = time.monotonic()
        async with sessions() as session:
            value = (await session.execute(text("SELECT v FROM t WHERE id = 1"))).scalar()
        waited = time.monotonic() - started
        await releasing
        ticking.cancel()
        await locker.close()
        assert value == 10
        assert waited >= 0.25  # it did wait for the lock
        assert near.stalls == stalls + 1 and near.overruns >= overruns + 1
        # the loop stood still for the budget at most, and served the ticker meanwhile
        assert len(gaps) > 30
        assert max(gaps) < pgnearwait.BUDGET + 0.05, max(gaps)
        # backing off: the next read is awaited, and after the back-off on the loop
        assert near.budget() == 0
        near._not_before = time.monotonic() - 1
        assert near.budget() == pgnearwait.BUDGET
        # a long answer (rows of 10 KB, one every 10 ms: each flushed as it comes)
        # outlasts the budget too, but it is answering: no back-off
        monkeypatch.setattr(pgnearwait, "BUDGET", 0.05)
        overruns = near.overruns
        async with sessions() as session:
            rows = (await session.execute(text(
                "SELECT repeat('x', 10000), pg_sleep(0.01) FROM generate_series(1, 15)"
            ))).all()
        assert len(rows) == 15
        assert near.overruns == overruns + 1 and near.stalls == stalls + 1
        assert near.budget() == pgnearwait.BUDGET
        monkeypatch.setattr(pgnearwait, "BUDGET", 0.5)
        assert await _read_v(sessions, without_pass=True) == 10
        await engine.dispose()

    asyncio.run(run())


async def _read_v(sessions: Any, without_pass: bool = False) -> Any:
    async with sessions() as session:
        statement = session.execute(text("SELECT v FROM t WHERE id = 1"))
        return (at_once(statement) if without_pass else await statement).scalar()


async def _passes(sessions: Any) -> int:
    """The loop passes other tasks got while a session's read ran."""
    async with spinner() as passes, sessions() as session:
        first = passes()
        assert (await session.execute(text("SELECT v FROM t WHERE id = 1"))).scalar() == 10
        return passes() - first


def test_modes_and_distance(url: str, roomy: None) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    near = _near(engine)

    async def run() -> None:
        assert await _read_v(sessions) == 10
        near.mode = "off"
        before = near.on_loop
        assert await _passes(sessions) >= 1  # awaited: the loop ran other tasks
        assert await _read_v(sessions) == 10  # the same answer
        assert near.on_loop == before
        near.mode = "auto"
        assert await _passes(sessions) == 0
        near.mode = "auto"
        assert await _read_v(sessions, without_pass=True) == 10
        await engine.dispose()

    asyncio.run(run())
    far = NearWaits(local=False)
    assert far.budget() == 0  # auto: a server across a network is awaited
    far.mode = "on"
    assert far.budget() == pgnearwait.BUDGET
