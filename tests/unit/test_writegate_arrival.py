"""Between processes, SQLite writers get the write lock in the order they arrived.

Two engines on one database file stand for two worker processes (each has its own write
gate: its own open files, so its own ``flock``, and its own slot on the arrival board).
Process A runs 12 writers in a closed loop, process B 3, each holding the lock for a
few milliseconds. In arrival order every writer waits about as long as any other, in
either process. Before the arrival board the processes took turns one transaction each
while both had writers waiting, so B's writers waited behind 2 others of B and A's
behind 11 of A: A's mean wait was ~3-4x B's (the p99 of the load bench came from there:
the kernel spreads the clients' connections unequally between the workers).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import cloudctl
from cloudctl.db.engine import create_engine
from cloudctl.db.writearrivals import ArrivalBoard
from cloudctl.db.writegate import gate_for

HOLD = 0.004  # seconds a writer holds the lock
RUN = 2.0  # seconds of the closed loop


async def _writer(engine: AsyncEngine, who: str, until: float, waits: list[float]) -> None:
    while time.monotonic() < until:
        async with engine.begin() as conn:
            asked = time.monotonic()
            await conn.execute(text("INSERT INTO marks (who) VALUES (:w)"), {"w": who})
            waits.append(time.monotonic() - asked)  # the INSERT took the gate
            await asyncio.sleep(HOLD)
        await asyncio.sleep(0)


async def test_writers_of_two_processes_wait_alike_however_many_each_has(
        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    a, b = create_engine(url), create_engine(url)
    try:
        async with a.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY, who TEXT)"))
        waits: dict[str, list[float]] = {"a": [], "b": []}
        until = time.monotonic() + RUN
        await asyncio.wait_for(asyncio.gather(
            *(_writer(a, "a", until, waits["a"]) for _ in range(12)),
            *(_writer(b, "b", until, waits["b"]) for _ in range(3))), RUN + 30)
        mean_a, mean_b = statistics.mean(waits["a"]), statistics.mean(waits["b"])
        # the lock served the writers in proportion to their number, not half each
        assert len(waits["a"]) > 2.5 * len(waits["b"]), (len(waits["a"]), len(waits["b"]))
        assert mean_a < 1.5 * mean_b and mean_b < 1.5 * mean_a, (mean_a, mean_b)
    finally:
        await a.dispose()
        await b.dispose()


def test_a_dead_or_stale_arrival_is_not_believed(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer.lock.arrivals")
    mine, other = ArrivalBoard(path), ArrivalBoard(path)
    now = time.monotonic_ns()
    other.publish(now - 10_000_000)  # a live process's writer, waiting 10 ms
    assert mine.older_elsewhere(now)
    assert not mine.older_elsewhere(now - 20_000_000)  # mine came first
    other.publish(now - 40 * 1_000_000_000)  # older than any writer waits: stale
    assert not mine.older_elsewhere(now)
    other.publish(now + 5 * 1_000_000_000)  # in the future: garbage
    assert not mine.older_elsewhere(now)
    other.publish(0)  # none waits
    assert not mine.older_elsewhere(now)

    # a process that died with a writer waiting for 2 s: its slot is cleared, then reused
    source = str(Path(cloudctl.__file__).parents[1])  # the cloudctl this test imports
    subprocess.run([sys.executable, "-c", (
        "import time; from cloudctl.db.writearrivals import ArrivalBoard; "
        f"ArrivalBoard({path!r}).publish(time.monotonic_ns() - 2_000_000_000); "
        "import os; os._exit(0)")], check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            [source, *filter(None, [os.environ.get("PYTHONPATH")])])))
    assert not mine.older_elsewhere(time.monotonic_ns())
    third = ArrivalBoard(path)
    third.publish(time.monotonic_ns() - 1_000_000)
    assert mine.older_elsewhere(time.monotonic_ns())


async def test_the_gates_publish_their_oldest_waiting_writer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    a, b = create_engine(url), create_engine(url)
    try:
        async with a.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY, who TEXT)"))
        gate_a, gate_b = gate_for(a), gate_for(b)
        assert gate_a is not None and gate_b is not None
        release = asyncio.Event()

        async def hold() -> None:
            async with a.begin() as conn:
                await conn.execute(text("INSERT INTO marks (who) VALUES ('a')"))
                await release.wait()

        holder = asyncio.create_task(hold())
        while not gate_a.held:
            await asyncio.sleep(0.002)
        asked = time.monotonic_ns()
        waiting = asyncio.create_task(hold())  # queued in A behind the holder
        await asyncio.sleep(0.02)
        assert gate_b.arrivals.older_elsewhere(time.monotonic_ns())
        assert not gate_b.arrivals.older_elsewhere(asked)
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, waiting), 10)
        assert not gate_b.arrivals.older_elsewhere(time.monotonic_ns())  # none waits
    finally:
        await a.dispose()
        await b.dispose()
