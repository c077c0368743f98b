"""``cloudctl/db/pgwriters.py``: PostgreSQL's write transactions take turns per process.

The slots alone (:class:`WriteSlots`): first come, first served; a writer that waited
``WAIT_LIMIT`` goes without one; resizing hands slots to waiters or takes them back;
a waiter cancelled after it was handed a slot passes it on.

On a real PostgreSQL through ``create_engine``: no more write transactions at once
than slots (and all of them at once with the limit off), reads never wait, a slot is
given back at COMMIT, ROLLBACK and a failed statement; a task that holds a slot and
writes in a second session rides on it; a task that holds one while it awaits another
task's write costs that task ``WAIT_LIMIT``, not a hang; autocommit statements take none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloudctl.db import pgwriters
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.pgwriters import WriteSlots

# ---------------------------------------------------------------- the slots alone


def test_waiters_are_served_in_arrival_order() -> None:
    async def run() -> list[int]:
        slots = WriteSlots(1)
        assert await slots.acquire()
        order: list[int] = []

        async def writer(n: int) -> None:
            assert await slots.acquire()
            order.append(n)
            await asyncio.sleep(0)
            slots.release()

        tasks = [asyncio.create_task(writer(n)) for n in range(5)]
        await asyncio.sleep(0.01)
        assert order == []  # all wait for the one slot
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.free == 1
        return order

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_a_writer_goes_without_a_slot_after_the_wait_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgwriters, "WAIT_LIMIT", 0.05)

    async def run() -> None:
        slots = WriteSlots(1)
        assert await slots.acquire()
        started = time.monotonic()
        assert await slots.acquire() is False
        assert 0.04 <= time.monotonic() - started < 1.0
        assert slots.overdue == 1 and not slots.waiters
        slots.release()
        assert slots.free == 1  # the overdue writer took nothing to give back

    asyncio.run(run())


def test_resizing_hands_slots_to_waiters_and_takes_them_back() -> None:
    async def run() -> None:
        slots = WriteSlots(1)
        assert await slots.acquire()
        waiting = [asyncio.create_task(slots.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        slots.resize(3)  # two more slots: two waiters go
        await asyncio.sleep(0)
        assert [t.done() for t in waiting] == [True, True, False]
        slots.resize(1)  # three held, one slot: two releases give nothing on
        slots.release()
        slots.release()
        await asyncio.sleep(0)
        assert not waiting[2].done()
        slots.release()  # now one of one: handed to the last waiter
        await asyncio.sleep(0)
        assert waiting[2].done() and await waiting[2] is True
        slots.release()
        assert slots.free == 1

    asyncio.run(run())


def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    async def run() -> None:
        slots = WriteSlots(1)
        assert await slots.acquire()
        first = asyncio.create_task(slots.acquire())
        second = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        slots.release()  # handed to ``first``, which is cancelled before it runs
        first.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert first.cancelled()
        assert second.done() and await second is True
        third = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        third.cancel()  # cancelled while queued: leaves the queue
        await asyncio.sleep(0)
        assert not slots.waiters
        slots.release()
        assert slots.free == 1

    asyncio.run(run())


# ---------------------------------------------------------------- on PostgreSQL


@pytest.fixture(scope="module")
def pg_url(pg_server: Any) -> str:
    url = str(pg_server.create_database("pgwriters_unit"))
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS w (id int PRIMARY KEY, v int)")
    return url


Body = Callable[[AsyncEngine, async_sessionmaker[AsyncSession]], Awaitable[Any]]


def _on_engine(url: str, body: Body, slots: int = 1) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        writers = pgwriters.writers_for(engine)
        assert writers is not None
        writers.resize(slots)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM w"))
            return await body(engine, session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


class _Open:
    """Counts the write transactions open at once. A writer stays in its transaction
    until ``target`` are open or every writer has been in (at most 2 s), so that a
    fast writer's commit cannot hide the overlap the slots allow; then 20 ms more."""

    def __init__(self, writers: int, target: int) -> None:
        self.writers = writers
        self.target = target
        self.now = 0
        self.most = 0
        self.entered = 0
        self.changed = asyncio.Condition()

    async def writer(self, sessions: async_sessionmaker[AsyncSession], key: int) -> None:
        async with sessions() as session:
            await session.execute(text("SELECT v FROM w WHERE id = :k"), {"k": key})
            await session.execute(text("INSERT INTO w VALUES (:k, 0)"), {"k": key})
            async with self.changed:
                self.now += 1
                self.entered += 1
                self.most = max(self.most, self.now)
                self.changed.notify_all()
                await asyncio.wait_for(self.changed.wait_for(
                    lambda: self.now >= self.target or self.entered == self.writers), 2)
            await asyncio.sleep(0.02)  # inside the transaction
            self.now -= 1
            await session.commit()


