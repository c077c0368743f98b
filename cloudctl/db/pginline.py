"""PostgreSQL's hot single-row reads on the event loop's own connection, as SQLite's.

An awaited read costs a request more than its round trip: on a busy loop the answer's
callback and then the task each wait a loop pass of the other requests' work (4-15 ms
a pass under the 64-client mix, bench/results/load.md), so a GET paid 3-6 passes for
reads of ~0.2 ms. SQLite's hot reads run synchronously on the loop's connection and
take none (``loopsql.py``). :class:`InlineReads` does the same on PostgreSQL: a plain
(blocking) psycopg connection per loop thread, autocommit (a statement sees every
transaction committed before it started, as the awaited read does) with prepared
statements, on which ``PgReads.rows`` runs a statement first; ``None`` from
:meth:`InlineReads.rows` sends it down the awaited path, the same statement on the
same database.

Bounded, so the loop never waits long:

- the server cancels a statement after ``STATEMENT_TIMEOUT_MS`` (a lock held by a
  migration's ACCESS EXCLUSIVE, a slow plan), and the client gives up after
  ``DEADLINE`` whatever the server does (a stopped server, a lost network): either
  closes the connection, and the loop reads awaited for ``BACKOFF`` seconds, then
  connects again;
- connecting (``connect_timeout``) runs on a thread, never on the loop; until the
  connection is there, reads are awaited;
- a connection found dead before use (a terminated backend, a restarted server: its
  socket is readable) is closed and the read awaited;
- only when the database is near: the median of the last round trips, measured on
  the loop, must be under ``NEAR_MS`` for a server across a network and
  ``LOCAL_NEAR_MS`` for one on this host (loopback, a unix socket). The median follows
  the distance (a network adds to every round trip), not the tails of a busy host (at
  load 3.5 on 2 cores: p50 0.3 ms, p90 3 ms, the backend waiting for a core), which
  inline reads still win (bench/results/load.md, session 16). A connecting thread's
  own measures are not used: the GIL the loop holds inflated them. A far database (a
  PostgreSQL across a LAN) is read awaited, and measured again by one inline read
  every ``PROBE_EVERY`` seconds (~1 % of the loop at 1 ms). The property
  ``db.postgres_inline_reads`` forces either way (``on``: inline whatever the round
  trip; ``off``: always awaited).

Must not: run writes, several statements that must share a snapshot, or anything
that may wait for a lock by design (the awaited path does); be used from a thread
other than the one whose loop opened it (each loop thread has its own).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from typing import Any

import psycopg

from cloudctl.db.engine import pg_idle_alive
from cloudctl.db.pgnearwait import drive, on_this_host
from cloudctl.properties.registry import PropertyDef, PropertyType, registry

INLINE_READS = registry.define(PropertyDef(
    "db.postgres_inline_reads", PropertyType.STRING, "auto",
    "PostgreSQL's hot single-row reads (credential epoch, S3 current version and bucket, "
    "GetUser) on the request loop's own connection, and sessions' plain reads outside "
    "a transaction waited for on the loop, without a loop pass: 'auto' while the "
    "median round trip is under 2 ms for a server on this host, 0.5 ms across a "
    "network (sessions' reads: a server on this host only); 'on' always, 'off' never "
    "(every read awaited). See cloudctl/db/pginline.py and pgnearwait.py.",
    choices=("auto", "on", "off"),
))

STATEMENT_TIMEOUT_MS = 20  # the server cancels an inline statement after this
DEADLINE = 0.05  # seconds: the client's own limit on an inline statement's wait
CONNECT_TIMEOUT = 2  # seconds (libpq's connect_timeout, on the connecting thread)
BACKOFF = 1.0  # seconds of awaited reads after a failed inline read or connect
NEAR_MS = 0.5  # inline only while the median round trip is under this (a network server)
LOCAL_NEAR_MS = 2.0  # the same for a server on this host (loopback, a unix socket)
PROBE_EVERY = 0.1  # seconds between inline reads of a far database, to measure again
SAMPLES = 31  # round trips in the median
APPLICATION_NAME = "cloudctl-inline-reads"  # in pg_stat_activity


class InlineTimeout(psycopg.OperationalError):
    """An inline statement that did not finish within ``DEADLINE``."""


class BoundedConnection(psycopg.Connection[Any]):
    """A blocking psycopg connection whose every wait ends by ``DEADLINE``."""

    limit = DEADLINE

    def wait(self, gen: Generator[Any, Any, Any], *args: Any,  # type: ignore[override]
             **kwargs: Any) -> Any:
        driven = drive(gen, self.pgconn.socket, time.monotonic() + self.limit)
        if not driven.finished:
            raise InlineTimeout(f"inline read over {self.limit * 1000:g} ms")
        return driven.value


def _connect(conninfo: str) -> BoundedConnection:
    """A new inline connection, its statement timeout set; on a thread."""
    conn = BoundedConnection.connect(conninfo, autocommit=True, prepare_threshold=0,
                                     connect_timeout=CONNECT_TIMEOUT,
                                     application_name=APPLICATION_NAME)
    try:
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    except BaseException:
        conn.close()
        raise
    return conn


class InlineReads:
    """One loop thread's inline connection; see the module docstring."""

    def __init__(self, conninfo: str, loop: asyncio.AbstractEventLoop) -> None:
        self.conninfo = conninfo
        self.loop = loop
        self.mode = "auto"
        self.local = on_this_host(conninfo)
        self.trips: deque[float] = deque(maxlen=SAMPLES)  # round trips, ms
        self.inline_count = 0  # reads run inline (tests, bench)
        self.fallbacks = 0  # inline reads that failed and went awaited
        self._conn: BoundedConnection | None = None
        self._connecting = False
        self._not_before = 0.0  # monotonic: no connect before (after a failure)
        self._next_probe = 0.0  # monotonic: a far database's next measuring read
        self._closed = False  # closed (with the engine): a connect finishing now closes

    def near(self) -> bool:
        """Whether reads run inline now (a connection, near enough, not forced off)."""
        if self.mode == "off" or self._conn is None:
            return False
        return self.mode == "on" or not self.trips or \
            statistics.median(self.trips) < (LOCAL_NEAR_MS if self.local else NEAR_MS)

    def rows(self, statement: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]] | None:
        """Every row of ``statement`` read now, on the loop; None: read it awaited."""
        if self.mode == "off" or self._closed:
            if self._conn is not None:
                self._drop(backoff=False)
            return None
        conn = self._conn
        if conn is None:
            self._start_connect()
            return None
        if not self.near():
            now = time.monotonic()
            if now < self._next_probe:
                return None
            self._next_probe = now + PROBE_EVERY
        if not pg_idle_alive(conn):
            self._drop(backoff=False)
            return None
        started = time.perf_counter()
        try:
            found = conn.execute(statement, args, prepare=True).fetchall()
        except psycopg.Error:
            # the server cancelled it (statement timeout), the deadline passed, the
            # connection broke, or a migration made the prepared plan stale: the
            # awaited path runs it (and raises the statement's own errors)
            self.fallbacks += 1
            self._drop(backoff=True)
            return None
        self.trips.append((time.perf_counter() - started) * 1000)
        self.inline_count += 1
        return found

    def _start_connect(self) -> None:
        if self._connecting or self.mode == "off" or time.monotonic() < self._not_before:
            return
        self._connecting = True
        future = self.loop.run_in_executor(None, _connect, self.conninfo)
        future.add_done_callback(self._connected)

    def _connected(self, future: asyncio.Future[BoundedConnection]) -> None:
        self._connecting = False
        if future.cancelled():
            return
        if future.exception() is not None:
            self._not_before = time.monotonic() + BACKOFF
            return
        conn = future.result()
        if self._closed or self.loop.is_closed():
            conn.close()
            return
        self._conn = conn
        self._next_probe = time.monotonic() + PROBE_EVERY

    def _drop(self, backoff: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()  # no round trip: the socket closes
        if backoff:
            self._not_before = time.monotonic() + BACKOFF

    def close(self) -> None:
        self._closed = True
        self._drop(backoff=False)


class PerLoopThread:
    """The :class:`InlineReads` of each loop thread of a process."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.mode = "auto"
        self._local = threading.local()
        self._all: list[InlineReads] = []
        self._lock = threading.Lock()

    def here(self) -> InlineReads:
        """This thread's (opened for the running loop; a new loop starts afresh)."""
        loop = asyncio.get_running_loop()
        mine: InlineReads | None = getattr(self._local, "reads", None)
        if mine is None or mine.loop is not loop or mine._closed:
            if mine is not None:
                mine.close()
            mine = self._local.reads = InlineReads(self.conninfo, loop)
            with self._lock:
                self._all = [r for r in self._all if not r.loop.is_closed()] + [mine]
        mine.mode = self.mode
        return mine

    def close(self) -> None:
        with self._lock:
            every, self._all = self._all, []
        for reads in every:
            reads.close()
