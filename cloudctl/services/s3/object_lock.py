"""S3 Object Lock: bucket configuration, per-version retention and legal hold, enforcement.

A bucket created with ``ObjectLockEnabledForBucket`` (or a versioned bucket given a
configuration) has Object Lock for good: versioning stays Enabled. A version's lock
lives in its stored headers (``ObjectLockMode``, ``ObjectLockRetainUntilDate``,
``ObjectLockLegalHoldStatus``), set from the ``x-amz-object-lock-*`` headers of
PutObject/CopyObject/CreateMultipartUpload or the bucket's default retention, and by
PutObjectRetention/PutObjectLegalHold.

Enforced: a version under an active COMPLIANCE retention or a legal hold cannot be
deleted (DeleteObject with its VersionId: AccessDenied) by anyone; under GOVERNANCE
only with ``x-amz-bypass-governance-retention: true`` and the
``s3:BypassGovernanceRetention`` permission. A COMPLIANCE retention cannot be
shortened or weakened; a GOVERNANCE one only with the bypass. Lifecycle never
removes a protected version (``protected``). Deleting without a version id adds a
delete marker, as on AWS. Requests setting a lock need Content-MD5 or a checksum.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import versioning
from cloudctl.services.s3.base import S3Provider, dumps, loads
from cloudctl.services.s3.errors import invalid_argument, malformed_xml, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object

MODES = ("GOVERNANCE", "COMPLIANCE")
LOCK_FIELDS = ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus")
BYPASS_HEADER = "x-amz-bypass-governance-retention"


def enabled(bucket: S3Bucket) -> bool:
    return bool(bucket.object_lock)


def _missing_lock() -> Exception:
    return s3_error("InvalidRequest", "Bucket is missing Object Lock Configuration")


def _protected_error() -> Exception:
    return s3_error("AccessDenied", "Access Denied because object protected by object lock.",
                    403)


def has_checksum(ctx: RequestContext) -> bool:
    """Whether the request carries Content-MD5 or an x-amz-checksum-* value/trailer."""
    wire = ctx.wire
    if wire.header("Content-MD5") or wire.header("x-amz-trailer"):
        return True
    return any(str(name).lower().startswith("x-amz-checksum-") for name in wire.headers)


def require_checksum(ctx: RequestContext, what: str = "Content-MD5") -> None:
    if not has_checksum(ctx):
        raise s3_error("InvalidRequest", f"Missing required header for this request: {what}")


def _date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument("The retain until date is not valid",
                               "x-amz-object-lock-retain-until-date", str(value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def default_retention(bucket: S3Bucket, clock: datetime) -> tuple[str, datetime] | None:
    rule = ((loads(bucket.object_lock, {}) or {}).get("Rule") or {}).get("DefaultRetention")
    if not rule:
        return None
    days = int(rule.get("Days") or 0) + 365 * int(rule.get("Years") or 0)
    return str(rule["Mode"]), clock + timedelta(days=days)


def strip(headers: dict[str, Any]) -> None:
    for name in LOCK_FIELDS:
        headers.pop(name, None)


def apply(bucket: S3Bucket, params: dict[str, Any], ctx: RequestContext,
          headers: dict[str, Any]) -> None:
    """Set the lock of a new version from the request (validated) or the bucket default."""
    strip(headers)
    mode = params.get("ObjectLockMode")
    until = params.get("ObjectLockRetainUntilDate")
    hold = params.get("ObjectLockLegalHoldStatus")
    if mode is None and until is None and hold is None:
        default = default_retention(bucket, datetime.now(UTC)) if enabled(bucket) else None
        if default is not None:
            headers["ObjectLockMode"] = default[0]
            headers["ObjectLockRetainUntilDate"] = default[1].isoformat()
        return
    if not enabled(bucket):
        raise _missing_lock()
    if (mode is None) != (until is None):
        raise invalid_argument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode "
                               "must both be supplied")
    if mode is not None:
        if mode not in MODES:
            raise invalid_argument("Unknown wormMode directive.", "x-amz-object-lock-mode",
                                   str(mode))
        date = _date(until)
        if date <= datetime.now(UTC):
            raise invalid_argument("The retain until date must be in the future!")
        headers["ObjectLockMode"] = str(mode)
        headers["ObjectLockRetainUntilDate"] = date.isoformat()
    if hold is not None:
        if hold not in ("ON", "OFF"):
            raise invalid_argument("Legal Hold must be either of 'ON' or 'OFF'",
                                   "x-amz-object-lock-legal-hold", str(hold))
        headers["ObjectLockLegalHoldStatus"] = str(hold)
    if ctx.operation == "PutObject" and not has_checksum(ctx):
        raise s3_error("InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is "
                       "required for Put Object requests with Object Lock parameters")


def describe(headers: dict[str, Any], out: dict[str, Any]) -> None:
    """The lock members of a GET/HEAD answer."""
    if headers.get("ObjectLockMode"):
        out["ObjectLockMode"] = headers["ObjectLockMode"]
        out["ObjectLockRetainUntilDate"] = _date(headers["ObjectLockRetainUntilDate"])
    if headers.get("ObjectLockLegalHoldStatus"):
        out["ObjectLockLegalHoldStatus"] = headers["ObjectLockLegalHoldStatus"]


def retention_of(headers: dict[str, Any], clock: datetime) -> str | None:
    """The mode of the version's active retention (None: none or expired)."""
    mode = headers.get("ObjectLockMode")
    if mode and _date(headers.get("ObjectLockRetainUntilDate")) > clock:
        return str(mode)
    return None


