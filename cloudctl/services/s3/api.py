"""S3's public API: the typed functions other services call (never S3's tables).

Each function acts as ``caller`` (``cloudctl.server.internal.Caller``), authorised as
that principal exactly as the same request would be; failures are S3's ``AwsError``.

- buckets: ``create_bucket``, ``create_buckets`` and ``delete_buckets`` (many in one
  transaction), ``bucket_exists``, ``delete_bucket``;
- bucket configuration: ``put_versioning``, ``put_lifecycle``, ``delete_lifecycle``,
  ``put_cors``, ``delete_cors``, ``put_encryption``, ``delete_encryption``,
  ``put_tagging``, ``put_policy``, ``delete_policy``;
- ``get_object``: an object's body (templates stored in the cloud's S3);
- ``storage_usage(cloud)``: per bucket and storage class, the bytes and object
  versions stored (the source of the AWS/S3 daily storage metrics); not on behalf of a
  caller: the cloud's own metrics;
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

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call, each_authorized, refusal
from cloudctl.services.s3.models import S3Bucket, S3Object

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.context import RequestContext

__all__ = [
    "BucketUsage", "Caller", "deliver_object", "policy_allows_put", "storage_usage", "bucket_exists", "create_bucket", "create_buckets", "delete_bucket", "delete_buckets", "delete_cors",
    "delete_encryption", "delete_lifecycle", "delete_policy", "get_object", "put_cors",
    "put_encryption", "put_lifecycle", "put_policy", "put_tagging", "put_versioning",
]


async def _s3(cloud: Cloud, caller: Caller, operation: str,
              params: dict[str, Any]) -> dict[str, Any]:
    return await call(cloud, caller, "s3", operation, params)


async def create_bucket(cloud: Cloud, caller: Caller, name: str, *, region: str,
                        acl: str | None = None) -> None:
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if acl:
        params["ACL"] = acl
    await _s3(cloud, caller, "CreateBucket", params)


async def create_buckets(cloud: Cloud, caller: Caller, names: Sequence[str], *,
                         region: str) -> list[AwsError | None]:
    """Many private ``CreateBucket`` as ``caller`` in one transaction: None for each
    bucket made, or the error its own call would have answered (only that one is not
    made)."""
    from cloudctl.services.s3 import buckets

    if region != cloud.region:  # each refused as its own call would be
        return [await refusal(create_bucket(cloud, caller, name, region=region))
                for name in names]

    async def make(allowed: list[int], _: list[Any]) -> list[AwsError | None]:
        return await buckets.create_buckets(cloud, caller.credential.account_id,
                                            [names[i] for i in allowed])

    located = {"CreateBucketConfiguration": {"LocationConstraint": region}} \
        if region != "us-east-1" else {}
    return await each_authorized(cloud, caller, "s3", "CreateBucket",
                                 [{"Bucket": name, **located} for name in names], make)


async def bucket_exists(cloud: Cloud, caller: Caller, name: str) -> bool:
    try:
        await _s3(cloud, caller, "HeadBucket", {"Bucket": name})
    except AwsError as error:
        if error.code in ("NoSuchBucket", "NotFound", "404") or error.status == 404:
            return False
        raise
    return True


async def delete_bucket(cloud: Cloud, caller: Caller, name: str) -> None:
    try:
        await _s3(cloud, caller, "DeleteBucket", {"Bucket": name})
    except AwsError as error:
        if error.code != "NoSuchBucket":
            raise


async def delete_buckets(cloud: Cloud, caller: Caller,
                         names: Sequence[str]) -> list[AwsError | None]:
    """Many ``DeleteBucket`` as ``caller``, authorised each, in one transaction: None
    for each bucket deleted or already gone (as ``delete_bucket``), or the error its
    own call would have answered (BucketNotEmpty, AccessDenied...: only that bucket
    stays). A concurrent change that fails the transaction: each is then its own call."""
    from cloudctl.services.s3 import buckets

    async def make(allowed: list[int], ctxs: list[RequestContext]
                   ) -> list[AwsError | None]:
        wanted = [names[i] for i in allowed]
        done = await buckets.delete_buckets(cloud, ctxs, wanted)
        if done is not None:
            return done
        return [await refusal(_s3(cloud, caller, "DeleteBucket", {"Bucket": name}))
                for name in wanted]

    out = await each_authorized(cloud, caller, "s3", "DeleteBucket",
                                [{"Bucket": name} for name in names], make)
    return [None if o is not None and o.code == "NoSuchBucket" else o for o in out]


async def put_versioning(cloud: Cloud, caller: Caller, name: str, status: str) -> None:
    await _s3(cloud, caller, "PutBucketVersioning",
              {"Bucket": name, "VersioningConfiguration": {"Status": status}})


async def put_lifecycle(cloud: Cloud, caller: Caller, name: str,
                        rules: list[dict[str, Any]]) -> None:
    await _s3(cloud, caller, "PutBucketLifecycleConfiguration",
              {"Bucket": name, "LifecycleConfiguration": {"Rules": rules}})


async def delete_lifecycle(cloud: Cloud, caller: Caller, name: str) -> None:
    await _s3(cloud, caller, "DeleteBucketLifecycle", {"Bucket": name})


async def put_cors(cloud: Cloud, caller: Caller, name: str,
                   rules: list[dict[str, Any]]) -> None:
    await _s3(cloud, caller, "PutBucketCors",
              {"Bucket": name, "CORSConfiguration": {"CORSRules": rules}})


async def delete_cors(cloud: Cloud, caller: Caller, name: str) -> None:
    await _s3(cloud, caller, "DeleteBucketCors", {"Bucket": name})


async def put_encryption(cloud: Cloud, caller: Caller, name: str,
                         rules: list[dict[str, Any]]) -> None:
    await _s3(cloud, caller, "PutBucketEncryption", {
        "Bucket": name, "ServerSideEncryptionConfiguration": {"Rules": rules}})


async def delete_encryption(cloud: Cloud, caller: Caller, name: str) -> None:
    await _s3(cloud, caller, "DeleteBucketEncryption", {"Bucket": name})


async def put_tagging(cloud: Cloud, caller: Caller, name: str,
                      tags: list[dict[str, str]]) -> None:
    await _s3(cloud, caller, "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": tags}})


async def put_policy(cloud: Cloud, caller: Caller, name: str, policy: str) -> None:
    await _s3(cloud, caller, "PutBucketPolicy", {"Bucket": name, "Policy": policy})


async def delete_policy(cloud: Cloud, caller: Caller, name: str) -> None:
    try:
        await _s3(cloud, caller, "DeleteBucketPolicy", {"Bucket": name})
    except AwsError as error:
        if error.code != "NoSuchBucket":
            raise


async def get_object(cloud: Cloud, caller: Caller, bucket: str, key: str,
                     limit: int = 1 << 20) -> bytes:
    """The body of ``bucket/key`` (at most ``limit`` bytes are read)."""
    found = await _s3(cloud, caller, "GetObject", {"Bucket": bucket, "Key": key})
    body = found.get("Body", b"")
    if isinstance(body, bytes | bytearray):
        return bytes(body[:limit])
    chunks: list[bytes] = []
    size = 0
    async for chunk in body:
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
    return b"".join(chunks)[:limit]


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
