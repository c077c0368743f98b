"""The hot object statements on SQLite, on plain ``sqlite3`` connections.

Owns two statements that every small PUT and GET runs: installing a new null
version in a bucket that was never versioned (the old null version's blob id, then an
upsert of the null version in place, one transaction) and reading the current version of a
key (with its inline bytes, see ``inline.py``); also the bucket row the 1-second bucket
cache reloads. Through SQLAlchemy's ORM and aiosqlite each costs a session, a pooled
connection, several thread hops and the ORM's unit of work, ~2-7 ms of CPU per
request on this project's 2-core hosts; here it is a handful of C calls on the
event loop's own connection, which never waits: it has no busy timeout (a locked
database sends the statement to a dedicated writer or reader thread, which waits
as the engine does) and no automatic WAL checkpoint (the writer thread runs one
every ``CHECKPOINT_EVERY`` inline commits).

The rows written are the rows the ORM would write (same columns, same datetime
text format, booleans as 0/1), so every other path (listing, versioning, the
ORM) reads them unchanged. Durability is the engine's: WAL with
``synchronous=NORMAL`` (a committed row survives a killed process; see
docs/s3.md). PostgreSQL writes on the ORM path and reads in ``pgsql.py``.

Must not: handle versioned buckets, delete markers or conflicts (callers fall
back to the ORM path, which does); block the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudctl.db.loopsql import LoopSqlite
from cloudctl.db.writegate import WriteGate, gate_for
from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
from cloudctl.services.s3.models import S3Bucket, S3Object, built, object_row

# the rows' columns, shared with the PostgreSQL reads (``pgsql``)
OBJECT_COLUMNS = ("seq", "bucket", "key", "version_id", "latest", "delete_marker", "blob_id", "size",
            "etag", "last_modified", "owner_account", "storage_class", "headers", "acl", "tags",
            "sse_key", "parts", "inline_data")
QUOTED_OBJECT_COLUMNS = ", ".join(f'"{c}"' for c in OBJECT_COLUMNS)
_SELECT_CURRENT = (f"SELECT {QUOTED_OBJECT_COLUMNS} FROM s3_objects "
                   "WHERE bucket = ? AND \"key\" = ? AND latest = 1")
BUCKET_COLUMNS = ("name", "account_id", "region", "created_at", "versioning", "acl", "policy",
                   "lifecycle", "cors", "tags", "encryption", "public_access", "ownership",
                   "object_lock", "logging", "website", "replication", "request_payment",
                   "accelerate", "inventory")
_SELECT_BUCKET = (f"SELECT {', '.join(BUCKET_COLUMNS)} FROM s3_buckets WHERE name = ?")
_NULL_BLOB = ("SELECT blob_id FROM s3_objects "
              "WHERE bucket = ? AND \"key\" = ? AND version_id = 'null'")
# The null version is replaced in place: an overwrite changes the row and none of the
# indexed columns, so one table page (not three b-trees twice) goes to the WAL.
_UPSERT_NULL = (f"INSERT INTO s3_objects ({QUOTED_OBJECT_COLUMNS.partition(', ')[2]}) "
                f"VALUES ({', '.join('?' * (len(OBJECT_COLUMNS) - 1))}) "
                "ON CONFLICT (bucket, \"key\", version_id) DO UPDATE SET "
                + ", ".join(f'"{c}" = excluded."{c}"' for c in OBJECT_COLUMNS
                            if c not in ("seq", "bucket", "key", "version_id"))
                + " RETURNING seq")


_FLUSHES: set[asyncio.Task[Any]] = set()  # group commits in flight (a task needs a holder)
CHECKPOINT_EVERY = 200  # inline commits between WAL checkpoints on the writer thread


class Conflict(Exception):
    """The install broke a constraint; the caller retries on the ORM path."""


def _text(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite ``DateTime`` stores it (UTC, no zone)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _put_null(conn: sqlite3.Connection, values: tuple[Any, ...]) -> tuple[int, list[str]]:
    """Install ``values`` as the null version (inside the caller's transaction): the seq
    of the row and the blob ids the replaced null version no longer needs. Raises
    IntegrityError when another version is current."""
    old = [r[0] for r in conn.execute(_NULL_BLOB, values[:2]).fetchall() if r[0]]
    seq = int(conn.execute(_UPSERT_NULL, values).fetchone()[0])
    return seq, [blob for blob in old if blob != values[5]]


class FastObjects:
    """Raw ``sqlite3`` statements for PUT/GET of current versions; see the module docstring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.inline_reads = True
        self._sql = LoopSqlite(path, "s3-sql-write", pragmas=("synchronous=NORMAL",
                                                                "foreign_keys=ON"),
                               manual_checkpoints=True)  # its thread is the writer
        self._read = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-sql-read")
        self._inline_commits = 0
        self.gate: WriteGate | None = None  # the engine's, shared with the ORM's writes
        self._group: list[tuple[tuple[Any, ...],
                                asyncio.Future[tuple[int, list[str]] | Conflict]]] = []

    # -- reads ---------------------------------------------------------------

    async def _query(self, statement: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The first row of ``statement`` on the event loop's connection: a WAL reader does
        not wait for writers, and one indexed row costs less than a hop to a thread. It
        never waits for a lock there (WAL recovery, a checkpoint truncating): on one, the
        reader thread runs it with the engine's busy timeout."""
        def read(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            # fetchall: the statement is reset at once, so no read snapshot stays open
            rows = conn.execute(statement, args).fetchall()
            return tuple(rows[0]) if rows else None

        if self.inline_reads:
            return await self._sql.run(read, self._read)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read, lambda: read(self._sql.conn()))

    async def current(self, bucket: str, key: str) -> S3Object | None:
        """The current version of ``key`` (maybe a delete marker), None when there is none."""
        values = await self._query(_SELECT_CURRENT, (bucket, key))
        if values is None:
            return None
        fields = dict(zip(OBJECT_COLUMNS, values, strict=True))
        fields["latest"] = True if fields["latest"] else None
        fields["delete_marker"] = bool(fields["delete_marker"])
        fields["last_modified"] = _parse(fields["last_modified"])
        return object_row(**fields)

    async def bucket(self, name: str) -> S3Bucket | None:
        """A detached row of bucket ``name`` (None: no such bucket)."""
        values = await self._query(_SELECT_BUCKET, (name,))
        if values is None:
            return None
        fields = dict(zip(BUCKET_COLUMNS, values, strict=True))
        fields["created_at"] = _parse(fields["created_at"])
        return built(S3Bucket, **fields)

    # -- writes --------------------------------------------------------------

    @staticmethod
    def _install(batch: list[tuple[Any, ...]],
                 conn: sqlite3.Connection) -> list[tuple[int, list[str]] | Conflict]:
        """Installs in one transaction (one commit: one round of WAL writes and file locks
        for all). Each writes with one statement (the upsert), so a conflict rolls back
        that statement only and the others commit."""
        conn.execute("BEGIN IMMEDIATE")
        out: list[tuple[int, list[str]] | Conflict] = []
        try:
            for values in batch:
                try:
                    out.append(_put_null(conn, values))
                except sqlite3.IntegrityError:
                    out.append(Conflict())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    async def install_null(self, row: S3Object, *, grouped: bool = False) -> list[str]:
        """Make ``row`` the null and current version of its key in a never-versioned bucket.

        Returns the blob ids the replaced null version used; raises :class:`Conflict`
        (nothing written) when another version is current (the bucket's versioning
        changed since the caller's snapshot). ``grouped``: other requests are in flight,
        so wait for the end of this loop iteration and commit with the installs they
        queue meanwhile (group commit); alone, commit at once.
        """
        row.version_id = "null"
        row.latest = True
        values = (row.bucket, row.key, "null", 1, 1 if row.delete_marker else 0, row.blob_id,
                  row.size, row.etag, _text(row.last_modified), row.owner_account,
                  row.storage_class, row.headers, row.acl, row.tags, row.sse_key, row.parts,
                  row.inline_data)
        loop = asyncio.get_running_loop()
        if grouped:
            done: asyncio.Future[tuple[int, list[str]] | Conflict] = loop.create_future()
            self._group.append((values, done))
            if len(self._group) == 1:
                loop.call_soon(self._flush_group)
            result = await done
        else:
            (result,) = await self._write_batch([values])
        if isinstance(result, Conflict):
            raise Conflict()
        row.seq, garbage = result
        return garbage

    async def _write_batch(self, batch: list[tuple[Any, ...]]
                           ) -> list[tuple[int, list[str]] | Conflict]:
        """Install ``batch`` holding the engine's write gate (``cloudctl/db/writegate.py``):
        on the event loop when SQLite's write lock is free at once (a WAL commit with
        synchronous=NORMAL writes to the page cache, no fsync: cheaper than a hop to the
        writer thread); on the writer thread when a writer outside the gate holds it."""
        gate = self.gate
        if gate is not None and not gate.try_acquire():
            await gate.acquire()
        try:
            results = await self._sql.run(lambda conn: self._install(batch, conn))
            self._committed(len(batch))
            return results
        finally:
            if gate is not None:
                gate.release()

    def _flush_group(self) -> None:
        group, self._group = self._group, []
        batch = [values for values, _ in group]

        def settle(task: asyncio.Task[list[tuple[int, list[str]] | Conflict]]) -> None:
            failure = None if task.cancelled() else task.exception()
            for index, (_, done) in enumerate(group):
                if done.done():
                    continue
                if task.cancelled():
                    done.cancel()
                elif failure is not None:
                    done.set_exception(failure)
                else:
                    done.set_result(task.result()[index])

        task = asyncio.get_running_loop().create_task(self._write_batch(batch))
        _FLUSHES.add(task)
        task.add_done_callback(_FLUSHES.discard)
        task.add_done_callback(settle)

    def _committed(self, count: int) -> None:
        before = self._inline_commits
        self._inline_commits += count
        if before // CHECKPOINT_EVERY != self._inline_commits // CHECKPOINT_EVERY:
            self._sql.thread.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        self._sql.conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Stop the threads (their connections close with them)."""
        self._sql.close()
        self._read.shutdown(wait=False)


def loop_busy() -> bool:
    """Whether callbacks are waiting to run on this event loop (other requests' tasks,
    typically). asyncio keeps them in the loop's ``_ready`` queue; a loop without one
    (another implementation) reads as idle, which only turns group commit off."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return bool(ready)


FAST = RuntimeKey[FastObjects | None]("s3.fastsql")


def for_cloud(cloud: Cloud) -> FastObjects | None:
    """The process's :class:`FastObjects` (made on first use), None when not on SQLite."""
    def make() -> FastObjects | None:
        fast_objects = for_engine(cloud.engine.url)
        if fast_objects is not None:
            fast_objects.gate = gate_for(cloud.engine)
        return fast_objects

    fast: FastObjects | None = cloud.runtime.setdefault(FAST, make)
    return fast


def for_engine(url: Any) -> FastObjects | None:
    """A :class:`FastObjects` for a file-backed SQLite engine URL, else None."""
    if not str(url.drivername).startswith("sqlite"):
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return FastObjects(str(database))
