"""Storage classes: the valid names, and the archive classes' restore state.

Objects of an archive class (GLACIER, DEEP_ARCHIVE) keep their bytes here like any
other, but, as on AWS, they cannot be read (GetObject, a copy source) until
RestoreObject made a temporary copy available. A restore completes at once: it
records its expiry in the version's stored headers (``Restore``), which HEAD and GET
answer as ``x-amz-restore``; after the expiry the object is archived again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import access, versioning
from cloudctl.services.s3.base import HTTP_STATUS_KEY, S3Provider, dumps, loads
from cloudctl.services.s3.errors import invalid_argument, s3_error
from cloudctl.services.s3.models import S3Object

STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE"})
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


def check_storage_class(value: Any) -> str:
    """The storage class of a write (STANDARD when none); InvalidStorageClass otherwise."""
    if value is None or value == "":
        return "STANDARD"
    if str(value) not in STORAGE_CLASSES:
        raise s3_error("InvalidStorageClass", "The storage class you specified is not valid",
                       StorageClassRequested=str(value))
    return str(value)


def _restored_until(headers: dict[str, Any]) -> datetime | None:
    value = headers.get("Restore")
    return datetime.fromisoformat(str(value)) if value else None


def restore_header(row: S3Object) -> str | None:
    """The ``x-amz-restore`` value of an archived version (None: never restored)."""
    if row.storage_class not in ARCHIVE_CLASSES:
        return None
    until = _restored_until(loads(row.headers, {}))
    if until is None:
        return None
    return f'ongoing-request="false", expiry-date="{format_datetime(until, usegmt=True)}"'


def check_readable(row: S3Object) -> None:
    """InvalidObjectState (403) for an archived version that is not restored now."""
    if row.storage_class not in ARCHIVE_CLASSES:
        return
    until = _restored_until(loads(row.headers, {}))
    if until is None or until <= datetime.now(UTC):
        raise s3_error("InvalidObjectState", "The operation is not valid for the object's "
                       "storage class", 403, StorageClass=row.storage_class)


class RestoreProvider(S3Provider):
    """RestoreObject."""

    @operation("RestoreObject")
    async def restore_object(self, ctx: RequestContext,
                             params: dict[str, Any]) -> dict[str, Any]:
        request = params.get("RestoreRequest") or {}
        days = request.get("Days")
        if days is None:
            days = 1
        if int(days) < 1:
            raise invalid_argument("Days must be a positive integer", "Days", str(days))
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, str(params["Bucket"]))
            key = str(params["Key"])
            row = await versioning.current(session, bucket.name, key, params.get("VersionId"))
            await self.authorize(session, ctx, bucket, access.for_version(
                "s3:RestoreObject", params.get("VersionId")), "WRITE", key=key,
                object_acl=row.acl, object_owner=row.owner_account)
            if row.storage_class not in ARCHIVE_CLASSES:
                raise s3_error("InvalidObjectState", "Restore is not allowed for the object's "
                               "current storage class", 403, StorageClass=row.storage_class)
            headers = loads(row.headers, {})
            before = _restored_until(headers)
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            headers["Restore"] = (today + timedelta(days=int(days) + 1)).isoformat()
            row.headers = dumps(headers)
            await session.commit()
        restored = before is not None and before > datetime.now(UTC)
        return {HTTP_STATUS_KEY: 200 if restored else 202}
