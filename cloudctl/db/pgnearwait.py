"""PostgreSQL sessions' plain reads wait for their answer on the loop, as SQLite's run.

On SQLite an ORM read runs on the event loop's thread (``loopdriver.py``): a
DescribeVolumes of ~1,000 volumes is one stretch of the loop, no pass. On PostgreSQL
the same session awaited each answer: the socket's readiness and then the task each
waited a loop pass of the other requests' work (2-7 ms a pass under the 64-client
mix), and the read took 45.6 ms there against 26.7-30.4 on SQLite
(bench/results/load.md, session 17). Here a plain read run outside a transaction
(``pglazybegin``: a session's SELECTs before its first write, a controller's poll)
waits for its answer synchronously, polling the connection's socket, for up to
``BUDGET`` seconds: on a database on this host the coroutine usually returns without
suspending. The rest of the session's work, its writes, its locking reads and its
COMMIT, is awaited as before: those may wait for a row lock by design.

Bounded, so the loop never waits long: a read unanswered after ``BUDGET`` goes on
awaited from where it stood (the same statement on the same connection, nothing sent
again). A long answer (a thousand rows still arriving) just goes on so; a server that
has not begun to answer (a migration's lock, a stalled server) also sends the engine's
reads awaited for ``BACKOFF`` seconds: one stall a tenth of a second, not one per
request (and not a second of awaited reads for a backend that waited for a core once:
under the 64-client mix that happened every ~6 s a worker). The budget holds a whole
list on the loop, as SQLite's: DescribeVolumes of ~1,000 volumes under the mix took
20 ms at p50 with a budget of 50 ms, 27 with 4 ms (the rest of its rows awaited, a pass a
socket read), 19 on SQLite; a page of 20 took 12-13 ms with any of 4, 20 and 50
(bench/results/load.md, session 18).

Which server: ``auto`` (the default) waits on the loop only for a server on this host
(loopback, a unix socket), whose round trip is a fraction of a millisecond; across a
network every read is awaited. The property ``db.postgres_inline_reads`` (shared with
``pginline``'s hot reads) forces either way: ``on`` whatever the server, ``off`` never.

Installed by ``engine.create_engine`` for PostgreSQL: its connections are
:class:`NearWaitConnection` (``async_creator_fn``) with :class:`NearWaitCursor`.
"""

from __future__ import annotations

import select
import time
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import psycopg
import psycopg.conninfo
from psycopg import waiting
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudctl.db.pglazybegin import LazyBeginCursor, runs_lazily

BUDGET = 0.02  # seconds a read may hold the loop before it goes on awaited
BACKOFF = 0.1  # seconds of awaited reads after one the server did not answer in BUDGET


def on_this_host(conninfo: str) -> bool:
    """Whether ``conninfo`` names a server on this host: a unix socket or loopback."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    hosts = str(params.get("hostaddr") or params.get("host") or "").split(",")
    return all(not host or host.startswith("/") or host == "localhost"
               or host.startswith("127.") or host == "::1" for host in hosts)


class Driven:
    """What :func:`drive` left: ``finished`` with ``value``, or waiting for ``value``
    (a psycopg wait state); ``answered``: the server had sent something."""

    __slots__ = ("finished", "value", "answered")

    def __init__(self, finished: bool, value: Any, answered: bool) -> None:
        self.finished, self.value, self.answered = finished, value, answered


def drive(gen: Generator[Any, Any, Any], fileno: int, deadline: float,
          state: Any = None) -> Driven:
    """Run a psycopg generator, blocking on ``fileno``, until it ends or ``deadline``
    (``time.monotonic``) passes; an unfinished one goes on with :func:`resumed`.
    ``state``: the wait a generator already started stands at (None: not started)."""
    poller = select.poll()
    answered = False
    try:
        if state is None:
            state = next(gen)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return Driven(False, state, answered)
            events = (select.POLLIN if state & waiting.Wait.R else 0) | \
                (select.POLLOUT if state & waiting.Wait.W else 0)
            poller.register(fileno, events)
            fired = poller.poll(left * 1000)
            poller.unregister(fileno)
            ready = 0
            for _fd, event in fired:
                if event & (select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    ready |= waiting.Ready.R
                    answered = True
                if event & select.POLLOUT:
                    ready |= waiting.Ready.W
            if ready:
                state = gen.send(ready)
    except StopIteration as done:
        return Driven(True, done.value, answered)


def resumed(gen: Generator[Any, Any, Any], state: Any) -> Generator[Any, Any, Any]:
    """``gen``, which :func:`drive` left waiting for ``state``, for psycopg's waits."""
    ready = yield state
    while True:
        try:
            state = gen.send(ready)
        except StopIteration as done:
            return done.value
        ready = yield state


