"""SQLite write transactions on the event loop while they hold the gate (``cloudctl.db.inline``).

A statement reports the thread that ran it (a SQL function); a write transaction's
statements and commit must run on the loop's thread, reads outside one on
aiosqlite's thread; a writer outside the gate holding SQLite's lock must make the
write wait on the thread, never block the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudctl.db.engine import create_engine
from cloudctl.db.inline import CHECKPOINT_EVERY
from cloudctl.db.writegate import gate_for


async def _engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}")

    @event.listens_for(engine.sync_engine, "connect")
    def _thread_function(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("thread_id", 0, threading.get_ident)

    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE marks (n INTEGER, thread INTEGER)"))
    return engine


async def test_a_write_transaction_runs_on_the_loop_and_reads_on_the_thread(
        tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    loop_thread = threading.get_ident()
    try:
        async with engine.connect() as conn:
            read = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
            assert read != loop_thread  # a read outside a write transaction: the thread
            await conn.execute(text("INSERT INTO marks VALUES (1, thread_id())"))
            after = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
            await conn.commit()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT n, thread FROM marks"))).all()
            again = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
        assert rows == [(1, loop_thread)]  # the write ran on the loop
        assert after == loop_thread  # and the rest of its transaction
        assert again != loop_thread  # the gate given back: the thread again
        gate = gate_for(engine)
        assert gate is not None and not gate.held
    finally:
        await engine.dispose()


async def test_a_writer_outside_the_gate_makes_the_write_wait_off_the_loop(
        tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    outside = sqlite3.connect(tmp_path / "cloud.db", isolation_level=None)
    try:
        outside.execute("BEGIN IMMEDIATE")  # a maintenance tool holds SQLite's write lock
        outside.execute("INSERT INTO marks VALUES (7, 0)")
        ticks = 0

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO marks VALUES (2, thread_id())"))

        task = asyncio.create_task(write())
        for _ in range(30):  # the loop keeps running while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not task.done()
        outside.execute("COMMIT")
        await asyncio.wait_for(task, 10)
        assert ticks == 30
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT n FROM marks ORDER BY n"))).scalars().all()
        assert rows == [2, 7]
        # the connection went back to the loop for its next write transaction
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO marks VALUES (3, thread_id())"))
            mark = (await conn.execute(text("SELECT thread FROM marks WHERE n = 3"))).scalar_one()
        assert mark == threading.get_ident()
    finally:
        outside.close()
        await engine.dispose()


async def test_a_failing_statement_rolls_back_and_frees_the_gate(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO marks VALUES (1, 0)"))
            try:
                await conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
            except Exception as exc:
                assert "no_such_table" in str(exc)
            else:
                raise AssertionError("the bad statement did not fail")
            await conn.rollback()
        gate = gate_for(engine)
        assert gate is not None and not gate.held
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO marks VALUES (5, 0)"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT n FROM marks"))).scalars().all()
        assert rows == [5]
    finally:
        await engine.dispose()


async def test_the_wal_is_checkpointed_off_the_loop(tmp_path: Path) -> None:
    """Inline commits run no checkpoint; every CHECKPOINT_EVERY write transactions one runs
    on a connection's thread, so the WAL is reused instead of growing."""
    engine = await _engine(tmp_path)
    try:
        for n in range(3 * CHECKPOINT_EVERY):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO marks VALUES (:n, 0)"), {"n": n})
        async with engine.connect() as conn:  # a read: queued behind the last checkpoint
            await conn.execute(text("SELECT count(*) FROM marks"))
        wal = (tmp_path / "cloud.db-wal").stat().st_size
        assert wal < (CHECKPOINT_EVERY + 10) * 2 * 4096 + 32, wal  # frames of ~one interval
    finally:
        await engine.dispose()
