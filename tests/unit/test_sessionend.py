"""``cloudctl/db/sessionend.py``: a session's end takes no loop pass when it need not.

Counted with a task that spins on ``asyncio.sleep(0)``: the passes other tasks get
while a session ends. SQLAlchemy's own end took 3 for a read session and 6 for a
``sessions.begin()`` block; here a read session's end (SQLite on the loop, PostgreSQL's
reads before any BEGIN) and a SQLite write block's take none, and a PostgreSQL write
block's commit, which waits for its round trip, still commits. An end that suspends
runs to completion whatever happens to the caller: cancelled meanwhile, the caller is
told once the end is done; errors before and after a suspension reach the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.sessionend import CloudSession, run_to_completion
from tests.unit.loop_probes import spinner


async def _end_passes(sessions: async_sessionmaker[Any], write: bool) -> int:
    """The passes a session's end took: those of the whole block minus its body's."""
    async with spinner() as passes:
        before = passes()
        if write:
            async with sessions.begin() as session:
                await session.execute(text("UPDATE t SET v = v + 1 WHERE id = 1"))
                body = passes() - before
        else:
            async with sessions() as session:
                await session.execute(text("SELECT v FROM t WHERE id = 1"))
                body = passes() - before
        return passes() - before - body


async def _setup(engine: AsyncEngine) -> async_sessionmaker[Any]:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, v int)"))
        await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
    sessions = session_factory(engine)
    assert sessions.class_ is CloudSession
    return sessions


async def _value(sessions: async_sessionmaker[Any]) -> int:
    async with sessions() as session:
        return int((await session.execute(text("SELECT v FROM t WHERE id = 1"))).scalar_one())


def test_sqlite_sessions_end_without_a_pass(tmp_path: Path) -> None:
    async def run() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'end.db'}")
        sessions = await _setup(engine)
        for _ in range(3):
            assert await _end_passes(sessions, write=False) == 0
            assert await _end_passes(sessions, write=True) == 0
        assert await _value(sessions) == 3  # every write block committed
        # a block that fails rolls back, and its error reaches the caller
        with pytest.raises(RuntimeError, match="boom"):
            async with sessions.begin() as session:
                await session.execute(text("UPDATE t SET v = 100 WHERE id = 1"))
                raise RuntimeError("boom")
        assert await _value(sessions) == 3
        await engine.dispose()

    asyncio.run(run())


def test_postgres_reads_end_without_a_pass_and_writes_commit(pg_server: Any) -> None:
    async def run() -> None:
        engine = create_engine(pg_server.create_database("sessionend_unit"))
        sessions = await _setup(engine)
        await _value(sessions)  # the pool holds a connection: no connect below
        for _ in range(3):
            assert await _end_passes(sessions, write=False) == 0
            await _end_passes(sessions, write=True)  # its COMMIT is a round trip
        assert await _value(sessions) == 3
        # a caller cancelled while its commit is in flight: the commit completes
        ending = asyncio.Event()

        async def writer() -> None:
            async with sessions.begin() as session:
                await session.execute(text("UPDATE t SET v = 50 WHERE id = 1"))
                ending.set()

        task = asyncio.create_task(writer())
        await ending.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _value(sessions) == 50
        await engine.dispose()

    asyncio.run(run())


def test_an_end_runs_to_completion_and_raises_what_it_raised() -> None:
    async def run() -> None:
        steps: list[str] = []

        async def at_once() -> int:
            steps.append("at once")
            return 1

        async def suspends(error: Exception | None = None) -> int:
            steps.append("start")
            await asyncio.sleep(0)  # a bare yield
            await asyncio.sleep(0.05)  # a future
            steps.append("end")
            if error is not None:
                raise error
            return 2

        async def fails_at_once() -> int:
            raise ValueError("at once")

        async with spinner() as passes:
            before = passes()
            assert await run_to_completion(at_once()) == 1
            assert passes() == before  # no task, no pass
        assert await run_to_completion(suspends()) == 2
        with pytest.raises(ValueError, match="at once"):
            await run_to_completion(fails_at_once())
        with pytest.raises(KeyError):
            await run_to_completion(suspends(KeyError("later")))
        # cancelled while the end is suspended: the end completes, then the caller
        # is cancelled
        steps.clear()
        caller = asyncio.create_task(run_to_completion(suspends()))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert steps == ["start", "end"]

        # what the awaited future raises reaches the coroutine where it waits
        async def catches(fut: Awaitable[None]) -> str:
            try:
                await fut
            except LookupError as exc:
                return f"caught {exc}"
            return "not raised"

        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_exception, LookupError("x"))
        assert await run_to_completion(catches(fut)) == "caught x"

    asyncio.run(run())
