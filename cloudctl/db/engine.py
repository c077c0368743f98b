"""The async engine and session factory for SQLite (embedded) and PostgreSQL.

SQLite: WAL, and write transactions queue in-process behind the write gate
(``writegate.py``). PostgreSQL: a pool sized for a worker's concurrency, kept open
(an overflow connection is opened and closed per checkout: a TCP connection, a backend
process and authentication, tens of ms).

A pooled PostgreSQL connection is checked at every checkout without a round trip
(``pg_idle_alive``): an idle connection has nothing to read, so a readable socket
(the FATAL message and end of stream of a terminated backend or a restarted server)
or a broken libpq state means dead, and the pool replaces it before the session uses
it. SQLAlchemy's ``pool_pre_ping`` sent a statement instead, which on psycopg is a
BEGIN and a ``SELECT``: under 64 clients a GET made ~6 round trips, 1.3 of them that
ping, each a wait for the worker's busy event loop (bench/results/load.md, session 8).
A PostgreSQL session's plain reads run before its BEGIN, which goes out with its first
statement that needs a transaction (``pglazybegin``): a session that only reads makes
one round trip a SELECT, without BEGIN and ROLLBACK, and waits for it on the loop
when the server is on this host (``pgnearwait``), as SQLite's run there. Its write
transactions take turns in each process (``pgwriters``), as SQLite's do at the write
gate.
"""

from __future__ import annotations

import os
import select
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cloudctl.db import (
    loopdriver,
    loopsql,
    pgnearwait,
    pgwriters,
    readpool,
    sessionend,
    writegate,
)

PG_POOL_SIZE = 24  # connections kept per process: more than the requests one worker runs at once
PG_MAX_OVERFLOW = 8
APPLICATION_PREFIX = "cloudctl:"
LOOP_DRIVER_ENV = "CLOUDCTL_SQLITE_ON_LOOP"  # "0": aiosqlite's threads (for comparison)


def create_engine(url: str, *, idle_transaction_timeout: float = 0.0, host_id: str = "",
                  reads_of: AsyncEngine | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on.

    ``idle_transaction_timeout`` (PostgreSQL, seconds, 0: none): the server ends a
    session of this engine left idle inside a transaction that long, releasing its row
    locks (a host cut off from the network mid-transaction; TCP alone would keep the
    session, and its locks, for hours). ``host_id`` (PostgreSQL): the sessions carry
    ``application_name`` ``cloudctl:<host>``, so a new leader can end those of a host
    that lost its ZooKeeper session (``cloudctl.core.terms``). ``reads_of`` (PostgreSQL,
    an engine of this function for the same database): this engine is that one's read
    operations' (``readpool``), with a smaller pool, sharing its write slots and its
    reads' waits on the loop.
    """
    if url.startswith("sqlite"):
        # A pool big enough for the concurrency a worker sees: an overflow connection is
        # closed when returned (on the loop driver a connection costs a file handle and
        # its page cache; with aiosqlite each is a thread of its own).
        on_file = ":memory:" not in url and url.rstrip("/") not in ("sqlite+aiosqlite:", "sqlite:")
        if on_file:
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 20)
        # a plain file path only: a URI database (``file:...?uri=true``) keeps aiosqlite,
        # which opens it as a URI
        database = loopsql.file_database(make_url(url))
        on_loop = database is not None and os.environ.get(LOOP_DRIVER_ENV, "1") != "0"
        if on_loop:
            assert database is not None
            kwargs.setdefault("async_creator", loopdriver.creator(database))
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        gated = loopsql.database_file(make_url(url)) if on_file else None
        if gated:
            writegate.install(engine, gated)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # on the loop a locked database is waited for by loopdriver, never in SQLite
            cur.execute(f"PRAGMA busy_timeout={0 if on_loop else 30000}")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", PG_POOL_SIZE if reads_of is None else readpool.READ_POOL_SIZE)
    kwargs.setdefault("max_overflow",
                      PG_MAX_OVERFLOW if reads_of is None else readpool.READ_MAX_OVERFLOW)
    shared_near = pgnearwait.for_engine(reads_of) if reads_of is not None else None
    near = shared_near or pgnearwait.NearWaits(local=pgnearwait.on_this_host(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)))
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("cursor_factory", pgnearwait.NearWaitCursor)
    connect_args.setdefault("async_creator_fn", pgnearwait.connector(near))
    if idle_transaction_timeout > 0:
        millis = max(1, round(idle_transaction_timeout * 1000))
        kwargs.setdefault("connect_args", {})["options"] = \
            f"-c idle_in_transaction_session_timeout={millis}"
    if host_id:
        kwargs.setdefault("connect_args", {})["application_name"] = application_name(host_id)
    engine = create_async_engine(url, pool_recycle=3600, **kwargs)

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if not pg_idle_alive(dbapi_conn):
            # the pool drops it and checks out another (a new connection if none is left)
            raise sa_exc.DisconnectionError("the server closed this pooled connection")

    pgwriters.install(engine, shared=pgwriters.writers_for(reads_of) if reads_of else None)
    pgnearwait.register(engine, near)
    if reads_of is not None:
        readpool.pair(reads_of, engine)
    return engine


def application_name(host_id: str) -> str:
    """The PostgreSQL ``application_name`` of a cloud host's sessions."""
    return f"{APPLICATION_PREFIX}{host_id}"[:63]


def pg_idle_alive(dbapi_conn: Any) -> bool:
    """Whether a pooled (idle) psycopg connection is usable, without a round trip."""
    raw = getattr(dbapi_conn, "_connection", dbapi_conn)  # under SQLAlchemy's adapter
    pgconn = getattr(raw, "pgconn", None)
    if pgconn is None:  # another driver: let the first statement tell
        return True
    if raw.closed or raw.broken or pgconn.status != 0:  # libpq's CONNECTION_OK
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that end without SQLAlchemy's loop passes when they can (``sessionend``)."""
    return async_sessionmaker(engine, expire_on_commit=False, class_=sessionend.CloudSession)


def sync_url(url: str) -> str:
    """The synchronous driver URL for the same database (alembic runs synchronously)."""
    return url.replace("sqlite+aiosqlite", "sqlite").replace("+asyncpg", "+psycopg")
