"""PostgreSQL's write transactions take turns in each process, as SQLite's do.

Under the 64-client mix (bench/load.py) a PostgreSQL worker ran every request's
statements at once: each of its ~32 requests awaited a round trip at every statement,
so every loop pass ran a step of nearly all of them. A pass took 2-7 ms (p50; 9-12 ms
for the median instant, against ~2.4 ms on SQLite), and everything a request does
waits for passes: a GET whose reads take no round trip (``pginline``) still waited
~3.7 passes, 28 ms at p50 against SQLite's 5 (bench/results/load.md, session 17). On
SQLite the writers wait for the write gate (``writegate.py``) as parked coroutines,
so a pass runs the readers and the one writer.

Here a write transaction waits for one of a few slots per process and event loop
(:class:`WriteSlots`; ``db.postgres_write_slots``, default 1; 0 turns it off): taken
just before its first INSERT, UPDATE or DELETE (where SQLite's write gate is taken, by
the same rule, ``writegate.is_write``: code that is safe at SQLite's one gate is safe
here), given back at its COMMIT or ROLLBACK (or when the connection returns to the
pool, is invalidated or closed, whichever comes first). Waiters go in arrival order.
Reads never wait: the reads before a session's first write, ``SELECT ... FOR UPDATE``
and advisory locks included, run before it takes a slot.
PostgreSQL needs no such turn for correctness: the slots only keep the requests of one
process from competing for its loop while they write.

Cannot deadlock, and never waits long:

- a task that holds a slot and opens a second write transaction (another session)
  rides on its slot, waiting for none;
- a writer that waited ``WAIT_LIMIT`` seconds goes without a slot (counted in
  ``overdue``, logged at most once a minute): a task that holds a slot while it awaits
  another task's write, or every pooled connection held by waiters while the holder
  needs one more, costs that wait, once, not a hang;
- a connection in autocommit (its statements are their own transactions) never takes one.

On every statement of the engine's connections (SQLAlchemy's engine events: the ORM's
and ``exec_driver_sql``'s alike, CloudFormation's ``rawrows`` included). The inline
reads (``pginline``) run on connections of their own and never take one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from cloudctl.db import writegate
from cloudctl.properties.registry import PropertyDef, PropertyType, registry

log = logging.getLogger(__name__)

WRITE_SLOTS = registry.define(PropertyDef(
    "db.postgres_write_slots", PropertyType.INTEGER, "1",
    "PostgreSQL: write transactions one API process runs at once (more wait their turn, "
    "in arrival order, from their first write to their commit); 0: no limit. Reads never "
    "wait. See cloudctl/db/pgwriters.py.",
    minimum=0, maximum=64,
))

WAIT_LIMIT = 1.0  # seconds a writer waits for a slot before it goes without one
LOG_EVERY = 60.0  # seconds between two logs of writers gone without a slot
_HELD = "cloudctl.pg_write_slot"


class WriteSlots:
    """The write slots of one event loop: a first-come, first-served counter."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.free = slots
        self.waiters: deque[asyncio.Future[bool]] = deque()
        self.holders: dict[asyncio.Task[Any], int] = {}  # slots held, by task
        self.overdue = 0  # writers that went without a slot after WAIT_LIMIT
        self._logged = 0.0

    def holds(self, task: asyncio.Task[Any] | None) -> bool:
        return task is not None and self.holders.get(task, 0) > 0

    async def acquire(self) -> bool:
        """Wait for a slot: True once one is held, False when gone without one
        (``WAIT_LIMIT`` passed)."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self.waiters.append(waiter)
        timer = loop.call_later(WAIT_LIMIT, self._overdue, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()  # handed a slot as it was cancelled: pass it on
            else:
                self._forget(waiter)
            raise
        finally:
            timer.cancel()

    def release(self) -> None:
        if self.free < 0:  # fewer slots than before: this one goes
            self.free += 1
            return
        if not self._hand_over():
            self.free += 1

    def resize(self, slots: int) -> None:
        self.free += slots - self.slots
        self.slots = slots
        while self.free > 0 and self._hand_over():
            self.free -= 1

    def _hand_over(self) -> bool:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return True
        return False

    def _forget(self, waiter: asyncio.Future[bool]) -> None:
        try:
            self.waiters.remove(waiter)
        except ValueError:
            pass

    def _overdue(self, waiter: asyncio.Future[bool]) -> None:
        if waiter.done():
            return
        self._forget(waiter)
        waiter.set_result(False)
        self.overdue += 1
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY:
            self._logged = now
            log.warning("a write transaction waited %.1f s for one of %d PostgreSQL write "
                        "slots and went without one (%d so far; db.postgres_write_slots)",
                        WAIT_LIMIT, self.slots, self.overdue)


class PgWriters:
    """An engine's write slots: one :class:`WriteSlots` per event loop, one size."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteSlots] = \
            weakref.WeakKeyDictionary()

    def here(self) -> WriteSlots:
        loop = asyncio.get_running_loop()
        slots = self._loops.get(loop)
        if slots is None:
            slots = self._loops[loop] = WriteSlots(self.slots)
        return slots

    def resize(self, slots: int) -> None:
        self.slots = slots
        for each in list(self._loops.values()):
            each.resize(slots)


_ENGINES: weakref.WeakKeyDictionary[Engine, PgWriters] = weakref.WeakKeyDictionary()


def writers_for(engine: AsyncEngine | Engine) -> PgWriters | None:
    """The write slots of ``engine`` (None: not a PostgreSQL engine of ``create_engine``)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    return _ENGINES.get(sync)


def _autocommit(conn: Any) -> bool:
    driver = getattr(conn.connection, "driver_connection", None)
    return bool(getattr(driver, "autocommit", False))


def install(engine: AsyncEngine, slots: int = int(WRITE_SLOTS.default), *,
            shared: PgWriters | None = None) -> PgWriters:
    """Give ``engine``'s (PostgreSQL) write transactions turns; see the module.
    ``shared``: another engine's slots, which this one's writers take turns at too (the
    read operations' engine of ``cloudctl.db.readpool``)."""
    sync = engine.sync_engine
    writers = _ENGINES[sync] = shared if shared is not None else PgWriters(slots)

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
                _many: bool) -> None:
        if writers.slots <= 0:
            return
        info = conn.connection.info
        if _HELD in info or not writegate.is_write(statement, context) or _autocommit(conn):
            return
        here = writers.here()
        task = asyncio.current_task()
        if here.holds(task):
            info[_HELD] = (here, task, False)  # rides on the task's slot
            return
        slot = await_only(here.acquire())  # False: went without one (WAIT_LIMIT)
        if slot and task is not None:
            here.holders[task] = here.holders.get(task, 0) + 1
        info[_HELD] = (here, task, slot)

    def _give_back(info: dict[str, Any]) -> None:
        held = info.pop(_HELD, None)
        if held is None or not held[2]:
            return
        here, task, _ = held
        if task is not None:
            left = here.holders.get(task, 0) - 1
            if left > 0:
                here.holders[task] = left
            else:
                here.holders.pop(task, None)
        here.release()

    def _transaction_ended(conn: Any) -> None:
        _give_back(conn.connection.info)

    def _connection_returned(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        if record is not None:
            _give_back(record.info)

    for name in ("commit", "rollback"):
        event.listen(sync, name, _transaction_ended)
    for name in ("checkin", "invalidate", "close"):  # whichever comes first
        event.listen(sync.pool, name, _connection_returned)
    return writers
