"""S3's Signature Version 2 (HmacV1): ``Authorization: AWS AKID:sig`` and presigned URLs.

Owns the S3 string to sign: method, Content-MD5, Content-Type, Date (empty when
``x-amz-date`` is sent; ``Expires`` for a presigned URL), the ``x-amz-*`` headers,
and the canonical resource (bucket, raw path, sub-resources). For a virtual-hosted
request the caller passes the bucket it took from the Host header. A presigned
``Expires`` more than a week ahead is refused (SigV4's bound), so a leaked URL dies.
"""

from __future__ import annotations

import base64
import hmac
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from cloudctl.auth.canonical import parse_http_date
from cloudctl.auth.context import AuthContext
from cloudctl.auth.errors import (
    incomplete_signature,
    presigned_expired,
    request_time_skewed,
    signature_mismatch,
)
from cloudctl.auth.result import S3_HMACV1, S3_HMACV1_PRESIGNED, AuthResult
from cloudctl.errors import AwsError

log = logging.getLogger(__name__)
# A presigned URL lives at most a week, as SigV4's X-Amz-Expires (604800 s).
MAX_PRESIGNED_AHEAD = timedelta(days=7)

SUB_RESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "defaultObjectAcl", "delete",
        "encryption",
        "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
        "metrics", "notification", "object-lock", "ownershipControls", "partNumber", "policy",
        "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
        "retention", "select", "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads",
        "versionId", "versioning", "versions", "website",
        "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires",
    }
)  # fmt: skip


def canonical_resource(raw_path: str, raw_query: str, bucket: str | None) -> str:
    """``[/bucket]`` + the raw path + sorted sub-resources (values decoded)."""
    resource = (f"/{bucket}" if bucket else "") + (raw_path or "/")
    subs: list[tuple[str, str | None]] = []
    for item in raw_query.split("&") if raw_query else ():
        key, sep, value = item.partition("=")
        if key in SUB_RESOURCES:
            # ``?uploads=`` (rclone v2_auth, aws-sdk-go) is signed as the bare ``?uploads``
            subs.append((key, unquote(value) if sep and value else None))
    if subs:
        subs.sort(key=lambda pair: pair[0])
        resource += "?" + "&".join(k if v is None else f"{k}={v}" for k, v in subs)
    return resource


def string_to_sign(
    method: str,
    headers: dict[str, list[str]],
    date_line: str,
    resource: str,
) -> str:
    """The HmacV1 string to sign; ``headers`` are lower-case names to values."""
    md5 = ",".join(headers.get("content-md5", [])).strip()
    ctype = ",".join(headers.get("content-type", [])).strip()
    amz = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in headers[name])}\n"
        for name in sorted(n for n in headers if n.startswith("x-amz-"))
    )
    return f"{method.upper()}\n{md5}\n{ctype}\n{date_line}\n{amz}{resource}"


async def _check(
    ctx: AuthContext,
    access_key_id: str,
    signature: str,
    headers: dict[str, list[str]],
    date_line: str,
    bucket: str | None,
    version: str,
) -> AuthResult:
    token = ",".join(headers.get("x-amz-security-token", [])) or None
    credential = await ctx.resolve(access_key_id, token)
    text = string_to_sign(
        ctx.req.method,
        headers,
        date_line,
        canonical_resource(ctx.req.path, ctx.req.raw_query, bucket),
    )
    mac = hmac.digest(
        credential.secret_access_key.encode(), text.encode("utf-8", "surrogateescape"), "sha1"
    )
    if not hmac.compare_digest(base64.b64encode(mac), signature.encode("utf-8", "replace")):
        log.debug("S3 HmacV1 signature mismatch for %s; string to sign:\n%s", access_key_id, text)
        raise signature_mismatch(
            ctx.family, access_key_id=access_key_id, string_to_sign=text, signature=signature
        )
    return AuthResult(credential=credential, signature_version=version, family=ctx.family)


async def verify_header(ctx: AuthContext, authorization: str, bucket: str | None) -> AuthResult:
    """Verify ``Authorization: AWS AKID:base64(hmac-sha1)``."""
    access_key_id, sep, signature = authorization[4:].strip().rpartition(":")
    if not sep or not access_key_id or not signature:
        raise incomplete_signature(ctx.family, 'expecting "AWS <AWSAccessKeyId>:<Signature>".')
    amz_date = ctx.header("x-amz-date")
    http_date = ctx.header("date")
    raw = amz_date if amz_date is not None else http_date
    when = parse_http_date(raw) if raw else None
    if when is None:
        raise AwsError(
            "AWS authentication requires a valid Date or x-amz-date header",
            code="AccessDenied",
            status=403,
        )
    if abs(ctx.now - when) > ctx.skew:
        raise request_time_skewed(ctx.family, when, ctx.now, ctx.skew)
    date_line = "" if amz_date is not None else (http_date or "")
    return await _check(ctx, access_key_id, signature, ctx.headers, date_line, bucket, S3_HMACV1)


async def verify_presigned(ctx: AuthContext, bucket: str | None) -> AuthResult:
    """Verify ``?AWSAccessKeyId=...&Expires=<epoch>&Signature=...``."""
    req = ctx.req
    access_key_id = req.query_value("AWSAccessKeyId") or ""
    signature = req.query_value("Signature") or ""
    expires_raw = req.query_value("Expires") or ""
    if not access_key_id or not signature or not expires_raw:
        raise incomplete_signature(
            ctx.family,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters",
            presigned=True,
        )
    try:
        expires = datetime.fromtimestamp(int(expires_raw), UTC)
    except (ValueError, OverflowError, OSError):
        raise incomplete_signature(
            ctx.family,
            "Invalid date (should be seconds since epoch): " + expires_raw,
            presigned=True,
        ) from None
    if ctx.now > expires:
        raise presigned_expired(ctx.family, ctx.now, expires=expires, expires_seconds=None)
    if expires - ctx.now > MAX_PRESIGNED_AHEAD:
        raise incomplete_signature(
            ctx.family,
            "Expires must be less than a week (604800 seconds) in the future.",
            presigned=True,
        )
    # x-amz-*, Content-Type and Content-MD5 may travel in the query instead of headers.
    headers = dict(ctx.headers)
    for key, value in req.query:
        lkey = key.lower()
        if lkey.startswith("x-amz-") or lkey in ("content-type", "content-md5"):
            headers[lkey] = [value]
    return await _check(
        ctx, access_key_id, signature, headers, expires_raw, bucket, S3_HMACV1_PRESIGNED
    )


def is_presigned(ctx: AuthContext) -> bool:
    req = ctx.req
    return (
        req.query_value("AWSAccessKeyId") is not None and req.query_value("Signature") is not None
    )