def protected(row: S3Object, clock: datetime) -> bool:
    """Whether the version may not be removed now (retention or legal hold)."""
    if row.delete_marker or not row.headers or "ObjectLock" not in row.headers:
        return False
    headers = loads(row.headers, {}) or {}
    return retention_of(headers, clock) is not None \
        or headers.get("ObjectLockLegalHoldStatus") == "ON"


def bypass_requested(ctx: RequestContext) -> bool:
    return (ctx.wire.header(BYPASS_HEADER) or "").strip().lower() == "true"


async def check_delete(provider: S3Provider, session: AsyncSession, ctx: RequestContext,
                       bucket: S3Bucket, key: str, version_id: str) -> None:
    """AccessDenied unless version ``version_id`` of ``key`` may be removed now."""
    try:
        row = await versioning.current(session, bucket.name, key, version_id)
    except Exception:
        return  # a delete marker or a missing version: nothing locked
    headers = loads(row.headers, {}) or {}
    if headers.get("ObjectLockLegalHoldStatus") == "ON":
        raise _protected_error()
    mode = retention_of(headers, datetime.now(UTC))
    if mode == "COMPLIANCE" or (mode == "GOVERNANCE" and not bypass_requested(ctx)):
        raise _protected_error()
    if mode == "GOVERNANCE":
        await provider.authorize(session, ctx, bucket, "s3:BypassGovernanceRetention",
                                 "FULL_CONTROL")


