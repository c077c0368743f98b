"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, object ACLs.

A PUT streams the body into a new blob (durable when ``put`` returns) and only
then commits the row that makes it visible; a failure before the commit deletes
the blob; blobs a replaced version no longer uses are deleted after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.server.runtime import EARLY_READ
from cloudctl.services.s3 import (
    access,
    conditions,
    fastsql,
    features,
    identity,
    inline,
    object_lock,
    ownership,
    pgsql,
    public_access,
    replication,
    sse,
    versioning,
)
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.account_access import account_settings
from cloudctl.services.s3.archive import check_readable, check_storage_class, restore_header
from cloudctl.services.s3.base import (
    HTTP_STATUS_KEY,
    AnySession,
    LazySession,
    S3Provider,
    dumps,
    loads,
    now,
    opened,
    quote_etag,
    writes_key,
)
from cloudctl.services.s3.body import Payload
from cloudctl.services.s3.errors import invalid_argument, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object, object_row
from storagectl.objects import BadDigest, BlobNotFound, InvalidRange

log = logging.getLogger(__name__)

CONTENT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                   "ContentLanguage", "Expires", "WebsiteRedirectLocation")
SMALL_READ = 64 << 10  # GETs up to this size are read in memory in one store call
OVERRIDES = {"ResponseContentType": "ContentType", "ResponseCacheControl": "CacheControl",
             "ResponseContentDisposition": "ContentDisposition",
             "ResponseContentEncoding": "ContentEncoding",
             "ResponseContentLanguage": "ContentLanguage", "ResponseExpires": "Expires"}


def request_headers(params: dict[str, Any]) -> dict[str, Any]:
    """The stored representation headers and user metadata of a PUT/copy/upload."""
    headers: dict[str, Any] = {}
    for name in CONTENT_HEADERS:
        value = params.get(name)
        if value is not None:
            headers[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    encoding = headers.get("ContentEncoding")
    if encoding is not None:
        kept = [e for e in str(encoding).split(",") if e.strip() and e.strip() != "aws-chunked"]
        if kept:
            headers["ContentEncoding"] = ",".join(kept)
        else:
            del headers["ContentEncoding"]
    headers.setdefault("ContentType", "binary/octet-stream")
    headers["Metadata"] = dict(params.get("Metadata") or {})
    return headers


async def commit_version(provider: S3Provider, bucket_name: str,
                         make_row: Callable[[S3Bucket], Awaitable[S3Object]],
                         condition: dict[str, Any] | None = None) -> S3Object:
    """Install the row ``make_row`` builds as the current version; delete replaced blobs.

    The first attempt trusts the cached bucket snapshot (its versioning state may be a
    second old, as AWS documents for versioning changes); a conflict retries on the row.
    ``condition``: the request's If-Match / If-None-Match, checked in the transaction
    that installs (a writer that lost a race conflicts on the unique current version
    and checks again on retry).
    """
    fast = provider.fast if condition is None else None
    if fast is not None:
        bucket = await provider.snapshot(bucket_name)
        if not bucket.versioning:  # never versioned: one raw transaction on SQLite
            row = await make_row(bucket)
            try:
                # work is queued on the loop (other requests, most likely): let it run up
                # to its own install and commit together (group commit); alone, at once
                garbage = await fast.install_null(row, grouped=fastsql.loop_busy())
            except fastsql.Conflict:
                pass  # the bucket's versioning changed: the ORM path below decides
            else:
                _drop_later(provider, garbage)
                return row
    for attempt in range(5):
        async with provider.writer(), provider.cloud.sessions() as session:
            bucket = await provider.snapshot(bucket_name) if attempt == 0 \
                else await provider.bucket(session, bucket_name)
            row = await make_row(bucket)
            replication.stamp(bucket, row)
            try:
                if condition is not None:
                    await versioning.lock_key(session, bucket.name, row.key)
                    conditions.check_write(condition, await versioning.current_etag(
                        session, bucket.name, row.key))
                garbage = await versioning.install(session, bucket, row)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                if attempt == 4:
                    if condition is not None:
                        raise conditions.conflict() from None
                    raise
                continue
        _drop_later(provider, garbage)
        return row
    raise AssertionError("unreachable")


_BACKGROUND: set[asyncio.Task[None]] = set()


def _drop_later(provider: S3Provider, blob_ids: list[str]) -> None:
    """Delete replaced blobs after the response: their rows are gone already, so a crash
    first leaves only orphans, which the reconcile loop removes (unlinking a large blob
    and fsyncing its directory no longer delays an overwriting PUT)."""
    if not blob_ids:
        return
    task = asyncio.get_running_loop().create_task(_drop_blobs(provider, blob_ids))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _drop_blobs(provider: S3Provider, blob_ids: list[str]) -> None:
    for blob_id in blob_ids:
        with contextlib.suppress(Exception):
            await provider.store.delete(blob_id)


def describe(row: S3Object, params: dict[str, Any]) -> dict[str, Any]:
    """The output members GET and HEAD share."""
    headers = loads(row.headers, {})
    out: dict[str, Any] = {
        "ETag": quote_etag(row.etag), "LastModified": row.last_modified,
        "ContentLength": row.size, "AcceptRanges": "bytes",
        "Metadata": headers.get("Metadata") or {},
    }
    for name in CONTENT_HEADERS:
        if headers.get(name) is not None:
            out[name] = headers[name]
    if "Expires" in out:
        out.pop("Expires")
        out["ExpiresString"] = headers["Expires"]
    for override, name in OVERRIDES.items():
        if params.get(override) is not None:
            out[name] = params[override]
    if row.version_id != versioning.NULL:
        out["VersionId"] = row.version_id
    if row.storage_class != "STANDARD":
        out["StorageClass"] = row.storage_class
        restore = restore_header(row)
        if restore is not None:
            out["Restore"] = restore
    if row.parts:
        out["PartsCount"] = row.parts
    if headers.get("ServerSideEncryption"):
        out["ServerSideEncryption"] = headers["ServerSideEncryption"]
    object_lock.describe(headers, out)
    replication.describe(headers, out)
    tags = loads(row.tags, {})
    if tags:
        out["TagCount"] = len(tags)
    if params.get("ChecksumMode") == "ENABLED" and not params.get("Range"):
        for algorithm, value in (headers.get("Checksums") or {}).items():
            out[f"Checksum{algorithm}"] = value
    return out


def _span(params: dict[str, Any], row: S3Object) -> tuple[int, int] | None:
    """``[start, end)`` of a GET/HEAD: its ``Range``, or the part ``PartNumber`` names
    (the whole object is its only part when not multipart); None for all of it."""
    number = params.get("PartNumber")
    if number is None:
        return conditions.byte_range(params.get("Range"), row.size)
    if params.get("Range"):
        raise s3_error("InvalidRequest", "Cannot specify both Range header and partNumber "
                       "query parameter")
    number = int(number)
    if not 1 <= number <= 10000:
        raise invalid_argument("Part number must be an integer between 1 and 10000, "
                               "inclusive", "partNumber", str(number))
    sizes = loads(row.headers, {}).get("PartSizes") or ([row.size] if not row.parts else [])
    if number > len(sizes):
        if number == 1 and not sizes:  # a multipart object of before part sizes were kept
            return None
        raise s3_error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                       PartNumberRequested=number, ActualPartCount=len(sizes))
    start = sum(sizes[: number - 1])
    if not row.parts:
        return None  # part 1 of a simple object: all of it (200, as AWS)
    return start, start + int(sizes[number - 1])


