"""SQLite write transactions run on the event loop while they hold the write gate.

aiosqlite runs every call of a connection (cursor, execute, fetch, commit) on that
connection's thread: each is a hop there and back (a thread wake-up, then an event
loop wake-up). A write transaction holds the write gate (``writegate.py``) for all of
its hops, and on a busy 2-core host each hop waits for the scheduler: measured under
the 64-client mix (bench/load.py) the gate was held 7.6 ms at p50 and 46 ms at p90 for
transactions of one or two statements, which made the gate, not the CPU, the limit on
writes (server at 0.4 of its cores, write p99 above 3 s).

:class:`GatedConnection` is the aiosqlite connection of a gated engine. From the moment
it takes the gate until it gives it back (``hold``/``release``, called by the gate's
engine events), its calls run directly on the event loop's thread: a statement of a WAL
database with ``synchronous=NORMAL`` writes to the page cache (no fsync), tens of
microseconds, less than one hop, as S3's small PUTs already do (``s3/fastsql.py``).
Reads outside a write transaction still go through the thread. The price: a long
statement inside a write transaction (a sweep deleting thousands of rows) now holds the
loop as well as the gate, where before it held only the gate; keep such work in
batches.

A commit inline must not run a WAL checkpoint there (copying pages and syncing the
database file is milliseconds): gated connections have no automatic checkpoint, and
every ``CHECKPOINT_EVERY`` write transactions a passive one runs on the releasing
connection's thread.

The loop must never wait for a lock: while inline the connection's busy timeout is 0.
Holding the gate excludes this cloud's other writers; a writer outside it (a
maintenance tool on the database file) makes the statement fail at once with
"database is locked" before it did anything, and that call is then run on the thread
with the usual busy timeout, as the engine always did.

Must not: run a call inline while the thread may still run one of the connection's
calls (``hold`` is called only between calls, from the statement's own greenlet).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 30000  # the thread's wait for a writer outside the gate (the engine's)
ITER_CHUNK = 64  # aiosqlite's default rows per fetch of an async iteration
CHECKPOINT_EVERY = 200  # write transactions between WAL checkpoints (on a connection's thread)

_commits = 0  # write transactions of this process's gated connections


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _waiting(conn: sqlite3.Connection, fn: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
    """``fn`` on the thread, waiting for SQLite's lock up to the busy timeout."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return fn(*args, **kwargs)
    finally:
        conn.execute("PRAGMA busy_timeout=0")


class GatedConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the event loop while it holds the gate."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, ITER_CHUNK)
        self._thread.daemon = True  # as SQLAlchemy sets for the connections it opens
        self.inline = False
        self.held = False

    def hold(self) -> None:
        """The gate is held: calls run on the loop from now (the thread is idle)."""
        if self._connection is None or self.held:
            return
        self._connection.execute("PRAGMA busy_timeout=0")
        self.held = self.inline = True

    def release(self) -> None:
        """The gate is given back: calls go to the thread again, which waits for locks."""
        global _commits
        if not self.held:
            return
        idle, self.held, self.inline = self.inline, False, False
        conn = self._connection
        if not self._running or conn is None:
            return
        restore = f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"
        if idle:
            conn.execute(restore)
        else:  # a call on the thread was cancelled and still runs: queue behind it
            self._tx.put_nowait((None, partial(conn.execute, restore)))
        _commits += 1
        if _commits % CHECKPOINT_EVERY == 0:
            # on the thread, not awaited: a passive checkpoint waits for nobody, and the
            # next call of this connection (a cursor, always) is queued behind it
            self._tx.put_nowait((None, partial(conn.execute, "PRAGMA wal_checkpoint(PASSIVE)")))

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.inline:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        conn = self._connection
        if not self._running or conn is None:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        # a writer outside the gate holds SQLite's lock: wait for it on the thread (and
        # queue this connection's calls there meanwhile: a cancelled wait leaves the call
        # running, and a rollback must come after it)
        self.inline = False
        result = await super()._execute(  # type: ignore[no-untyped-call]
            _waiting, conn, fn, args, kwargs)
        self.inline = True
        return result


def creator(path: str, timeout: float) -> Callable[[], Any]:
    """SQLAlchemy's ``async_creator`` for the SQLite file at ``path``."""

    async def connect() -> GatedConnection:
        def open_file() -> sqlite3.Connection:
            # the loop's thread uses it too, only while the thread is idle
            conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # release() checkpoints off the loop
            return conn

        connection = GatedConnection(open_file)
        await connection  # starts its thread and opens the file there
        return connection

    return connect
