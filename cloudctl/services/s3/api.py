"""S3's public API: what other parts of the cloud may ask of S3 (never its tables).

- ``storage_usage(cloud)``: per bucket and storage class, the bytes and object
  versions stored (the source of the AWS/S3 daily storage metrics);
- ``deliver_object(cloud, bucket, key, body, content_type, principals)``: an object a
  cloud service writes into a customer's bucket (ELB access logs), only when the
  bucket policy allows one of the service's principals to put it there.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from cloudctl.services.s3.models import S3Bucket, S3Object

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["BucketUsage", "deliver_object", "storage_usage"]


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


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows_put(policy: str | None, bucket: str, key: str,
                      principals: Sequence[str]) -> bool:
    """Whether ``policy`` has an Allow statement for one of ``principals`` (a service
    name or an AWS principal ARN), ``s3:PutObject`` and a resource matching the key
    (no Deny statement naming them for it)."""
    if not policy:
        return False
    try:
        statements = _listed(json.loads(policy).get("Statement") or [])
    except (ValueError, AttributeError):
        return False
    target = f"arn:aws:s3:::{bucket}/{key}"
    verdict = False
    for st in statements:
        if not isinstance(st, dict):
            continue
        who = st.get("Principal")
        named = ([*_listed(who.get("Service", [])), *_listed(who.get("AWS", []))]
                 if isinstance(who, dict) else _listed(who))
        actions = [str(a).lower() for a in _listed(st.get("Action") or [])]
        resources = [str(r) for r in _listed(st.get("Resource") or [])]
        if not (any(p in principals or p == "*" for p in named)
                and any(a in ("s3:putobject", "s3:*", "*") for a in actions)
                and any(fnmatch.fnmatchcase(target, r) for r in resources)):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            verdict = True
    return verdict


async def deliver_object(cloud: Cloud, bucket: str, key: str, body: bytes,
                         content_type: str, principals: Sequence[str]) -> bool:
    """Store ``body`` at ``key`` in ``bucket`` (owned by the bucket's account, private)
    when the bucket policy allows one of ``principals`` to put it; False (nothing
    written) when the bucket does not exist or the policy does not allow it."""
    from cloudctl.services.s3 import delivery
    from cloudctl.services.s3.base import S3Provider

    async with cloud.sessions() as session:
        target = await session.get(S3Bucket, bucket)
    if target is None or not policy_allows_put(target.policy, bucket, key, principals):
        return False
    provider = next((p for p in cloud.providers if isinstance(p, S3Provider)), None)
    if provider is None:
        return False
    await delivery.put_object(provider, target, key, body, content_type)
    return True
