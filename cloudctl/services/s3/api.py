"""S3's public API: what other parts of the cloud may ask of S3 (never its tables).

- ``storage_usage(cloud)``: per bucket and storage class, the bytes and object
  versions stored (the source of the AWS/S3 daily storage metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from cloudctl.services.s3.models import S3Bucket, S3Object

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["BucketUsage", "storage_usage"]


@dataclass(frozen=True)
class BucketUsage:
    """What one bucket stores in one storage class: every version but delete markers."""

    bucket: str
    account_id: str
    region: str
    storage_class: str
    size_bytes: int
    objects: int


async def storage_usage(cloud: Cloud, buckets: list[str] | None = None) -> list[BucketUsage]:
    """Usage of ``buckets`` (every bucket when None), one entry per storage class in use;
    a bucket that holds nothing has one STANDARD entry of zero."""
    query = select(S3Bucket.name, S3Bucket.account_id, S3Bucket.region)
    if buckets is not None:
        query = query.where(S3Bucket.name.in_(buckets))
    usage = (select(S3Object.bucket, S3Object.storage_class, func.sum(S3Object.size),
                    func.count()).where(S3Object.delete_marker.is_(False))
             .group_by(S3Object.bucket, S3Object.storage_class))
    if buckets is not None:
        usage = usage.where(S3Object.bucket.in_(buckets))
    async with cloud.sessions() as session:
        owners = {name: (account, region)
                  for name, account, region in (await session.execute(query)).tuples()}
        rows = list((await session.execute(usage)).tuples())
    out: list[BucketUsage] = []
    seen: set[str] = set()
    for bucket, storage_class, size, count in rows:
        if bucket not in owners:
            continue
        account, region = owners[bucket]
        seen.add(bucket)
        out.append(BucketUsage(bucket, account, region, str(storage_class or "STANDARD"),
                               int(size or 0), int(count or 0)))
    for bucket, (account, region) in owners.items():
        if bucket not in seen:
            out.append(BucketUsage(bucket, account, region, "STANDARD", 0, 0))
    return sorted(out, key=lambda u: (u.bucket, u.storage_class))
