"""AWS Signature Version 4: the Authorization header and presigned query forms.

Owns parsing the SigV4 parameters, rebuilding the canonical request and string to
sign, the derived signing key cache, and the time rules (15 minutes of skew for a
header signature, ``X-Amz-Expires`` for a presigned URL, at most 604800 s). It
answers the errors of ``cloudctl.auth.errors`` for the caller's service family.
Outside S3 the payload is always signed: its SHA-256 is in the canonical request
(the ``UNSIGNED-PAYLOAD`` and streaming markers are refused with a body).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
from datetime import datetime, timedelta

from cloudctl.auth.canonical import (
    canonical_header_value,
    canonical_query,
    canonical_uri,
    format_amz_date,
    parse_amz_date,
    parse_http_date,
)
from cloudctl.auth.context import AuthContext
from cloudctl.auth.errors import (
    Family,
    content_sha256_mismatch,
    headers_not_signed,
    incomplete_signature,
    invalid_content_sha256,
    presigned_expired,
    presigned_not_yet_valid,
    request_time_skewed,
    signature_mismatch,
)
from cloudctl.auth.result import SIGV4, SIGV4_PRESIGNED, AuthResult, SigV4Context
from cloudctl.errors import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
PAYLOAD_MARKERS = frozenset(
    {UNSIGNED_PAYLOAD, STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
log = logging.getLogger(__name__)
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PRESIGN_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
)


@functools.lru_cache(maxsize=4096)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for a day, region and service (cached: 4 HMACs saved per
    request; the cache lives in the process that holds the secrets anyway)."""
    key = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class _Scope:
    __slots__ = ("access_key_id", "date", "region", "service", "text")

    def __init__(self, access_key_id: str, date: str, region: str, service: str) -> None:
        self.access_key_id = access_key_id
        self.date = date
        self.region = region
        self.service = service
        self.text = f"{date}/{region}/{service}/aws4_request"


def _parse_scope(ctx: AuthContext, credential: str, *, presigned: bool) -> _Scope:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        if ctx.family is Family.S3:
            detail = (
                'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
                'aws4_request".'
            )
        else:
            detail = (
                "Credential must have exactly 5 slash-delimited elements, "
                f"e.g. keyid/date/region/service/term, got '{credential}'"
            )
        raise incomplete_signature(ctx.family, detail, presigned=presigned)
    if parts[4] != "aws4_request":
        raise incomplete_signature(
            ctx.family,
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{parts[4]}'.",
            presigned=presigned,
        )
    if parts[3] != ctx.service:
        if ctx.family is Family.S3:
            raise incomplete_signature(
                ctx.family,
                f"incorrect service '{parts[3]}'. This endpoint belongs to '{ctx.service}'.",
                presigned=presigned,
            )
        raise incomplete_signature(
            ctx.family, f"Credential should be scoped to correct service: '{ctx.service}'. "
        )
    return _Scope(parts[0], parts[1], parts[2], parts[3])


def _payload_hash(ctx: AuthContext, *, presigned: bool) -> tuple[str, str | None]:
    """(hash for the canonical request, declared hash left for the caller to check)."""
    declared = ctx.header("x-amz-content-sha256")
    req = ctx.req
    if declared is None:
        if ctx.family is Family.S3:
            if presigned:
                return UNSIGNED_PAYLOAD, None
            raise AwsError(
                "Missing required header for this request: x-amz-content-sha256",
                code="InvalidRequest",
                status=400,
            )
        return hashlib.sha256(req.body).hexdigest() if req.body else EMPTY_SHA256, None
    if declared in PAYLOAD_MARKERS:
        if ctx.family is not Family.S3 and (req.body or req.stream is not None):
            # only S3 streams or leaves a payload unsigned; elsewhere the body is the
            # request's parameters and must be covered by the signature
            raise incomplete_signature(
                ctx.family,
                f"x-amz-content-sha256 {declared} is accepted only by Amazon S3: "
                "the request payload must be signed.",
            )
        return declared, declared
    if not _HEX64.fullmatch(declared):
        raise invalid_content_sha256(ctx.family)
    if req.stream is not None:
        return declared, declared
    computed = hashlib.sha256(req.body).hexdigest() if req.body else EMPTY_SHA256
    if computed != declared:
        raise content_sha256_mismatch(ctx.family, declared, computed)
    return declared, None


