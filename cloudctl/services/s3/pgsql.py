"""The hot object reads on PostgreSQL: one autocommit round trip each.

The twin of ``fastsql.py``'s reads for PostgreSQL: the current version of a key (with
its inline bytes) that every GET and HEAD reads, and the bucket row the 1-second
bucket cache reloads, as single prepared statements on ``cloudctl/db/pgreads.py``'s
connections instead of an ORM session (BEGIN, SELECT, ROLLBACK: three round trips).
A statement in autocommit sees every transaction committed before it starts, so a
GET sees the latest acknowledged PUT, as through a session.

A GET or HEAD of a key without a query string starts its current-version read before
the request is authenticated (``early_current``, from S3's request hook): the read's
round trip runs while the lookup waits for the credential epoch, instead of after it.
The handler uses it only for the same bucket and key, once authorized; it started
after the request arrived, as a read after authentication does.

The rows come back as the ORM would build them (same attributes, detached), so the
callers use them unchanged. Must not: read versions by id, delete markers' errors or
anything needing a snapshot across statements (the ORM path does).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloudctl.db import pgreads
from cloudctl.services.s3.fastsql import BUCKET_COLUMNS, OBJECT_COLUMNS, QUOTED_OBJECT_COLUMNS
from cloudctl.services.s3.models import S3Bucket, S3Object, built, object_row

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

_SELECT_CURRENT = (f"SELECT {QUOTED_OBJECT_COLUMNS} FROM s3_objects "
                   "WHERE bucket = %s AND \"key\" = %s AND latest = true")
_SELECT_BUCKET = f"SELECT {', '.join(BUCKET_COLUMNS)} FROM s3_buckets WHERE name = %s"


class PgObjects:
    """Current-version and bucket reads on PostgreSQL; see the module docstring."""

    def __init__(self, reads: pgreads.PgReads) -> None:
        self.reads = reads

    async def current(self, bucket: str, key: str) -> S3Object | None:
        """The current version of ``key`` (maybe a delete marker), None when there is none."""
        values = await self.reads.one(_SELECT_CURRENT, (bucket, key))
        if values is None:
            return None
        fields = dict(zip(OBJECT_COLUMNS, values, strict=True))
        if fields["inline_data"] is not None:
            fields["inline_data"] = bytes(fields["inline_data"])
        return object_row(**fields)

    async def bucket(self, name: str) -> S3Bucket | None:
        """A detached row of bucket ``name`` (None: no such bucket)."""
        values = await self.reads.one(_SELECT_BUCKET, (name,))
        if values is None:
            return None
        return built(S3Bucket, **dict(zip(BUCKET_COLUMNS, values, strict=True)))


@dataclass(frozen=True)
class EarlyCurrent:
    """The current-version read of ``bucket``/``key`` a request started on arrival."""

    bucket: str
    key: str
    read: asyncio.Task[S3Object | None]

    def of(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key == self.key


def _retrieved(task: asyncio.Task[S3Object | None]) -> None:
    if not task.cancelled():
        task.exception()  # a read nobody awaited (the request refused) fails quietly


def early_current(objects: PgObjects, bucket: str, key: str) -> EarlyCurrent:
    """Start reading the current version of ``key`` (see the module docstring)."""
    read = asyncio.get_running_loop().create_task(objects.current(bucket, key))
    read.add_done_callback(_retrieved)
    return EarlyCurrent(bucket, key, read)


def for_cloud(cloud: Cloud) -> PgObjects | None:
    """The reads for ``cloud``'s database, None unless PostgreSQL over psycopg."""
    reads = pgreads.for_cloud(cloud)
    return PgObjects(reads) if reads is not None else None
