"""Server-side copies: CopyObject and UploadPartCopy (``x-amz-copy-source``).

The source blob is streamed into a new blob (a copy, not a reference), so deleting
the source never affects the copy and blob lifetimes stay one row per blob.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import unquote

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import access, conditions, features, identity, inline, sse, versioning
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.account_access import account_settings
from cloudctl.services.s3.archive import check_readable, check_storage_class
from cloudctl.services.s3.base import S3Provider, dumps, loads, now, quote_etag, writes_key
from cloudctl.services.s3.errors import invalid_argument, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object, object_row
from cloudctl.services.s3.multipart import MultipartProvider
from cloudctl.services.s3.objects import commit_version, request_headers, tagging_header
from storagectl.objects import BlobReader


def parse_source(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of an ``x-amz-copy-source`` header."""
    path, _, query = value.partition("?")
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    version = None
    if query.startswith("versionId="):
        version = unquote(query[len("versionId="):])
    if not bucket or not key:
        raise invalid_argument("Copy Source must mention the source bucket and key: "
                               "sourcebucket/sourcekey", "x-amz-copy-source", value)
    return bucket, key, version


class CopyProvider(S3Provider):
    """CopyObject and UploadPartCopy."""

    async def _source(self, ctx: RequestContext,
                      params: dict[str, Any]) -> tuple[S3Object, bytes | None]:
        """The source version and, for an inline one, its stored bytes."""
        bucket_name, key, version = parse_source(str(params["CopySource"]))
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, bucket_name)
            row = await versioning.current(session, bucket.name, key, version)
            await self.authorize(session, ctx, bucket, access.for_version("s3:GetObject", version),
                                 "READ", key=key,
                                 object_acl=row.acl, object_owner=row.owner_account)
            data = await inline.data_of(session, row) if inline.is_inline(row) else None
        conditions.check(params, row.etag, row.last_modified, prefix="CopySource")
        check_readable(row)
        return row, data

    async def _chunks(self, row: S3Object, data: bytes | None, start: int = 0,
                      end: int | None = None) -> Any:
        """The plaintext of the source version (``data``: its inline bytes)."""
        if row.size == 0:
            return
        reader: BlobReader
        if data is not None:
            reader = inline.reader(data, start, row.size if end is None else end,
                                   self.cloud.secrets, row.sse_key)
        elif row.blob_id is None:
            return
        else:
            reader = await self.store.open(row.blob_id, start, end)
            if row.sse_key:
                data_key, segments = sse.load(self.cloud.secrets, row.sse_key)
                reader = sse.DecryptingReader(reader, data_key, segments)
        try:
            async for chunk in reader:
                yield chunk
        finally:
            await reader.aclose()

    @operation("CopyObject")
    @writes_key
    async def copy_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source, source_data = await self._source(ctx, params)
        name, key = str(params["Bucket"]), str(params["Key"])
        storage_class = check_storage_class(params.get("StorageClass") or source.storage_class)
        directive = str(params.get("MetadataDirective") or "COPY")
        tag_directive = str(params.get("TaggingDirective") or "COPY")
        same = source.bucket == name and source.key == key
        if same and directive != "REPLACE" and not params.get("StorageClass") \
                and not params.get("ServerSideEncryption"):
            raise s3_error("InvalidRequest", "This copy request is illegal because it is trying "
                           "to copy an object to itself without changing the object's metadata, "
                           "storage class, website redirect location or encryption attributes.")
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, name)
            await self.authorize(session, ctx, bucket, "s3:PutObject", "WRITE", key=key)
            features.check_object_write(
                bucket, params, await account_settings(self.cloud, bucket.account_id))
            encrypt = sse.requested(params, bucket.encryption)
            account = features.object_owner(bucket, ctx.account_id or bucket.account_id, params)
            owner = await identity.owner_of(session, account)
            bucket_owner = await identity.owner_of(session, bucket.account_id)
            acl = await acls.from_request(session, params, owner, bucket_owner) \
                or acls.canned("private", owner)
        headers = request_headers(params) if directive == "REPLACE" else loads(source.headers, {})
        for name_ in ("ServerSideEncryption", "UploadId", "Restore"):
            headers.pop(name_, None)  # the copy is a new object, not restored, not uploaded
        features.object_lock.apply(bucket, params, ctx, headers)
        features.replication.strip(headers)
        data_key = sse.DataKey.new() if encrypt else None
        sse_key = None
        if data_key is not None:
            headers["ServerSideEncryption"] = sse.AES256
            sse_key = sse.record(self.cloud.secrets, data_key, [(0, 0)])
        tags = dumps(tagging_header(params.get("Tagging"))) if tag_directive == "REPLACE" \
            else source.tags
        stored = await inline.store(
            self.store, self._chunks(source, source_data),
            limit=int(self.cloud.properties.get(props.INLINE_MAX_BYTES)),
            declared_size=source.size, expected_md5=None, data_key=data_key)
        etag = source.etag if "-" in source.etag else stored.md5_hex
        try:
            async def make_row(target: S3Bucket) -> S3Object:
                return object_row(bucket=target.name, key=key, blob_id=stored.blob_id,
                                size=stored.size, etag=etag, last_modified=now(),
                                owner_account=account, sse_key=sse_key, headers=dumps(headers),
                                storage_class=storage_class,
                                acl=acls.dump(acl), tags=tags, delete_marker=False,
                                parts=source.parts, inline_data=stored.inline_data)

            row = await commit_version(self, name, make_row)
        except BaseException:
            if stored.blob_id is not None:
                with contextlib.suppress(Exception):
                    await self.store.delete(stored.blob_id)
            raise
        out: dict[str, Any] = {"CopyObjectResult": {"ETag": quote_etag(row.etag),
                                                    "LastModified": row.last_modified}}
        if data_key is not None:
            out["ServerSideEncryption"] = sse.AES256
        if source.version_id != versioning.NULL:
            out["CopySourceVersionId"] = source.version_id
        if row.version_id != versioning.NULL:
            out["VersionId"] = row.version_id
        return out

    @operation("UploadPartCopy")
    @writes_key
    async def upload_part_copy(self, ctx: RequestContext,
                               params: dict[str, Any]) -> dict[str, Any]:
        source, source_data = await self._source(ctx, params)
        span = None
        text = params.get("CopySourceRange")
        if text:
            try:
                span = conditions.byte_range(str(text), source.size)
            except Exception:
                raise invalid_argument("The x-amz-copy-source-range value must be of the form "
                                       "bytes=first-last where first and last are the "
                                       "zero-based offsets of the first and last bytes to copy",
                                       "x-amz-copy-source-range", str(text)) from None
        start, end = span if span else (0, source.size)
        multipart = next(p for p in self.cloud.providers if isinstance(p, MultipartProvider))
        out = await multipart.copy_part(ctx, params, self._chunks(source, source_data, start, end))
        if source.version_id != versioning.NULL:
            out["CopySourceVersionId"] = source.version_id
        return out