def _canonical_headers(ctx: AuthContext, signed: list[str]) -> str:
    get = ctx.values
    lines = []
    for name in signed:
        values = get(name)
        if values is None:
            values = [ctx.req.host] if name == "host" and ctx.req.host else []
        if len(values) == 1:
            lines.append(f"{name}:{' '.join(values[0].split())}\n")
        else:
            lines.append(f"{name}:{canonical_header_value(values)}\n")
    return "".join(lines)


def _check_unsigned_amz_headers(ctx: AuthContext, signed: list[str]) -> None:
    if ctx.family is not Family.S3:
        return
    signed_set = set(signed)
    missing = [name for name in ctx.headers if name.startswith("x-amz-") and name not in signed_set]
    if missing:
        raise headers_not_signed(ctx.family, sorted(missing))


def _parse_signed_headers(ctx: AuthContext, value: str, *, presigned: bool) -> list[str]:
    signed = value.split(";")
    if "host" not in signed:
        raise incomplete_signature(
            ctx.family,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            presigned=presigned,
        )
    return signed


async def _finish(
    ctx: AuthContext,
    *,
    scope: _Scope,
    timestamp: str,
    signed: list[str],
    signature: str,
    query: str,
    token: str | None,
    presigned: bool,
) -> AuthResult:
    payload, left_to_check = _payload_hash(ctx, presigned=presigned)
    _check_unsigned_amz_headers(ctx, signed)
    credential = await ctx.resolve(scope.access_key_id, token)
    req = ctx.req
    canonical_request = "\n".join(
        (
            req.method.upper(),
            canonical_uri(req.path, s3=ctx.family is Family.S3),
            query,
            _canonical_headers(ctx, signed),
            ";".join(signed),
            payload,
        )
    )
    string_to_sign = (
        f"{ALGORITHM}\n{timestamp}\n{scope.text}\n"
        f"{hashlib.sha256(_bytes(canonical_request)).hexdigest()}"
    )
    key = signing_key(credential.secret_access_key, scope.date, scope.region, scope.service)
    expected = hmac.digest(key, _bytes(string_to_sign), "sha256").hex()
    if not hmac.compare_digest(expected.encode(), _bytes(signature)):
        log.debug(
            "SigV4 signature mismatch for %s; canonical request:\n%s\nstring to sign:\n%s",
            scope.access_key_id,
            canonical_request.replace(token, "<session token>") if token else canonical_request,
            string_to_sign,
        )
        raise signature_mismatch(
            ctx.family,
            access_key_id=scope.access_key_id,
            string_to_sign=string_to_sign,
            signature=signature,
            canonical_request=canonical_request,
        )
    return AuthResult(
        credential=credential,
        signature_version=SIGV4_PRESIGNED if presigned else SIGV4,
        family=ctx.family,
        region=scope.region,
        scope_service=scope.service,
        sigv4=SigV4Context(key, expected, scope.text, timestamp, payload),
        content_sha256=left_to_check,
    )