class ObjectLockProvider(S3Provider):
    """Object Lock configuration, retention and legal hold operations."""

    @operation("PutObjectLockConfiguration")
    async def put_configuration(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        require_checksum(ctx)
        config = params.get("ObjectLockConfiguration") or {}
        if config.get("ObjectLockEnabled") != "Enabled":
            raise malformed_xml()
        stored: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
        default = (config.get("Rule") or {}).get("DefaultRetention")
        if default is not None:
            if default.get("Mode") not in MODES \
                    or (default.get("Days") is None) == (default.get("Years") is None):
                raise malformed_xml()
            period = default.get("Days") if default.get("Days") is not None \
                else default.get("Years")
            if int(period) <= 0:
                raise invalid_argument("Default retention period must be a positive integer "
                                       "value", "RetentionPeriod", str(period))
            stored["Rule"] = {"DefaultRetention": {k: default[k] for k in ("Mode", "Days",
                                                                             "Years")
                                                   if default.get(k) is not None}}
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:PutBucketObjectLockConfiguration")
            if not bucket.object_lock and bucket.versioning != "Enabled":
                raise s3_error("InvalidBucketState", "Versioning must be 'Enabled' on the "
                               "bucket to apply a Object Lock configuration", 409)
            bucket.object_lock = dumps(stored)
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetObjectLockConfiguration")
    async def get_configuration(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketObjectLockConfiguration")
        if not bucket.object_lock:
            raise s3_error("ObjectLockConfigurationNotFoundError", "Object Lock configuration "
                           "does not exist for this bucket", 404, BucketName=bucket.name)
        return {"ObjectLockConfiguration": loads(bucket.object_lock, {})}

    async def _version(self, session: AsyncSession, ctx: RequestContext,
                       params: dict[str, Any], action: str,
                       permission: str) -> tuple[S3Bucket, S3Object]:
        bucket = await self.bucket(session, params["Bucket"])
        row = await versioning.current(session, bucket.name, str(params["Key"]),
                                       params.get("VersionId"))
        await self.authorize(session, ctx, bucket, action, permission, key=row.key,
                             object_acl=row.acl, object_owner=row.owner_account)
        if not enabled(bucket):
            raise _missing_lock()
        return bucket, row

    @operation("PutObjectRetention")
    async def put_retention(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        require_checksum(ctx)
        retention = params.get("Retention") or {}
        mode, until = retention.get("Mode"), retention.get("RetainUntilDate")
        if (mode is None) != (until is None) or (mode is not None and mode not in MODES):
            raise malformed_xml()
        clock = datetime.now(UTC)
        date = _date(until) if until is not None else None
        if date is not None and date <= clock:
            raise invalid_argument("The retain until date must be in the future!")
        async with self.cloud.sessions() as session:
            bucket, row = await self._version(session, ctx, params, "s3:PutObjectRetention",
                                              "WRITE")
            headers = loads(row.headers, {}) or {}
            current = retention_of(headers, clock)
            old = _date(headers["ObjectLockRetainUntilDate"]) if current else None
            weaker = current is not None and (
                mode is None or (current == "COMPLIANCE" and mode != "COMPLIANCE")
                or (date is not None and old is not None and date < old))
            if weaker and current == "COMPLIANCE":
                raise _protected_error()
            if weaker:
                if not bypass_requested(ctx):
                    raise _protected_error()
                await self.authorize(session, ctx, bucket, "s3:BypassGovernanceRetention",
                                     "FULL_CONTROL")
            if mode is None:
                headers.pop("ObjectLockMode", None)
                headers.pop("ObjectLockRetainUntilDate", None)
            else:
                assert date is not None
                headers["ObjectLockMode"] = str(mode)
                headers["ObjectLockRetainUntilDate"] = date.isoformat()
            row.headers = dumps(headers)
            await session.commit()
        return {}

    @operation("GetObjectRetention")
    async def get_retention(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            _, row = await self._version(session, ctx, params, "s3:GetObjectRetention",
                                         "READ")
        headers = loads(row.headers, {}) or {}
        if not headers.get("ObjectLockMode"):
            raise s3_error("NoSuchObjectLockConfiguration", "The specified object does not "
                           "have a ObjectLock configuration", 404)
        return {"Retention": {"Mode": headers["ObjectLockMode"],
                              "RetainUntilDate": _date(headers["ObjectLockRetainUntilDate"])}}

    @operation("PutObjectLegalHold")
    async def put_legal_hold(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        require_checksum(ctx)
        status = (params.get("LegalHold") or {}).get("Status")
        if status not in ("ON", "OFF"):
            raise malformed_xml()
        async with self.cloud.sessions() as session:
            _, row = await self._version(session, ctx, params, "s3:PutObjectLegalHold", "WRITE")
            headers = loads(row.headers, {}) or {}
            headers["ObjectLockLegalHoldStatus"] = str(status)
            row.headers = dumps(headers)
            await session.commit()
        return {}

    @operation("GetObjectLegalHold")
    async def get_legal_hold(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            _, row = await self._version(session, ctx, params, "s3:GetObjectLegalHold", "READ")
        status = (loads(row.headers, {}) or {}).get("ObjectLockLegalHoldStatus")
        if not status:
            raise s3_error("NoSuchObjectLockConfiguration", "The specified object does not "
                           "have a ObjectLock configuration", 404)
        return {"LegalHold": {"Status": status}}
