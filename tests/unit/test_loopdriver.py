"""The SQLite driver that runs the ORM's statements on the event loop (``loopdriver``).

On a real database file through the cloud's engine: statements run on the loop's
thread (no aiosqlite thread); a database locked by a writer outside the process is
waited for with the loop free meanwhile and the write lands once it is released; the
loop's connections never checkpoint, yet the WAL stays bounded because the process
checkpoints on a thread every ``CHECKPOINT_EVERY`` commits; ``CLOUDCTL_SQLITE_ON_LOOP=0``
gives aiosqlite's threads back.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from cloudctl.db import loopdriver
from cloudctl.db.engine import LOOP_DRIVER_ENV, create_engine, session_factory


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"


async def _prepare(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    await engine.dispose()


def test_statements_run_on_the_loops_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        url = _url(tmp_path)
        await _prepare(url)
        engine = create_engine(url)
        seen: list[str] = []
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert isinstance(raw.driver_connection, loopdriver.LoopConnection)
                raw.driver_connection._conn.create_function(
                    "whose", 0, lambda: seen.append(threading.current_thread().name) or 1)
                await conn.execute(text("SELECT whose()"))
            async with session_factory(engine)() as session, session.begin():
                await session.execute(text("INSERT INTO t (body) VALUES ('x')"))
            async with session_factory(engine)() as session:
                assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        finally:
            await engine.dispose()
        assert seen == [threading.current_thread().name]

    asyncio.run(scenario())


def test_a_locked_database_is_waited_for_with_the_loop_free(tmp_path: Path) -> None:
    url = _url(tmp_path)
    asyncio.run(_prepare(url))
    outside = sqlite3.connect(tmp_path / "cloud.db", isolation_level=None,
                              check_same_thread=False)
    outside.execute("BEGIN IMMEDIATE")  # a writer outside the gate: a cloudctl command
    outside.execute("INSERT INTO t (body) VALUES ('outside')")

    async def scenario() -> tuple[int, float]:
        engine = create_engine(url)
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        def release() -> None:
            time.sleep(0.5)
            outside.execute("COMMIT")

        try:
            tick = asyncio.create_task(ticker())
            releasing = asyncio.get_running_loop().run_in_executor(None, release)
            started = time.monotonic()
            async with session_factory(engine)() as session, session.begin():
                await session.execute(text("INSERT INTO t (body) VALUES ('inside')"))
            waited = time.monotonic() - started
            done.set()
            await tick
            await releasing
            async with session_factory(engine)() as session:
                bodies = sorted((await session.execute(text("SELECT body FROM t"))).scalars())
            assert bodies == ["inside", "outside"]
            return ticks, waited
        finally:
            await engine.dispose()

    try:
        ticks, waited = asyncio.run(scenario())
    finally:
        outside.close()
    assert waited >= 0.4, waited  # it waited for the outside writer ...
    assert ticks >= 20, ticks  # ... and the loop kept running meanwhile


def test_the_wal_stays_bounded_by_the_process_checkpoints(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopdriver, "CHECKPOINT_EVERY", 50)
    url = _url(tmp_path)
    asyncio.run(_prepare(url))
    body = "x" * 8000  # two pages a row

    async def scenario() -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        try:
            for _ in range(1500):  # a steady stream of commits, no pause
                async with sessions() as session, session.begin():
                    await session.execute(text("INSERT INTO t (body) VALUES (:b)"), {"b": body})
        finally:
            await engine.dispose()

    asyncio.run(scenario())
    wal = tmp_path / "cloud.db-wal"
    # without the checkpoints 1,500 commits of two pages each leave a WAL of >= 12 MiB
    assert not wal.exists() or wal.stat().st_size < 4 * 2**20, wal.stat().st_size


def test_aiosqlite_threads_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_DRIVER_ENV, "0")

    async def scenario() -> None:
        url = _url(tmp_path)
        await _prepare(url)
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert not isinstance(raw.driver_connection, loopdriver.LoopConnection)
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_uri_database_is_opened_as_a_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """``file:...?uri=true`` names the file after ``file:`` (aiosqlite opens it as a URI);
    the loop driver takes plain paths only, or it would make a file named ``file:...``."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "by-uri.db"

    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///file:{path}?uri=true")
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO t (id) VALUES (7)"))
        finally:
            await engine.dispose()

    asyncio.run(scenario())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id FROM t").fetchall() == [(7,)]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("file:")]
