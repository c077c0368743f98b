"""The raw SQLite statements of S3's hot path: group commit of concurrent installs.

Runs against a real SQLite file with the project's schema (the S3 tables made by the
ORM metadata), in WAL mode as the server runs it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from cloudctl.db.base import Base
from cloudctl.services.s3 import fastsql, pgsql
from cloudctl.services.s3.models import S3Bucket, S3Object, object_row


@pytest.fixture()
def database(tmp_path: Path) -> str:
    path = tmp_path / "cloud.db"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[S3Bucket.__table__, S3Object.__table__])
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("INSERT INTO s3_buckets (name, account_id, region, created_at, versioning, "
                 "acl) VALUES ('b', '111122223333', 'r', '2026-01-01 00:00:00.000000', '', "
                 "'{}')")
    # "locked" already has a current version that is not the null one (as after the
    # bucket was versioned): installing a null current version must conflict
    conn.execute("INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, "
                 "size, etag, last_modified, owner_account, storage_class, headers, acl, "
                 "parts) VALUES ('b', 'locked', 'v1', 1, 0, 0, 'e', "
                 "'2026-01-01 00:00:00.000000', '111122223333', 'STANDARD', '{}', '{}', 0)")
    conn.close()
    return str(path)


def _row(key: str, data: bytes) -> S3Object:
    return object_row(bucket="b", key=key, blob_id=None, size=len(data), etag="e",
                      last_modified=datetime.now(UTC), owner_account="111122223333",
                      storage_class="STANDARD", headers="{}", acl="{}", tags=None,
                      sse_key=None, parts=0, delete_marker=False, inline_data=data)


def test_grouped_installs_commit_together_and_a_conflict_stays_alone(database: str) -> None:
    fast = fastsql.FastObjects(database)

    async def run() -> list[object]:
        rows = [_row(f"k{i}", bytes([i]) * 100) for i in range(5)]
        rows.insert(2, _row("locked", b"x"))
        rows.append(_row("k0", b"again"))  # same key twice in one group: the last wins
        return await asyncio.gather(*(fast.install_null(r, grouped=True) for r in rows),
                                    return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        fast.close()
    assert isinstance(results[2], fastsql.Conflict)
    assert [r for i, r in enumerate(results) if i != 2] == [[]] * 6
    conn = sqlite3.connect(database)
    rows = dict(conn.execute("SELECT key, inline_data FROM s3_objects "
                             "WHERE version_id = 'null' AND latest = 1").fetchall())
    assert rows == {"k0": b"again", **{f"k{i}": bytes([i]) * 100 for i in range(1, 5)}}
    assert conn.execute("SELECT version_id FROM s3_objects WHERE key = 'locked'").fetchall() \
        == [("v1",)]


def test_group_commit_happens_only_when_the_loop_has_other_work(database: str) -> None:
    fast = fastsql.FastObjects(database)

    async def run() -> tuple[bool, bool]:
        alone = fastsql.loop_busy()
        asyncio.get_running_loop().call_soon(lambda: None)
        busy = fastsql.loop_busy()
        await asyncio.sleep(0)
        return alone, busy

    try:
        assert asyncio.run(run()) == (False, True)
    finally:
        fast.close()


def test_raw_statements_name_every_column_of_their_tables() -> None:
    """A column added to the models must reach the raw statements too (a GET on the fast
    path would otherwise miss it, and a PUT leave it NULL), on SQLite and PostgreSQL."""
    assert list(fastsql.OBJECT_COLUMNS) == [c.name for c in S3Object.__table__.columns]
    assert list(fastsql.BUCKET_COLUMNS) == [c.name for c in S3Bucket.__table__.columns]
    assert pgsql.OBJECT_COLUMNS is fastsql.OBJECT_COLUMNS
    assert pgsql.BUCKET_COLUMNS is fastsql.BUCKET_COLUMNS


def test_reads_return_the_rows_the_orm_reads(database: str) -> None:
    fast = fastsql.FastObjects(database)

    async def run() -> tuple[S3Bucket | None, S3Object | None, S3Bucket | None]:
        await fast.install_null(_row("k", b"data"))
        return await fast.bucket("b"), await fast.current("b", "k"), await fast.bucket("x")

    try:
        bucket, row, missing = asyncio.run(run())
    finally:
        fast.close()
    assert missing is None
    assert bucket is not None and (bucket.name, bucket.account_id) == ("b", "111122223333")
    assert bucket.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert row is not None and (row.key, row.version_id, row.latest) == ("k", "null", True)
    assert row.inline_data == b"data" and row.size == 4


def test_an_overwrite_replaces_the_null_version_in_place(database: str) -> None:
    """The replaced version's blob id comes back (its blob is deleted after the
    commit), the row keeps its seq, every column takes the new values."""
    fast = fastsql.FastObjects(database)

    async def run() -> tuple[list[str], list[str], int, int]:
        first = object_row(bucket="b", key="k", blob_id="0000000001-blob", size=2 << 20,
                           etag="old", last_modified=datetime.now(UTC),
                           owner_account="111122223333", storage_class="STANDARD",
                           headers="{}", acl="{}", tags='{"a":"1"}', sse_key=None, parts=0,
                           delete_marker=False, inline_data=None)
        garbage_first = await fast.install_null(first)
        second = _row("k", b"now inline")
        garbage_second = await fast.install_null(second)
        return garbage_first, garbage_second, first.seq, second.seq

    try:
        garbage_first, garbage_second, seq_first, seq_second = asyncio.run(run())
    finally:
        fast.close()
    assert garbage_first == [] and garbage_second == ["0000000001-blob"]
    assert seq_first == seq_second
    conn = sqlite3.connect(database)
    assert conn.execute("SELECT blob_id, size, etag, tags, inline_data FROM s3_objects "
                        "WHERE key = 'k'").fetchall() == [(None, 10, "e", None, b"now inline")]
