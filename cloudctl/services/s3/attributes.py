"""GetObjectAttributes: ETag, Checksum, ObjectParts, StorageClass and ObjectSize of a
version, each answered only when asked for (``x-amz-object-attributes``)."""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import versioning
from cloudctl.services.s3.base import S3Provider, loads
from cloudctl.services.s3.errors import invalid_argument

NAMES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


class AttributesProvider(S3Provider):
    """GetObjectAttributes."""

    @operation("GetObjectAttributes")
    async def get_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        wanted = [str(a).strip() for item in params.get("ObjectAttributes") or []
                  for a in str(item).split(",") if str(a).strip()]
        if not wanted:
            raise invalid_argument("Minimum of 1 attribute must be requested.",
                                   "x-amz-object-attributes")
        for name in wanted:
            if name not in NAMES:
                raise invalid_argument("Invalid attribute name specified.",
                                       "x-amz-object-attributes", name)
        async with self.cloud.sessions() as session:
            bucket = await self.snapshot(str(params["Bucket"]))
            key = str(params["Key"])
            version = params.get("VersionId")
            action = "s3:GetObjectVersionAttributes" if version else "s3:GetObjectAttributes"
            try:
                row = await versioning.current(session, bucket.name, key, version)
            except Exception:
                await self.authorize(session, ctx, bucket, action, "READ", key=key)
                raise
            await self.authorize(session, ctx, bucket, action, "READ", key=key,
                                 object_acl=row.acl, object_owner=row.owner_account)
        headers = loads(row.headers, {}) or {}
        out: dict[str, Any] = {"LastModified": row.last_modified}
        if row.version_id != versioning.NULL:
            out["VersionId"] = row.version_id
        if "ETag" in wanted:
            out["ETag"] = row.etag
        if "StorageClass" in wanted:
            out["StorageClass"] = row.storage_class
        if "ObjectSize" in wanted:
            out["ObjectSize"] = row.size
        checksums = headers.get("Checksums") or {}
        if "Checksum" in wanted and checksums:
            out["Checksum"] = {f"Checksum{name}": value for name, value in checksums.items()}
        if "ObjectParts" in wanted and row.parts:
            out["ObjectParts"] = {"TotalPartsCount": row.parts}
        return out
