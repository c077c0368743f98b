"""The SQLite write gate is fair between the API processes of one cloud.

Two engines on one database file stand for two worker processes (each has its own
write gate, so its own open file and ``flock`` on the lock, as a forked worker does).
Process A holds the lock with writers queued behind it in-process; process B's writer
asks while A holds it, before A's queued writers, so B must be next when A's holder
commits: B waits in the turnstile in front of the lock, and A's next writers queue
behind it in the kernel. Before the turnstile, an A writer could take the lock again
the moment the previous one gave it back (a non-blocking ``flock`` on A's event loop
beat B's thread, woken by the kernel but not yet run), so B could wait behind any
number of later arrivals of A (on main: behind 2 to 17 of the 16 in most runs).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudctl.db.engine import create_engine
from cloudctl.db.writegate import gate_for

QUEUED = 16  # A's writers queued in-process behind its holder


async def _write(engine: AsyncEngine, who: str, hold: asyncio.Event | None = None) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO marks (who, asked) VALUES (:w, :a)"),
                           {"w": who, "a": time.monotonic()})
        if hold is not None:
            await hold.wait()


async def _round(a: AsyncEngine, b: AsyncEngine) -> list[str]:
    """One round: the order (by who) in which the writers got the lock."""
    async with a.begin() as conn:
        await conn.execute(text("DELETE FROM marks"))
    release = asyncio.Event()
    holder = asyncio.create_task(_write(a, "a-holder", release))
    gate = gate_for(a)
    while gate is None or not gate.held:  # the holder's INSERT ran: it has the lock
        await asyncio.sleep(0.005)
    other = asyncio.create_task(_write(b, "b"))
    assert gate is not None
    await _queued_in_kernel(gate.queue_path)  # B's gate thread waits in the turnstile
    await asyncio.sleep(0.1)
    queued = [asyncio.create_task(_write(a, f"a{n}")) for n in range(QUEUED)]
    await asyncio.sleep(0.05)  # A's writers wait at A's gate, behind the holder
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, other, *queued), 30)
    async with a.connect() as conn:
        rows = await conn.execute(text("SELECT who FROM marks ORDER BY id"))
        return [str(r[0]) for r in rows]


async def _queued_in_kernel(turnstile: str) -> None:
    """Until another open file holds the turnstile (a process waits for the lock)."""
    fd = os.open(turnstile, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            fcntl.flock(fd, fcntl.LOCK_UN)
            await asyncio.sleep(0.005)
    finally:
        os.close(fd)


async def test_a_waiting_process_goes_before_the_holders_later_writers(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    a, b = create_engine(url), create_engine(url)
    try:
        async with a.begin() as conn:
            await conn.execute(text(
                "CREATE TABLE marks (id INTEGER PRIMARY KEY, who TEXT, asked REAL)"))
        for _ in range(10):
            order = await _round(a, b)
            assert len(order) == QUEUED + 2 and order[0] == "a-holder", order
            # B asked before every queued writer of A: next
            assert order.index("b") == 1, order
    finally:
        await a.dispose()
        await b.dispose()