class ObjectProvider(S3Provider):
    """Single-object data operations."""

    async def object_for_read(self, session: AnySession, ctx: RequestContext,
                              params: dict[str, Any], action: str,
                              permission: str = "READ",
                              attached: bool = False) -> tuple[S3Bucket, S3Object]:
        """The bucket and the object version to read; ``attached``: a row of ``session``."""
        bucket = await self.snapshot(str(params["Bucket"]))
        key = str(params["Key"])
        action = access.for_version(action, params.get("VersionId"))
        fast = self.reads if params.get("VersionId") is None and not attached else None
        early = ctx.extra.get(EARLY_READ)
        try:
            if fast is not None and isinstance(early, pgsql.EarlyCurrent) \
                    and early.of(bucket.name, key):
                row = await early.read  # started on arrival (``pgsql.early_current``)
            else:
                row = await fast.current(bucket.name, key) if fast is not None else None
            if row is None or row.delete_marker:  # errors on the ORM path
                row = await versioning.current(opened(session), bucket.name, key,
                                               params.get("VersionId"))
        except Exception:
            await self.authorize(session, ctx, bucket, action, permission, key=key)
            raise
        await self.authorize(session, ctx, bucket, action, permission, key=key,
                             object_acl=row.acl, object_owner=row.owner_account)
        return bucket, row

    @operation("PutObject")
    @writes_key
    async def put_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name, key = str(params["Bucket"]), str(params["Key"])
        conditional = conditions.check_write_headers(params)
        storage_class = check_storage_class(params.get("StorageClass"))
        async with LazySession(self.cloud.sessions) as session:
            bucket = await self.snapshot(name)
            await self.authorize(session, ctx, bucket, "s3:PutObject", "WRITE", key=key)
            features.check_object_write(
                bucket, params, await account_settings(self.cloud, bucket.account_id))
            encrypt = sse.requested(params, bucket.encryption)
            owner_account = ownership.object_owner(bucket, ctx.account_id or bucket.account_id,
                                                   params)
            owner = identity.cached(owner_account) \
                or await identity.owner_of(session(), owner_account)
            bucket_owner = identity.cached(bucket.account_id) \
                or await identity.owner_of(session(), bucket.account_id)
            if acls.grants_requested(params):
                acl = await acls.from_request(session(), params, owner, bucket_owner) \
                    or acls.canned("private", owner)
                acl_text = acls.dump(acl)
            elif params.get("ACL"):
                acl_text = acls.dump(acls.canned(str(params["ACL"]), owner, bucket_owner))
            else:
                acl_text = acls.private_text(owner)
        payload = Payload(ctx, params, int(self.cloud.properties.get(props.MAX_OBJECT_BYTES)))
        data_key = sse.DataKey.new() if encrypt else None
        limit = int(self.cloud.properties.get(props.INLINE_MAX_BYTES))
        whole = await payload.read_small(limit) if limit else None
        try:
            stored = await inline.store(
                self.store, payload.chunks() if whole is None else None, limit=limit,
                declared_size=payload.declared_size, expected_md5=payload.expected_md5,
                data_key=data_key, whole=whole)
        except BadDigest:
            raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we "
                           "received.") from None
        blob_id = stored.blob_id
        try:
            checksums = payload.verify()
            headers = request_headers(params)
            object_lock.apply(bucket, params, ctx, headers)
            sse_key = None
            if data_key is not None:
                headers["ServerSideEncryption"] = sse.AES256
                sse_key = sse.record(self.cloud.secrets, data_key, [(0, 0)])
            if checksums:
                headers["Checksums"] = checksums
            tags = tagging_header(params.get("Tagging"))

            async def make_row(bucket: S3Bucket) -> S3Object:
                return object_row(bucket=bucket.name, key=key, blob_id=blob_id, size=stored.size,
                                etag=stored.md5_hex, last_modified=now(), sse_key=sse_key,
                                owner_account=owner_account, headers=dumps(headers),
                                storage_class=storage_class, acl=acl_text,
                                tags=dumps(tags) if tags else None,
                                delete_marker=False, parts=0, inline_data=stored.inline_data)

            row = await commit_version(self, name, make_row, params if conditional else None)
        except BaseException:
            if blob_id is not None:
                with contextlib.suppress(Exception):
                    await self.store.delete(blob_id)
            raise
        out: dict[str, Any] = {"ETag": quote_etag(row.etag)}
        if data_key is not None:
            out["ServerSideEncryption"] = sse.AES256
        if row.version_id != versioning.NULL:
            out["VersionId"] = row.version_id
        for algorithm, value in checksums.items():
            out[f"Checksum{algorithm}"] = value
        return out

    @operation("GetObject")
    async def get_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with LazySession(self.cloud.sessions) as session:
            _, row = await self.object_for_read(session, ctx, params, "s3:GetObject")
            stored = await inline.data_of(session, row) if inline.is_inline(row) else None
        conditions.check(params, row.etag, row.last_modified)
        check_readable(row)
        out = describe(row, params)
        span = _span(params, row)
        start, end = span if span is not None else (0, row.size)
        if row.size == 0:
            out["Body"] = b""
            return out
        if stored is not None:
            out["Body"] = await inline.read(stored, start, end, self.cloud.secrets, row.sse_key)
        else:
            out["Body"] = await self._blob_body(row, start, end)
        out["ContentLength"] = end - start
        if span is not None:
            out["ContentRange"] = f"bytes {start}-{end - 1}/{row.size}"
            out[HTTP_STATUS_KEY] = 206
        return out

    async def _blob_body(self, row: S3Object, start: int, end: int) -> Any:
        """The bytes of ``[start, end)`` of a blob-backed version: in memory when small
        and unencrypted, else a (decrypting) reader."""
        assert row.blob_id is not None
        small = end - start <= SMALL_READ and not row.sse_key
        try:
            if small:  # read whole in one call: no stream, no sendfile set-up
                return await self.store.read(row.blob_id, start, end)
            reader = await self.store.open(row.blob_id, start, end)
        except (BlobNotFound, InvalidRange):
            log.error("object %s/%s has no blob %s", row.bucket, row.key, row.blob_id)
            raise s3_error("InternalError", "The object's data is missing.", 500) from None
        if row.sse_key:
            data_key, segments = sse.load(self.cloud.secrets, row.sse_key)
            return sse.DecryptingReader(reader, data_key, segments)
        return reader

    @operation("HeadObject")
    async def head_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with LazySession(self.cloud.sessions) as session:
            _, row = await self.object_for_read(session, ctx, params, "s3:GetObject")
        conditions.check(params, row.etag, row.last_modified)
        out = describe(row, params)
        span = _span(params, row)
        if span is not None:
            out["ContentLength"] = span[1] - span[0]
            out["ContentRange"] = f"bytes {span[0]}-{span[1] - 1}/{row.size}"
            out[HTTP_STATUS_KEY] = 206
        return out

    async def delete_one(self, ctx: RequestContext, bucket_name: str, key: str,
                         version_id: str | None,
                         condition: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self.writer() if condition else contextlib.nullcontext(), \
                self.cloud.sessions() as session:
            bucket = await self.bucket(session, bucket_name)
            action = "s3:DeleteObjectVersion" if version_id else "s3:DeleteObject"
            await self.authorize(session, ctx, bucket, action, "WRITE", key=key)
            if condition is not None:
                await versioning.lock_key(session, bucket.name, key)
                if version_id is None:
                    etag = await versioning.current_etag(session, bucket.name, key)
                else:
                    found = (await session.execute(select(S3Object.etag).where(
                        S3Object.bucket == bucket.name, S3Object.key == key,
                        S3Object.version_id == version_id,
                        S3Object.delete_marker.is_(False)))).first()
                    etag = None if found is None else str(found.etag)
                conditions.check_write(condition, etag)
            if version_id and object_lock.enabled(bucket):
                await object_lock.check_delete(self, session, ctx, bucket, key, version_id)
            garbage, out = await versioning.remove(session, bucket, key,
                                                   ctx.account_id or bucket.account_id,
                                                   version_id)
            await replication.stamp_marker(session, bucket, key, out)
            await session.commit()
        for blob_id in garbage:
            with contextlib.suppress(Exception):
                await self.store.delete(blob_id)
        return out

    @operation("DeleteObject")
    async def delete_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        conditional = params.get("IfMatch") is not None
        return await self.delete_one(ctx, str(params["Bucket"]), str(params["Key"]),
                                     params.get("VersionId"), params if conditional else None)

    @operation("DeleteObjects")
    async def delete_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        spec = params.get("Delete") or {}
        items = spec.get("Objects") or []
        if len(items) > 1000:
            raise s3_error("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema")
        deleted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in items:
            key, version_id = str(item.get("Key", "")), item.get("VersionId")
            try:
                out = await self.delete_one(ctx, str(params["Bucket"]), key, version_id)
            except Exception as exc:
                code = getattr(exc, "code", "InternalError")
                if code == "NoSuchBucket":
                    raise
                errors.append({"Key": key, "VersionId": version_id, "Code": code,
                               "Message": getattr(exc, "message", str(exc))})
                continue
            entry: dict[str, Any] = {"Key": key}
            if version_id:
                entry["VersionId"] = version_id
            if out.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                entry["DeleteMarkerVersionId"] = out.get("VersionId")
            deleted.append(entry)
        return {"Deleted": [] if spec.get("Quiet") else deleted, "Errors": errors}

    @operation("GetObjectAcl")
    async def get_object_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket, row = await self.object_for_read(session, ctx, params, "s3:GetObjectAcl",
                                                     "READ_ACP")
            if ownership.enforced(bucket):
                return ownership.owner_acl(await identity.owner_of(session, bucket.account_id))
        return acls.load(row.acl)

    @operation("PutObjectAcl")
    async def put_object_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket, row = await self.object_for_read(session, ctx, params, "s3:PutObjectAcl",
                                                     "WRITE_ACP", attached=True)
            owner = await identity.owner_of(session, row.owner_account)
            bucket_owner = await identity.owner_of(session, bucket.account_id)
            ownership.check_object_acl(bucket, params)
            acl = await acls.from_request(session, params, owner, bucket_owner)
            if acl is None:
                raise s3_error("MissingSecurityHeader", "Your request was missing a required "
                               "header", MissingHeaderName="x-amz-acl")
            public_access.refuse_public_acl(
                bucket, acl, await account_settings(self.cloud, bucket.account_id))
            row.acl = acls.dump(acl)
            await session.commit()
        return {}


def tagging_header(value: str | None) -> dict[str, str]:
    """Tags of an ``x-amz-tagging`` header (URL query form), bounded as AWS bounds them."""
    if not value:
        return {}
    from urllib.parse import parse_qsl

    from cloudctl.services.s3.tagging import OBJECT_TAGS, checked

    return checked(parse_qsl(value, keep_blank_values=True), OBJECT_TAGS)
