"""The hot IAM statements on SQLite, on plain ``sqlite3`` connections.

Owns what (nearly) every request or every IAM call runs: the credential epoch read
(one row, on every authenticated request), the account-exists check of an IAM
call, one keyset page of users (ListUsers) and the insert of a new user
(CreateUser, with its account's check in the same statement). Through SQLAlchemy's ORM and aiosqlite each costs a session, a pooled
connection and several thread hops (CreateUser ran ~40 of them); here each is a few
C calls on the event loop's own connection, which never waits: it has no busy
timeout, and a locked database sends the statement to a thread that waits as the
engine does. Writes take the engine's write gate (``cloudctl/db/writegate.py``)
like every ORM write, so SQLite's write lock is never fought over in-process.

The rows read and written are the ORM's (same columns, same timestamp text), so
every other path reads them unchanged. PostgreSQL keeps the ORM path (``for_cloud``
returns None), but for the epoch read and GetUser (``cloudctl/db/pgreads.py``). Must not: block the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from cloudctl.db.loopsql import LoopSqlite, is_locked
from cloudctl.db.writegate import WriteGate, gate_for
from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

T = TypeVar("T")

_EPOCH = "SELECT generation FROM iam_credential_epoch WHERE id = 1"
_ACCOUNT = "SELECT 1 FROM iam_accounts WHERE account_id = ?"
# what ListUsers shows of a user (the account is the caller's, a listing has no tags,
# ``name_lower`` is ``name.lower()``): each column more is ~0.3 us a row
USER_COLUMNS = ("path", "name", "user_id", "created_at", "password_last_used")
_USERS = (f"SELECT {', '.join(USER_COLUMNS)} FROM iam_users "
          "WHERE account_id = ? AND name_lower > ? AND substr(path, 1, ?) = ? "
          "ORDER BY name_lower LIMIT ?")
_INSERT_USER = ("INSERT INTO iam_users (user_id, account_id, name, name_lower, path, created_at, "
                "password_last_used, tags_json, is_admin) SELECT ?, ?, ?, ?, ?, ?, NULL, ?, 0 "
                "WHERE EXISTS (SELECT 1 FROM iam_accounts WHERE account_id = ?)")
_SERVICE = "iam.fastsql"


class NameTaken(Exception):
    """The insert broke the account's unique user name."""


def timestamp_text(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite ``DateTime`` stores it (UTC, no zone)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # C's isoformat: "2024-05-01 12:00:00.123456+00:00" (microseconds always written)
    return value.isoformat(" ", "microseconds")[:26]


class FastIam:
    """Raw ``sqlite3`` statements of the IAM hot paths; see the module docstring."""

    def __init__(self, path: str, gate: WriteGate | None) -> None:
        self.path = path
        self.gate = gate
        self._sql = LoopSqlite(path, "iam-sql", pragmas=("synchronous=NORMAL", "foreign_keys=ON"))

    async def epoch(self) -> int:
        rows = await self._sql.run(lambda c: c.execute(_EPOCH).fetchall())
        return int(rows[0][0] or 0) if rows else 0

    def epoch_now(self) -> int | None:
        """The epoch read at once on the loop's connection; None if the database is
        locked (the caller waits for a read that may wait, ``epoch``)."""
        try:
            rows = self._sql.conn(0).execute(_EPOCH).fetchall()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            return None
        return int(rows[0][0] or 0) if rows else 0

    async def account_exists(self, account_id: str) -> bool:
        return bool(await self._sql.run(lambda c: c.execute(_ACCOUNT, (account_id,)).fetchall()))

    async def users(self, account_id: str, prefix: str, after: str,
                    limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` users of the account named after ``after`` (keyset: the index
        on (account_id, name_lower) starts at the marker, whatever the page's position)."""
        args = (account_id, after, len(prefix), prefix, limit)
        return await self._sql.run(lambda c: c.execute(_USERS, args).fetchall())

    async def insert_user(self, values: tuple[Any, ...]) -> bool:
        """One INSERT in its own transaction, under the write gate, if the account (the
        second value) exists: False when it does not; NameTaken on conflict. The
        account's check is the insert's own (no separate read, no window between)."""
        def work(conn: sqlite3.Connection) -> bool:
            try:  # autocommit: one statement, one commit
                return conn.execute(_INSERT_USER, (*values, values[1])).rowcount == 1
            except sqlite3.IntegrityError:
                raise NameTaken() from None

        return await self._gated(work)

    async def insert_users(self, rows: list[tuple[Any, ...]]) -> list[bool | None]:
        """Many ``insert_user`` in one transaction (one commit): each True when made,
        False when its account does not exist, None when its name was taken."""
        def work(conn: sqlite3.Connection) -> list[bool | None]:
            out: list[bool | None] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for values in rows:
                    try:  # a failed statement is undone alone, the transaction goes on
                        out.append(conn.execute(_INSERT_USER,
                                                (*values, values[1])).rowcount == 1)
                    except sqlite3.IntegrityError:
                        out.append(None)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return out

        return await self._gated(work)

    async def _gated(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the loop's connection, holding the engine's write gate."""
        gate = self.gate
        if gate is not None and not gate.try_acquire():
            await gate.acquire()
        try:
            return await self._sql.run(work)
        finally:
            if gate is not None:
                gate.release()

    def close(self) -> None:
        self._sql.close()


FAST = RuntimeKey[FastIam | None](_SERVICE)


def for_cloud(cloud: Cloud) -> FastIam | None:
    """The process's :class:`FastIam` (made on first use), None when not on file SQLite."""

    def make() -> FastIam | None:
        url = cloud.engine.url
        database = url.database
        if str(url.drivername).startswith("sqlite") and database and \
                database != ":memory:" and not database.startswith("file:"):
            return FastIam(str(database), gate_for(cloud.engine))
        return None

    found: FastIam | None = cloud.runtime.setdefault(FAST, make)
    return found
