"""Single-statement reads on PostgreSQL: one round trip each, no session, no BEGIN.

The hot reads of every request (the credential epoch, an S3 object's current version,
a bucket row) went through an ORM session over psycopg: BEGIN, the SELECT and
ROLLBACK, three round trips, each a wait behind every other task ready on a busy
event loop (bench/results/load.md). Here each is one: a few plain psycopg
connections per process in autocommit mode (no transaction is opened around a single
statement, and a statement in autocommit sees every transaction committed before it
started: READ COMMITTED, as the ORM's first statement) with server-side prepared
statements (``prepare_threshold=0``: the first use prepares, later ones only bind and
execute).

An idle connection is checked before use without a round trip, as the engine's pool
does (``engine.pg_idle_alive``: a readable socket or a broken libpq state means dead);
one that fails in use (closed or broken: a terminated backend, a restarted server) is
dropped and the read runs once more on a new one (a read is safe to repeat), as does
one whose prepared statement a migration made stale. The
connections belong to the event loop that opened them; another loop starts afresh.
They close with the engine (``dispose``).

A statement runs first on the loop thread's inline connection (``pginline.py``: no
loop pass, bounded by a statement timeout and a client deadline, only while the
database is near); when that declines or fails, here, awaited.

Must not: run writes or several statements that must see one snapshot (use a session).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudctl.db.engine import pg_idle_alive
from cloudctl.db.pginline import INLINE_READS, PerLoopThread

POOL_SIZE = 16  # connections per process (opened as needed): a read holds one for one round trip


class PgReads:
    """Autocommit psycopg connections for single-statement reads; see the module docstring."""

    def __init__(self, conninfo: str, size: int = POOL_SIZE) -> None:
        self.conninfo = conninfo
        self.size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.inline = PerLoopThread(conninfo)

    def inline_rows(self, statement: str,
                    args: Sequence[Any] = ()) -> list[tuple[Any, ...]] | None:
        """Every row of ``statement`` read now on the loop's inline connection (no
        pass); None: not inline now (see ``pginline.py``), read it with :meth:`rows`."""
        return self.inline.here().rows(statement, args)

    def inline_near(self) -> bool:
        """Whether this loop's reads run inline now."""
        return self.inline.here().near()

    async def rows(self, statement: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of ``statement`` (``%s`` placeholders), one round trip: inline
        when it can (the coroutine then returns without suspending), else awaited."""
        found = self.inline.here().rows(statement, args)
        if found is not None:
            return found
        return await self.awaited_rows(statement, args)

    async def awaited_rows(self, statement: str,
                           args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of ``statement`` on the awaited connections, never inline."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            self.close()
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        async with self._slots:
            for attempt in (1, 2):
                conn = await self._take()
                try:
                    cursor = await conn.execute(statement, args, prepare=True)
                    rows = await cursor.fetchall()
                except (psycopg.OperationalError, psycopg.errors.FeatureNotSupported) as exc:
                    # a dead connection, or a prepared plan a migration made stale
                    # ("cached plan must not change result type"): once more on a new
                    # connection, which prepares afresh
                    retry = attempt == 1 and (
                        conn.closed or conn.broken
                        or isinstance(exc, psycopg.errors.FeatureNotSupported))
                    if not retry:
                        self._give(conn)
                        raise
                    _finish(conn)
                    continue
                except BaseException:
                    self._give(conn)
                    raise
                self._give(conn)
                return rows
        raise AssertionError("unreachable")

    async def one(self, statement: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of ``statement``, None when there is none."""
        found = await self.rows(statement, args)
        return found[0] if found else None

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn = self._idle.pop()
            if pg_idle_alive(conn):
                return conn
            _finish(conn)
        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                     prepare_threshold=0)

    def _give(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != \
                psycopg.pq.TransactionStatus.IDLE:
            _finish(conn)
        else:
            self._idle.append(conn)

    def close(self) -> None:
        """Close the idle connections (those in use close when handed back broken)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            _finish(conn)

    def close_inline(self) -> None:
        """Close every loop thread's inline connection (with the engine)."""
        self.inline.close()


def _finish(conn: psycopg.AsyncConnection[Any]) -> None:
    if not conn.closed:
        conn.pgconn.finish()  # the socket closes; no round trip, no await


_READS: weakref.WeakKeyDictionary[Engine, PgReads | None] = weakref.WeakKeyDictionary()


def for_engine(engine: AsyncEngine) -> PgReads | None:
    """The :class:`PgReads` of ``engine`` (made on first use); None unless PostgreSQL
    over psycopg."""
    sync = engine.sync_engine
    if sync in _READS:
        return _READS[sync]
    reads: PgReads | None = None
    if engine.url.drivername in ("postgresql+psycopg", "postgresql+psycopg_async"):
        conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        made = reads = PgReads(conninfo)

        @event.listens_for(sync, "engine_disposed")
        def _disposed(_engine: Any) -> None:
            made.close()
            made.close_inline()

    _READS[sync] = reads
    return reads


class _HasProperties(Protocol):
    def get(self, prop: Any) -> Any: ...


class _Cloud(Protocol):
    @property
    def engine(self) -> AsyncEngine: ...
    @property
    def properties(self) -> _HasProperties: ...


def for_cloud(cloud: _Cloud) -> PgReads | None:
    """:func:`for_engine` of the cloud's engine, its inline mode set from the property
    ``db.postgres_inline_reads``."""
    reads = for_engine(cloud.engine)
    if reads is not None:
        reads.inline.mode = str(cloud.properties.get(INLINE_READS))
    return reads
