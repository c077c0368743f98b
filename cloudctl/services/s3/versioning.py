"""Version bookkeeping: which row is current, null versions, delete markers.

Every function runs inside the caller's transaction and returns the blob ids that
no row references any more; the caller deletes those blobs after commit (a crash
in between leaves an orphan blob, which the reconcile loop removes).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from cloudctl.services.s3.errors import no_such_key, no_such_version, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object

NULL = "null"


def new_version_id() -> str:
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


async def _drop_null(session: AsyncSession, bucket: str, key: str) -> list[str]:
    rows = (await session.execute(delete(S3Object).where(
        S3Object.bucket == bucket, S3Object.key == key, S3Object.version_id == NULL
    ).returning(S3Object.blob_id))).all()
    return [r.blob_id for r in rows if r.blob_id]


async def _demote(session: AsyncSession, bucket: str, key: str) -> None:
    await session.execute(update(S3Object).where(
        S3Object.bucket == bucket, S3Object.key == key, S3Object.latest.is_(True)
    ).values(latest=None))


async def install(session: AsyncSession, bucket: S3Bucket, row: S3Object) -> list[str]:
    """Make ``row`` (not yet added) the current version of its key."""
    garbage: list[str] = []
    if bucket.versioning == "Enabled":
        row.version_id = new_version_id()
    else:
        row.version_id = NULL
        garbage = await _drop_null(session, bucket.name, row.key)
    if bucket.versioning:  # never versioned: the null version was the only row
        await _demote(session, bucket.name, row.key)
    row.latest = True
    session.add(row)
    await session.flush()
    return garbage


async def current(session: AsyncSession, bucket: str, key: str,
                  version_id: str | None = None) -> S3Object:
    """The current version (or ``version_id``); NoSuchKey/NoSuchVersion otherwise."""
    # one row: its inline bytes come with it (deferred for listings), one round trip
    query = select(S3Object).options(undefer(S3Object.inline_data)).where(
        S3Object.bucket == bucket, S3Object.key == key)
    if version_id is not None:
        row = (await session.execute(query.where(S3Object.version_id == version_id))
               ).scalar_one_or_none()
        if row is None:
            if version_id != NULL and not _plausible(version_id):
                raise s3_error("InvalidArgument", "Invalid version id specified",
                               ArgumentName="versionId", ArgumentValue=version_id)
            raise no_such_version(key, version_id)
        if row.delete_marker:
            raise s3_error("MethodNotAllowed", "The specified method is not allowed against "
                           "this resource.", 405, Method="GET", ResourceType="DeleteMarker",
                           headers={"x-amz-delete-marker": "true",
                                    "x-amz-version-id": row.version_id})
        return row
    row = (await session.execute(query.where(S3Object.latest.is_(True)))).scalar_one_or_none()
    if row is None:
        raise no_such_key(bucket, key)
    if row.delete_marker:
        error = no_such_key(bucket, key)
        error.headers["x-amz-delete-marker"] = "true"
        error.headers["x-amz-version-id"] = row.version_id
        raise error
    return row


async def lock_key(session: AsyncSession, bucket: str, key: str) -> None:
    """Serialise conditional writers of one key until the transaction ends. PostgreSQL
    (READ COMMITTED) would let a second writer that read before the first committed
    replace its version without a conflict; an advisory lock per key orders them. On
    SQLite the process's writer lock (``S3Provider.writer``) does."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                              {"k": f"{bucket}/{key}"})


async def current_etag(session: AsyncSession, bucket: str, key: str) -> str | None:
    """The ETag of the current version of ``key``; None when it has none (or a delete
    marker is current)."""
    found = (await session.execute(select(S3Object.etag, S3Object.delete_marker).where(
        S3Object.bucket == bucket, S3Object.key == key, S3Object.latest.is_(True)))).first()
    return None if found is None or found.delete_marker else str(found.etag)


def _plausible(version_id: str) -> bool:
    return 8 <= len(version_id) <= 64 and version_id.isalnum()


async def remove(session: AsyncSession, bucket: S3Bucket, key: str, owner: str,
                 version_id: str | None) -> tuple[list[str], dict[str, object]]:
    """DeleteObject semantics; returns garbage blob ids and the output members."""
    if version_id is not None:
        row = (await session.execute(select(S3Object).where(
            S3Object.bucket == bucket.name, S3Object.key == key,
            S3Object.version_id == version_id))).scalar_one_or_none()
        if row is None:
            return [], {"VersionId": version_id}
        was_latest = bool(row.latest)
        out: dict[str, object] = {"VersionId": row.version_id}
        if row.delete_marker:
            out["DeleteMarker"] = True
        garbage = [row.blob_id] if row.blob_id else []
        await session.execute(delete(S3Object).where(S3Object.seq == row.seq))
        if was_latest:
            newest = (await session.execute(select(S3Object).where(
                S3Object.bucket == bucket.name, S3Object.key == key
            ).order_by(S3Object.seq.desc()).limit(1))).scalar_one_or_none()
            if newest is not None:
                newest.latest = True
        await session.flush()
        return garbage, out
    if not bucket.versioning:
        return await _drop_null(session, bucket.name, key), {}
    garbage = await _drop_null(session, bucket.name, key) if bucket.versioning == "Suspended" \
        else []
    marker = S3Object(bucket=bucket.name, key=key, delete_marker=True, owner_account=owner,
                      last_modified=datetime.now(UTC).replace(microsecond=0),
                      version_id=new_version_id() if bucket.versioning == "Enabled" else NULL)
    await _demote(session, bucket.name, key)
    marker.latest = True
    session.add(marker)
    await session.flush()
    return garbage, {"DeleteMarker": True, "VersionId": marker.version_id}