def _parse_authorization(ctx: AuthContext, authorization: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in authorization[len(ALGORITHM) :].split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            params[name] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if missing:
        if ctx.family is Family.S3:
            raise incomplete_signature(
                ctx.family,
                "the Authorization header requires Credential, SignedHeaders and "
                "Signature parameters.",
            )
        raise incomplete_signature(
            ctx.family, " ".join(missing) + f" Authorization={authorization}"
        )
    return params


def _request_timestamp(ctx: AuthContext) -> tuple[str, datetime]:
    amz_date = ctx.header("x-amz-date")
    if amz_date is not None:
        parsed = parse_amz_date(amz_date)
        if parsed is None:
            parsed = parse_http_date(amz_date)
            if parsed is not None:
                amz_date = format_amz_date(parsed)
    else:
        http_date = ctx.header("date")
        parsed = parse_http_date(http_date) if http_date else None
        amz_date = format_amz_date(parsed) if parsed else None
    if parsed is None or amz_date is None:
        if ctx.family is Family.S3:
            raise AwsError(
                "AWS authentication requires a valid Date or x-amz-date header",
                code="AccessDenied",
                status=403,
            )
        raise incomplete_signature(
            ctx.family,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    return amz_date, parsed


async def verify_header(ctx: AuthContext, authorization: str) -> AuthResult:
    """Verify ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    params = _parse_authorization(ctx, authorization)
    scope = _parse_scope(ctx, params["Credential"], presigned=False)
    signed = _parse_signed_headers(ctx, params["SignedHeaders"], presigned=False)
    timestamp, when = _request_timestamp(ctx)
    if timestamp[:8] != scope.date:
        if ctx.family is Family.S3:
            raise incomplete_signature(
                ctx.family, "Invalid credential date. Date is not the same as X-Amz-Date."
            )
        raise signature_mismatch(ctx.family)
    if abs(ctx.now - when) > ctx.skew:
        raise request_time_skewed(ctx.family, when, ctx.now, ctx.skew)
    return await _finish(
        ctx,
        scope=scope,
        timestamp=timestamp,
        signed=signed,
        signature=params["Signature"],
        query=canonical_query(ctx.req.raw_query),
        token=ctx.header("x-amz-security-token"),
        presigned=False,
    )


def _presign_error(ctx: AuthContext, detail: str) -> AwsError:
    return incomplete_signature(ctx.family, detail, presigned=True)


async def verify_presigned(ctx: AuthContext) -> AuthResult:
    """Verify a presigned URL (``X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...``)."""
    req = ctx.req
    values = {name: req.query_value(name) for name in _PRESIGN_REQUIRED}
    expires_raw = req.query_value("X-Amz-Expires")
    missing = [name for name, value in values.items() if not value]
    if missing or (ctx.family is Family.S3 and not expires_raw):
        raise _presign_error(
            ctx,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise _presign_error(ctx, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    timestamp = str(values["X-Amz-Date"])
    when = parse_amz_date(timestamp)
    if when is None:
        raise _presign_error(
            ctx, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    expires_seconds: int | None = None
    if expires_raw:
        try:
            expires_seconds = int(expires_raw)
        except ValueError:
            raise _presign_error(ctx, "X-Amz-Expires should be a number") from None
        if expires_seconds < 0:
            raise _presign_error(ctx, "X-Amz-Expires must be non-negative")
        if expires_seconds > MAX_PRESIGNED_EXPIRES:
            raise _presign_error(
                ctx, "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            )
    scope = _parse_scope(ctx, str(values["X-Amz-Credential"]), presigned=True)
    if scope.date != timestamp[:8]:
        raise _presign_error(ctx, "Invalid credential date. Date is not the same as X-Amz-Date.")
    signed = _parse_signed_headers(ctx, str(values["X-Amz-SignedHeaders"]), presigned=True)
    lifetime = timedelta(seconds=expires_seconds) if expires_seconds is not None else ctx.skew
    if ctx.now > when + lifetime:
        raise presigned_expired(
            ctx.family, ctx.now, expires=when + lifetime, expires_seconds=expires_seconds
        )
    if when - ctx.now > ctx.skew:
        raise presigned_not_yet_valid(ctx.family)
    token = req.query_value("X-Amz-Security-Token") or ctx.header("x-amz-security-token")
    return await _finish(
        ctx,
        scope=scope,
        timestamp=timestamp,
        signed=signed,
        signature=str(values["X-Amz-Signature"]),
        query=canonical_query(req.raw_query, drop="X-Amz-Signature"),
        token=token,
        presigned=True,
    )