class NearWaits:
    """One engine's choice: whether a plain read waits on the loop; see the module."""

    def __init__(self, local: bool) -> None:
        self.local = local
        self.mode = "auto"
        self.on_loop = 0  # reads answered on the loop (tests, bench)
        self.overruns = 0  # reads that went on awaited after their budget
        self.stalls = 0  # of those, reads the server had not begun to answer
        self._not_before = 0.0  # monotonic: awaited reads until then

    def budget(self) -> float:
        """Seconds a plain read may wait on the loop now; 0: awaited."""
        if self.mode == "off" or (self.mode == "auto" and not self.local):
            return 0.0
        if self._not_before and time.monotonic() < self._not_before:
            return 0.0
        return BUDGET

    def overran(self, answered: bool) -> None:
        """A read went on awaited after its budget: a long answer still arriving
        (``answered``), or a server that did not answer (back off)."""
        self.overruns += 1
        if not answered:
            self.stalls += 1
            self._not_before = time.monotonic() + BACKOFF


class NearWaitConnection(psycopg.AsyncConnection[Any]):
    """An async connection whose next wait may run on the loop (``read_budget``)."""

    near: NearWaits | None = None
    read_budget = 0.0  # set by the cursor for its statement's one wait

    async def wait(self, gen: Any, interval: float = 0.1,
                   timeout: float | None = None) -> Any:
        budget, self.read_budget = self.read_budget, 0.0
        try:
            state = next(gen)
        except StopIteration as done:
            # nothing to wait for (a ROLLBACK on an idle connection): no pass either
            # (psycopg's wait takes one when it has not itself waited for 5 ms, as
            # is always so once reads wait here)
            return done.value
        except OSError as exc:
            raise psycopg.OperationalError("connection socket closed") from exc
        if budget > 0 and self.near is not None:
            driven = drive(gen, self.pgconn.socket, time.monotonic() + budget, state)
            if driven.finished:
                self.near.on_loop += 1
                return driven.value
            self.near.overran(driven.answered)
            state = driven.value
        return await super().wait(resumed(gen, state), interval, timeout)


class NearWaitCursor(LazyBeginCursor):
    """The engine's cursor: a plain read outside a transaction waits on the loop."""

    async def execute(self, query: Any, params: Any = None, *,  # type: ignore[override]
                      prepare: bool | None = None, binary: bool | None = None) -> Any:
        conn = self._conn
        near = getattr(conn, "near", None)
        # an uncontended lock: execute's first wait is this statement's, not another's
        if near is not None and not conn.lock.locked() and runs_lazily(conn, query):
            conn.read_budget = near.budget()  # type: ignore[attr-defined]
        try:
            return await super().execute(query, params, prepare=prepare, binary=binary)
        finally:
            if near is not None:
                conn.read_budget = 0.0  # type: ignore[attr-defined]


_POLICIES: weakref.WeakKeyDictionary[Engine, NearWaits] = weakref.WeakKeyDictionary()


def connector(near: NearWaits) -> Callable[..., Coroutine[Any, Any, NearWaitConnection]]:
    """The engine's ``async_creator_fn``: connections that wait for ``near``."""

    async def connect(*args: Any, **kwargs: Any) -> NearWaitConnection:
        conn = await NearWaitConnection.connect(*args, **kwargs)
        conn.near = near
        return conn

    return connect


def register(engine: AsyncEngine, near: NearWaits) -> None:
    _POLICIES[engine.sync_engine] = near


def for_engine(engine: AsyncEngine) -> NearWaits | None:
    """The engine's :class:`NearWaits`; None unless a PostgreSQL engine made here."""
    return _POLICIES.get(engine.sync_engine)
