"""A stop that cancels tasks queued at the SQLite write gate (``cloudctl.db.writegate``).

The hang this guards against (a worker of ``cloudctl up`` that never exited after
SIGTERM): at shutdown the task holding the gate is cancelled inside its rollback, and
its connection's invalidation gives the gate back at once, in the same pass of the event
loop in which a waiting task is cancelled. The release dropped the cancelled waiter from
the queue before that task resumed; the task then tried to remove it again and raised
``ValueError`` instead of ``CancelledError``. A controller loop takes any ``Exception``
as a failed pass and carries on, so the cancellation was lost and the stop awaited that
task for ever (the loop idle, every thread idle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import text

from cloudctl.core.reconcile import Reconciler
from cloudctl.db.engine import create_engine
from cloudctl.db.writegate import WriteGate, gate_for


async def test_a_waiter_cancelled_and_dropped_by_a_release_stays_cancelled(
        tmp_path: Path) -> None:
    gate = WriteGate(str(tmp_path / "db-writer.lock"))
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)  # queued behind the holder
    waiter.cancel()
    gate.release()  # the holder gives the gate back before the waiter resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not gate.held  # nobody holds it: the next writer gets it at once
    await asyncio.wait_for(gate.acquire(), 1)
    gate.release()


class Writer(Reconciler):
    """A controller whose resync writes (as the services' resyncs do)."""

    name = "writer"

    def __init__(self, engine: object) -> None:
        super().__init__()
        self.engine = engine
        self.writes = 0

    async def list_keys(self) -> Iterable[str]:
        async with self.engine.begin() as conn:  # type: ignore[attr-defined]
            await conn.execute(text("INSERT INTO marks (n) VALUES (1)"))
        self.writes += 1
        return []

    async def sync(self, key: str) -> None:
        return None

    def interval(self) -> float:
        return 3600.0


async def test_a_controller_cancelled_at_the_gate_stops(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
        gate = gate_for(engine)
        assert gate is not None
        await gate.acquire()  # another task's write transaction holds the gate
        controller = Writer(engine)
        task = asyncio.create_task(controller.run())
        await asyncio.sleep(0.2)
        assert controller.writes == 0 and not task.done()  # its write waits at the gate
        task.cancel()  # the stop cancels the controller...
        gate.release()  # ...and the holder's rollback, cancelled too, gives the gate back
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done, "the controller swallowed its cancellation and kept running"
        assert task.cancelled()
        assert controller.writes == 0
    finally:
        await engine.dispose()
