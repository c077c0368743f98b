"""SQLite statements on the event loop's own ``sqlite3`` connection; on a lock, a thread's.

The services' raw SQLite paths (``cloudctl/services/*/fastsql.py``) run their hot
statements as a few C calls on a plain ``sqlite3`` connection that belongs to the
thread calling them (the event loop's), instead of a session, a pooled connection and
aiosqlite's thread hops. That connection has no busy timeout, so the loop never waits
there: a statement that finds the database locked (a writer outside the write gate, WAL
recovery, a checkpoint truncating) runs again on a thread of its own, whose connection
waits with the engine's busy timeout. :class:`LoopSqlite` is that pair, one per raw
path and process; what runs (reads, or writes under ``writegate.WriteGate``) is the
caller's.

Must not: be used for a database that is not a file (each thread opens its own
connection to ``path``); be handed work that blocks on anything but SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import URL

T = TypeVar("T")

def file_database(url: URL) -> str | None:
    """The file of a SQLite database URL; None for another database, memory or a URI."""
    database = url.database
    if not str(url.drivername).startswith("sqlite") or not database \
            or database == ":memory:" or database.startswith("file:"):
        return None
    return str(database)


def database_file(url: URL) -> str | None:
    """The file a SQLite database URL lives in, a URI's (``file:PATH?uri=true``)
    included; None for another database or memory."""
    path = file_database(url)
    if path is not None or not str(url.drivername).startswith("sqlite"):
        return path
    database = str(url.database or "")
    if not database.startswith("file:") or url.query.get("uri") != "true" \
            or url.query.get("mode") == "memory":
        return None
    path = database.removeprefix("file:").split("?", 1)[0]
    if path.startswith("//"):  # file://host/path: only the empty or local host
        host, _, rest = path[2:].partition("/")
        path = "/" + rest if host in ("", "localhost") else ""
    return path if path and path != ":memory:" else None


BUSY_MS = 30000  # the engine's busy timeout (``engine.py``), for the thread's connection


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` is SQLite's "database is locked/busy" (worth running again where
    waiting is allowed), not an error of the statement itself."""
    text = str(exc)
    return "locked" in text or "busy" in text


class LoopSqlite:
    """Per-thread ``sqlite3`` connections to ``path`` and the one thread that waits.

    ``pragmas`` run on each new connection (before its busy timeout);
    ``manual_checkpoints``: the loop's connection never checkpoints the WAL itself (the
    caller runs checkpoints on ``thread``).
    """

    def __init__(self, path: str, thread_name: str, *, pragmas: Sequence[str] = (),
                 manual_checkpoints: bool = False) -> None:
        self.path = path
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._pragmas = tuple(pragmas)
        self._manual_checkpoints = manual_checkpoints
        self._local = threading.local()

    def conn(self, busy_ms: int = BUSY_MS) -> sqlite3.Connection:
        """This thread's connection (opened with ``busy_ms`` on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=busy_ms / 1000, isolation_level=None,
                                   check_same_thread=True)
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}")
            conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            if self._manual_checkpoints and not busy_ms:
                conn.execute("PRAGMA wal_autocheckpoint=0")
            self._local.conn = conn
        return conn

    async def run(self, work: Callable[[sqlite3.Connection], T],
                  executor: ThreadPoolExecutor | None = None) -> T:
        """``work(conn)`` on the loop's connection; when the database is locked, on
        ``executor`` (default: ``thread``), whose connection waits for it."""
        try:
            return work(self.conn(0))
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self.thread,
                                          lambda: work(self.conn(BUSY_MS)))

    def close(self) -> None:
        """Stop the thread (its connection closes with it)."""
        self.thread.shutdown(wait=False)
