"""PutMetricData's group commit on SQLite, on a plain ``sqlite3`` connection.

Owns the one write every PutMetricData makes on the embedded store: the catalog rows
(``cw_metrics``, ListMetrics), the buckets (``cw_fresh``, merged on conflict) of the
general path's calls and the ingest log's row of the usual ones (``ingestlog``) a
flush of ``store.StoreHolder`` gathered, in one transaction; and the log's drain. Through
SQLAlchemy and aiosqlite that transaction cost ~2 ms of CPU (a session, a pooled
connection, one thread hop per statement and for BEGIN and COMMIT); here it is a few C
calls on the event loop's own connection, as S3's small PUTs do
(``cloudctl/services/s3/fastsql.py``): it never waits on the loop (no busy timeout;
when a writer outside the engine's write gate holds SQLite's lock, the writer thread
runs the transaction with the engine's busy timeout) and checkpoints the WAL on the
writer thread every ``CHECKPOINT_EVERY`` commits.

The rows are the ORM's (same columns, same datetime text, booleans as 0/1), written
by the same upserts as ``store.write_points``. Durability is the engine's: WAL with
``synchronous=NORMAL``, so a committed flush survives a killed process, and a call is
answered only after the commit that holds its data.

Must not: block the event loop on a lock; write outside the engine's write gate.
PostgreSQL and Cassandra keep their paths.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from cloudctl.db.loopsql import LoopSqlite
from cloudctl.db.writegate import WriteGate
from cloudctl.services.cloudwatch import ingestlog

T = TypeVar("T")

CHECKPOINT_EVERY = 200  # commits on the event loop between WAL checkpoints
_CATALOG = ("INSERT INTO cw_metrics (key, account_id, region, namespace, name, dimensions, "
            "last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen")


def stamp_text(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite ``DateTime`` stores it (UTC, no zone)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def catalog_row(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["key"], row["account_id"], row["region"], row["namespace"], row["name"],
            row["dimensions"], stamp_text(row["last_seen"]))


class FastPoints:
    """Raw ``sqlite3`` writes of catalog rows and buckets; see the module docstring."""

    def __init__(self, path: str, gate: WriteGate | None, upsert: str) -> None:
        self.path = path
        self.gate = gate
        self.upsert = upsert
        self.commits = 0
        self._sql = LoopSqlite(path, "cw-sql-write", pragmas=("synchronous=NORMAL",),
                               manual_checkpoints=True)
        self._writer = self._sql.thread

    def _write(self, catalog: Sequence[tuple[Any, ...]], points: Sequence[tuple[Any, ...]],
               logged: bytes | None, busy_ms: int = 30000) -> None:
        conn = self._sql.conn(busy_ms)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if catalog:
                conn.executemany(_CATALOG, catalog)
            if points:
                conn.executemany(self.upsert, points)
            if logged is not None:
                conn.execute(ingestlog.APPEND, (logged,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def write(self, catalog: Sequence[tuple[Any, ...]],
                    points: Sequence[tuple[Any, ...]], logged: bytes | None = None) -> None:
        """Commit ``catalog`` rows, ``points`` (``store.write_points``' row tuples) and
        the ingest log's row ``logged`` (``ingestlog.pack``) together, holding the
        engine's write gate."""
        await self._gated(self._write, catalog, points, logged)

    async def drain(self) -> int:
        """Move the ingest log into its ``cw_fresh`` rows (one transaction); the log
        rows moved."""
        return await self._gated(self._drain)

    def _drain(self, busy_ms: int = 30000) -> int:
        conn = self._sql.conn(busy_ms)
        conn.execute("BEGIN IMMEDIATE")
        try:
            logged = conn.execute(ingestlog.DRAIN).fetchall()
            if logged:
                conn.executemany(self.upsert, ingestlog.drained(logged))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(logged)

    async def _gated(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args, busy_ms)`` holding the write gate: on the loop's connection,
        or on the writer thread when a writer outside the gate holds SQLite's lock."""
        gate = self.gate
        if gate is not None and not gate.try_acquire():
            await gate.acquire()
        try:
            try:
                done = work(*args, 0)
            except sqlite3.OperationalError:  # locked by a writer outside the gate
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._writer, work, *args)
        finally:
            if gate is not None:
                gate.release()
        self.commits += 1
        if self.commits % CHECKPOINT_EVERY == 0:
            self._writer.submit(self._checkpoint)
        return done

    def _checkpoint(self) -> None:
        self._sql.conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self._writer.shutdown(wait=False)


def for_engine(url: Any, gate: WriteGate | None, upsert: str) -> FastPoints | None:
    """A :class:`FastPoints` for a file-backed SQLite engine URL, else None."""
    if not str(url.drivername).startswith("sqlite"):
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return FastPoints(str(database), gate, upsert)