@pytest.mark.parametrize("slots, most", [(1, 1), (3, 3), (0, 8)])
def test_no_more_write_transactions_at_once_than_slots(pg_url: str, slots: int,
                                                       most: int) -> None:
    async def body(_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> int:
        count = _Open(8, slots or 8)
        await asyncio.gather(*(count.writer(sessions, k) for k in range(8)))
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM w"))).scalar() == 8
        return count.most

    assert _on_engine(pg_url, body, slots=slots) == most


def test_reads_do_not_wait_for_a_write_slot(pg_url: str) -> None:
    async def body(_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        holding = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO w VALUES (1, 1)"))
                holding.set()
                await release.wait()
                await session.commit()

        async def second_writer() -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO w VALUES (2, 2)"))
                await session.commit()

        first = asyncio.create_task(holder())
        await holding.wait()
        waiting = asyncio.create_task(second_writer())
        async with sessions() as session:  # a reader: served while the writer waits
            rows = await asyncio.wait_for(
                session.execute(text("SELECT count(*) FROM w")), 0.5)
            assert rows.scalar() == 0  # the holder's row is not committed yet
            # a locking read and an advisory lock take no slot either (as at SQLite's gate)
            await asyncio.wait_for(session.execute(
                text("SELECT v FROM w WHERE id = 99 FOR UPDATE")), 0.5)
            await asyncio.wait_for(session.execute(
                text("SELECT pg_advisory_xact_lock(4242)")), 0.5)
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the second writer waits for the slot
        release.set()
        await asyncio.wait_for(asyncio.gather(first, waiting), 0.5)  # handed at COMMIT

    _on_engine(pg_url, body)


def test_rollback_and_a_failed_statement_give_the_slot_back(pg_url: str) -> None:
    async def body(_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            await session.execute(text("INSERT INTO w VALUES (1, 1)"))
            await session.rollback()
        with pytest.raises(IntegrityError):
            async with sessions() as session:
                await session.execute(text("INSERT INTO w VALUES (5, 1)"))
                await session.execute(text("INSERT INTO w VALUES (5, 2)"))  # duplicate key
        started = time.monotonic()
        async with sessions() as session:
            await session.execute(text("INSERT INTO w VALUES (2, 2)"))
            await session.commit()
        assert time.monotonic() - started < 0.5  # no slot was left held

    _on_engine(pg_url, body)


def test_a_task_writing_in_a_second_session_rides_on_its_slot(pg_url: str) -> None:
    async def body(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        started = time.monotonic()
        async with sessions() as outer:
            await outer.execute(text("INSERT INTO w VALUES (1, 1)"))
            async with sessions() as inner:
                await inner.execute(text("INSERT INTO w VALUES (2, 2)"))
                await inner.commit()
            await outer.commit()
        assert time.monotonic() - started < 0.5
        writers = pgwriters.writers_for(engine)
        assert writers is not None
        here = writers.here()
        assert here.overdue == 0 and here.free == 1 and not here.holders

    _on_engine(pg_url, body)


def test_a_holder_awaiting_another_tasks_write_costs_the_wait_limit(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgwriters, "WAIT_LIMIT", 0.2)

    async def body(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> float:
        async def other() -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO w VALUES (2, 2)"))
                await session.commit()

        started = time.monotonic()
        async with sessions() as session:
            await session.execute(text("INSERT INTO w VALUES (1, 1)"))
            await asyncio.wait_for(asyncio.create_task(other()), 3)
            await session.commit()
        writers = pgwriters.writers_for(engine)
        assert writers is not None
        assert writers.here().overdue == 1
        return time.monotonic() - started

    assert 0.15 < _on_engine(pg_url, body) < 2.0


def test_autocommit_statements_take_no_slot(pg_url: str) -> None:
    async def body(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            await session.execute(text("INSERT INTO w VALUES (1, 1)"))  # holds the slot

            async def autocommit() -> None:
                async with engine.connect() as conn:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("INSERT INTO w VALUES (2, 2)"))

            await asyncio.wait_for(asyncio.create_task(autocommit()), 0.5)
            await session.commit()

    _on_engine(pg_url, body)


def test_the_property_bounds_the_slots() -> None:
    from cloudctl.properties.registry import PropertyError

    assert pgwriters.WRITE_SLOTS.parse("0") == 0  # no limit
    assert pgwriters.WRITE_SLOTS.parse(pgwriters.WRITE_SLOTS.default) == 1
    for bad in ("-1", "65", "many"):
        with pytest.raises(PropertyError):
            pgwriters.WRITE_SLOTS.parse(bad)
