"""SQLAlchemy's aiosqlite dialect over SQLite connections that run on the event loop.

aiosqlite gives every connection a thread and hands each statement, fetch, commit and
rollback to it and back: two thread switches, a queue, a wake-up of the loop through
its self-pipe and a loop pass per call. An ORM request makes ten to thirty such calls,
and on a busy 2-core host the hand-offs (and the GIL changing hands with them) cost
more CPU than the statements: DeleteUser spent ~40 % of the worker's GIL time in them.
SQLite's statements on an indexed table take microseconds, so here they run directly
on the loop's thread, as the services' raw paths already do (``loopsql.py``).

The dialect is unchanged (``sqlite+aiosqlite``); the engine hands it these connections
through ``async_creator``. A connection has no busy timeout: the loop never sleeps in
SQLite's busy handler. A statement that finds the database locked (a writer outside
the write gate: a ``cloudctl`` command, a migration; WAL recovery) is run again after
an ``asyncio.sleep`` that grows to ``MAX_BACKOFF``, for up to ``BUSY_SECONDS``, the
busy timeout the threads had. In-process writers queue on the write gate
(``writegate.py``) before their first write, as before, and Python's ``sqlite3`` opens
the transaction only at that write, so a transaction's snapshot is never stale when it
starts writing.

WAL checkpoints: the loop's connections never checkpoint (``wal_autocheckpoint=0``: a
checkpoint writes pages back and syncs the database file, milliseconds the loop would
stall); every ``CHECKPOINT_EVERY`` commits of the process a ``RESTART`` checkpoint runs
on a thread of its own. It waits for the writer of the moment and holds new writers
off while it copies (they find the database busy and retry after their sleep, the loop
free), so it completes and the next writer starts the WAL again from its beginning: a
``PASSIVE`` one, which never holds writers off, never caught up with a steady stream of
commits and the WAL grew without bound (10 MB after 1,500 commits in the test).

Between statements outside a write transaction the driver yields to the loop once
(``asyncio.sleep(0)``), so a request making many reads does not hold the loop for all of
them at once and short requests interleave with it, as they did while aiosqlite's
threads ran the statements. Inside a write transaction (which holds the write gate) it
does not: the gate is held for the statements and the commit only, not for other
requests' turns.

Must not: serve a database that is not a file, or statements that run long (a full
scan of a large table stalls every request of the worker meanwhile).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cloudctl.db.loopsql import is_locked

T = TypeVar("T")

BUSY_SECONDS = 30.0  # the busy timeout the aiosqlite threads had
MAX_BACKOFF = 0.02
CHECKPOINT_EVERY = 500  # commits of the process between two PASSIVE checkpoints


_CHECKPOINTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")


class _Checkpoints:
    """Counts commits; every ``CHECKPOINT_EVERY`` runs a RESTART checkpoint on the
    process's checkpoint thread (one for every engine), on a connection of its own."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.commits = 0
        self._running = False

    def committed(self) -> None:
        self.commits += 1
        if self.commits % CHECKPOINT_EVERY or self._running:
            return
        self._running = True
        _CHECKPOINTER.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # the next round tries again; readers and writers never depend on it
        finally:
            self._running = False


async def _retrying(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` now; while the database is locked, again after a growing sleep."""
    try:
        return call(*args)
    except sqlite3.OperationalError as exc:
        if not is_locked(exc):
            raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_SECONDS
    delay = 0.001
    while True:
        await asyncio.sleep(delay)
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or loop.time() >= deadline:
                raise
        delay = min(delay * 2, MAX_BACKOFF)


class LoopCursor:
    """The awaitable cursor SQLAlchemy's adapter expects, over a ``sqlite3`` cursor."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> LoopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> LoopCursor:
        if not self._cursor.connection.in_transaction:
            await asyncio.sleep(0)  # let other requests run between a reader's statements
        if parameters is None:
            await _retrying(self._cursor.execute, sql)
        else:
            await _retrying(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> LoopCursor:
        rows = list(parameters)  # a retry must see every row again
        await _retrying(self._cursor.executemany, sql, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediately:
    """Stands in for aiosqlite's queue to its thread (the dialect's isolation-level
    setter puts ``(future, function)`` there): runs the function at once."""

    __slots__ = ()

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to the awaiting caller
            future.set_exception(exc)


class LoopConnection:
    """An aiosqlite-shaped connection whose calls run on the calling (loop) thread."""

    _tx = _Immediately()

    def __init__(self, conn: sqlite3.Connection, checkpoints: _Checkpoints) -> None:
        self._conn = conn
        self._checkpoints = checkpoints

    @property
    def _connection(self) -> sqlite3.Connection:  # the dialect checks it is open
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> LoopCursor:
        return LoopCursor(self._conn.cursor())

    async def commit(self) -> None:
        await _retrying(self._conn.commit)
        self._checkpoints.committed()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


def creator(path: str) -> Callable[[], Any]:
    """The engine's ``async_creator`` for the database file ``path``."""
    checkpoints = _Checkpoints(path)

    async def connect() -> LoopConnection:
        conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return LoopConnection(conn, checkpoints)

    return connect
