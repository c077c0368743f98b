"""One writer per process on SQLite: write transactions queue on the event loop.

SQLite has one write lock per database. Every aiosqlite connection is a thread; when
many transactions write at once, all but one thread sleep in SQLite's busy handler,
which polls in growing steps (up to 100 ms) and so keeps sleeping after the lock is
free: under 64 clients ~18 threads slept while ~3 ran, and write p99 reached seconds.

The gate is an ``asyncio.Lock`` per engine. A connection takes it just before its
first INSERT/UPDATE/DELETE (where Python's ``sqlite3`` opens the transaction, so the
transaction starts holding SQLite's write lock, as ``BEGIN IMMEDIATE`` would) and
gives it back when the connection returns to the pool, after its commit or rollback.
Waiting writers wait as coroutines, in arrival order, not as threads; reads never
take it (WAL readers do not block). Between the API processes of one cloud SQLite's
lock still arbitrates, so at most one thread per process waits in the busy handler.

Must not: be taken twice by one task (a second write transaction opened while the
first is uncommitted waits ``GATE_TIMEOUT`` and fails, as SQLite's busy timeout did).
PostgreSQL has no gate.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

GATE_TIMEOUT = 30.0  # seconds; SQLite's busy timeout, which this replaces in-process
_HELD = "cloudctl.write_gate"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")

_GATES: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


def gate_for(engine: AsyncEngine | Engine) -> asyncio.Lock | None:
    """The write gate of ``engine`` (None: not a gated SQLite engine)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    return _GATES.get(sync)


def _is_write(statement: str, context: Any) -> bool:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return statement.lstrip()[:6].upper() in _WRITES


async def _acquire(gate: asyncio.Lock) -> None:
    try:
        await asyncio.wait_for(gate.acquire(), GATE_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(f"no database write slot within {GATE_TIMEOUT:.0f}s") from None


def install(engine: AsyncEngine) -> asyncio.Lock:
    """Gate the write transactions of ``engine`` (a file-backed SQLite engine)."""
    sync = engine.sync_engine
    gate = asyncio.Lock()
    _GATES[sync] = gate

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
                _many: bool) -> None:
        info = conn.connection.info
        if info.get(_HELD) or not _is_write(statement, context):
            return
        await_only(_acquire(gate))
        info[_HELD] = True

    @event.listens_for(sync.pool, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop(_HELD, False):
            gate.release()

    @event.listens_for(sync.pool, "invalidate")
    def _invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        if record is not None and record.info.pop(_HELD, False):
            gate.release()

    return gate
