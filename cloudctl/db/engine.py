"""The async engine and session factory for SQLite (embedded) and PostgreSQL.

SQLite: WAL, and write transactions queue in-process behind the write gate
(``writegate.py``). PostgreSQL: a pool sized for a worker's concurrency, kept open
(an overflow connection is opened and closed per checkout: a TCP connection, a backend
process and authentication, tens of ms).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cloudctl.db import writegate

PG_POOL_SIZE = 24  # connections kept per process: more than the requests one worker runs at once
PG_MAX_OVERFLOW = 8


def create_engine(url: str, *, idle_transaction_timeout: float = 0.0,
                  **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on.

    ``idle_transaction_timeout`` (PostgreSQL, seconds, 0: none): the server ends a
    session of this engine left idle inside a transaction that long, releasing its row
    locks (a host cut off from the network mid-transaction; TCP alone would keep the
    session, and its locks, for hours).
    """
    if url.startswith("sqlite"):
        # A pool big enough for the concurrency a worker sees: an overflow connection is
        # closed when returned, and each aiosqlite connection is a thread of its own.
        on_file = ":memory:" not in url and url.rstrip("/") not in ("sqlite+aiosqlite:", "sqlite:")
        if on_file:
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 20)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        if on_file and engine.url.database:
            writegate.install(engine, engine.url.database)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", PG_POOL_SIZE)
    kwargs.setdefault("max_overflow", PG_MAX_OVERFLOW)
    if idle_transaction_timeout > 0:
        millis = max(1, round(idle_transaction_timeout * 1000))
        kwargs.setdefault("connect_args", {})["options"] = \
            f"-c idle_in_transaction_session_timeout={millis}"
    return create_async_engine(url, pool_pre_ping=True, pool_recycle=3600, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_url(url: str) -> str:
    """The synchronous driver URL for the same database (alembic runs synchronously)."""
    return url.replace("sqlite+aiosqlite", "sqlite").replace("+asyncpg", "+psycopg")
