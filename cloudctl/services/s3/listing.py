"""Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

Keys are walked in byte order straight from the index (``key > after`` and below
``prefix + U+10FFFF``, never LIKE, which is case-insensitive on SQLite); a common
prefix is reported once and skipped in one step, so a delimiter listing over
millions of keys under few prefixes costs few queries.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import identity
from cloudctl.services.s3.base import S3Provider, quote_etag
from cloudctl.services.s3.errors import invalid_argument
from cloudctl.services.s3.models import S3Object

TOP = "\U0010ffff"
BATCH = 1000


def _max_keys(params: dict[str, Any]) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return 1000
    if int(value) < 0:
        raise invalid_argument("Argument maxKeys must be an integer between 0 and 2147483647",
                               "maxKeys", str(value))
    return min(int(value), 1000)


async def _walk(session: AsyncSession, bucket: str, prefix: str, delimiter: str, after: str,
                versions: bool, after_seq: int | None = None
                ) -> AsyncIterator[tuple[str, S3Object | None]]:
    """Yield (key, row) for objects and (common prefix, None) in listing order.

    A marker that is a common prefix itself (a page ended on it: NextMarker, the
    continuation token, NextKeyMarker) resumes after every key it rolls up.
    """
    upper = prefix + TOP
    if delimiter and after.startswith(prefix) and after.endswith(delimiter) \
            and after.find(delimiter, len(prefix)) == len(after) - len(delimiter):
        after, after_seq = after + TOP, None
    while True:
        query = select(S3Object).where(S3Object.bucket == bucket, S3Object.key < upper)
        if not versions:
            query = query.where(S3Object.latest.is_(True), S3Object.delete_marker.is_(False))
        if after_seq is not None:
            query = query.where(or_(S3Object.key > after,
                                    and_(S3Object.key == after, S3Object.seq < after_seq)))
        elif prefix > after:
            query = query.where(S3Object.key >= prefix)
        else:
            query = query.where(S3Object.key > after)
        query = query.order_by(S3Object.key, S3Object.seq.desc()).limit(BATCH)
        rows = (await session.execute(query)).scalars().all()
        if not rows:
            return
        jumped = False
        for row in rows:
            if delimiter:
                cut = row.key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = row.key[: cut + len(delimiter)]
                    yield common, None
                    after, after_seq = common + TOP, None
                    jumped = True
                    break
            yield row.key, row
            after, after_seq = row.key, (row.seq if versions else None)
        if not jumped and len(rows) < BATCH:
            return


def _enc(value: str | None, url: bool) -> str | None:
    if value is None or not url:
        return value
    return quote(value, safe="/")


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument("The continuation token provided is incorrect",
                               "continuation-token", token) from None


class ListingProvider(S3Provider):
    """Bucket listings."""

    async def _list(self, ctx: RequestContext, params: dict[str, Any], after: str,
                    want_owner: bool) -> tuple[dict[str, Any], str | None]:
        url = params.get("EncodingType") == "url"
        prefix = str(params.get("Prefix") or "")
        delimiter = str(params.get("Delimiter") or "")
        limit = _max_keys(params)
        contents: list[dict[str, Any]] = []
        prefixes: list[dict[str, Any]] = []
        last: str | None = None
        truncated = False
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:ListBucket", "READ")
            if limit > 0:
                async for key, row in _walk(session, bucket.name, prefix, delimiter, after, False):
                    if len(contents) + len(prefixes) == limit:
                        truncated = True
                        break
                    last = key
                    if row is None:
                        prefixes.append({"Prefix": _enc(key, url)})
                        continue
                    entry: dict[str, Any] = {
                        "Key": _enc(key, url), "LastModified": row.last_modified,
                        "ETag": quote_etag(row.etag), "Size": row.size,
                        "StorageClass": row.storage_class}
                    if want_owner:
                        owner = await identity.owner_of(session, row.owner_account)
                        entry["Owner"] = {"ID": owner.canonical_id,
                                          "DisplayName": owner.display_name}
                    contents.append(entry)
        out: dict[str, Any] = {
            "Name": bucket.name, "Prefix": _enc(prefix, url), "MaxKeys": limit,
            "IsTruncated": truncated, "Contents": contents, "CommonPrefixes": prefixes}
        if delimiter:
            out["Delimiter"] = _enc(delimiter, url)
        if url:
            out["EncodingType"] = "url"
        return out, (last if truncated else None)

    @operation("ListObjects")
    async def list_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        marker = str(params.get("Marker") or "")
        out, last = await self._list(ctx, params, marker, True)
        out["Marker"] = _enc(marker, out.get("EncodingType") == "url")
        if last is not None and params.get("Delimiter"):
            out["NextMarker"] = _enc(last, out.get("EncodingType") == "url")
        return out

    @operation("ListObjectsV2")
    async def list_objects_v2(self, ctx: RequestContext,
                              params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("ContinuationToken")
        start_after = str(params.get("StartAfter") or "")
        after = _untoken(str(token)) if token else start_after
        out, last = await self._list(ctx, params, after, bool(params.get("FetchOwner")))
        out["KeyCount"] = len(out["Contents"]) + len(out["CommonPrefixes"])
        if token:
            out["ContinuationToken"] = token
        if start_after:
            out["StartAfter"] = _enc(start_after, out.get("EncodingType") == "url")
        if last is not None:
            out["NextContinuationToken"] = _token(last)
        return out

    @operation("ListObjectVersions")
    async def list_object_versions(self, ctx: RequestContext,
                                   params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("EncodingType") == "url"
        prefix = str(params.get("Prefix") or "")
        delimiter = str(params.get("Delimiter") or "")
        key_marker = str(params.get("KeyMarker") or "")
        version_marker = params.get("VersionIdMarker")
        limit = _max_keys(params)
        versions: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        prefixes: list[dict[str, Any]] = []
        truncated = False
        next_key: str | None = None
        next_version: str | None = None
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:ListBucketVersions", "READ")
            after_seq = None
            if version_marker and key_marker:
                after_seq = await session.scalar(select(S3Object.seq).where(
                    S3Object.bucket == bucket.name, S3Object.key == key_marker,
                    S3Object.version_id == version_marker))
            async for key, row in _walk(session, bucket.name, prefix, delimiter, key_marker,
                                        True, after_seq):
                if len(versions) + len(markers) + len(prefixes) == limit:
                    truncated = True
                    break
                next_key, next_version = key, (row.version_id if row else None)
                if row is None:
                    prefixes.append({"Prefix": _enc(key, url)})
                    continue
                owner = await identity.owner_of(session, row.owner_account)
                entry: dict[str, Any] = {
                    "Key": _enc(key, url), "VersionId": row.version_id,
                    "IsLatest": bool(row.latest), "LastModified": row.last_modified,
                    "Owner": {"ID": owner.canonical_id, "DisplayName": owner.display_name}}
                if row.delete_marker:
                    markers.append(entry)
                else:
                    entry.update({"ETag": quote_etag(row.etag), "Size": row.size,
                                  "StorageClass": row.storage_class})
                    versions.append(entry)
        out: dict[str, Any] = {
            "Name": bucket.name, "Prefix": _enc(prefix, url), "KeyMarker": _enc(key_marker, url),
            "MaxKeys": limit, "IsTruncated": truncated, "Versions": versions,
            "DeleteMarkers": markers, "CommonPrefixes": prefixes}
        if version_marker:
            out["VersionIdMarker"] = version_marker
        if delimiter:
            out["Delimiter"] = _enc(delimiter, url)
        if url:
            out["EncodingType"] = "url"
        if truncated:
            out["NextKeyMarker"] = _enc(next_key, url)
            if next_version:
                out["NextVersionIdMarker"] = next_version
        return out
