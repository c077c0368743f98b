"""AWS Signature Version 2 for query services (EC2, IAM, STS... and euca2ools).

Owns verifying ``SignatureVersion=2`` requests whose parameters travel in the query
string (GET) or a form-encoded body (POST): ``HmacSHA256`` or ``HmacSHA1`` over
method, host, path and the sorted, encoded parameters; ``Timestamp`` within the
allowed skew or ``Expires`` in the future; ``SecurityToken`` for sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from urllib.parse import parse_qsl, quote

from cloudctl.auth.canonical import parse_http_date
from cloudctl.auth.context import AuthContext
from cloudctl.auth.errors import (
    Family,
    incomplete_signature,
    presigned_expired,
    request_time_skewed,
    signature_mismatch,
)
from cloudctl.auth.result import SIGV2, AuthResult
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest

log = logging.getLogger(__name__)

_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


def form_params(req: WireRequest) -> list[tuple[str, str]]:
    """The parameters of a query request: the query string plus a form-encoded body."""
    params = list(req.query)
    content_type = req.header("content-type") or ""
    if req.body and content_type.lower().startswith("application/x-www-form-urlencoded"):
        params.extend(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def string_to_sign(method: str, host: str, path: str, params: list[tuple[str, str]]) -> str:
    """The SigV2 string to sign (``Signature`` itself left out)."""
    pairs = sorted((_encode(key), _encode(value)) for key, value in params if key != "Signature")
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}\n{host.lower()}\n{path or '/'}\n{query}"


def _missing(ctx: AuthContext, name: str) -> AwsError:
    return AwsError(
        f"The request must contain the parameter {name}", code="MissingParameter", status=400
    )


async def verify(ctx: AuthContext, params: list[tuple[str, str]]) -> AuthResult:
    values = dict(params)
    version = values.get("SignatureVersion", "2")
    if version != "2":
        raise AwsError(
            f"Value ({version}) for parameter SignatureVersion is invalid. Valid values: 2, 4",
            code="InvalidParameterValue",
            status=400,
        )
    access_key_id = values.get("AWSAccessKeyId")
    if not access_key_id:
        raise _missing(ctx, "AWSAccessKeyId")
    signature = values.get("Signature")
    if not signature:
        raise incomplete_signature(
            ctx.family, "Request must contain a signature that conforms to AWS standards"
        )
    method = values.get("SignatureMethod", "")
    digest = _DIGESTS.get(method)
    if digest is None:
        raise AwsError(
            f"Value ({method}) for parameter SignatureMethod is invalid.",
            code="InvalidParameterValue",
            status=400,
        )
    timestamp, expires = values.get("Timestamp"), values.get("Expires")
    if timestamp and expires:
        raise AwsError(
            "Parameters Timestamp and Expires cannot both be present.",
            code="InvalidParameterCombination",
            status=400,
        )
    if not timestamp and not expires:
        raise _missing(ctx, "Timestamp")
    when = parse_http_date(str(timestamp or expires))
    if when is None:
        name = "Timestamp" if timestamp else "Expires"
        raise AwsError(
            f"Invalid value for parameter {name}.", code="InvalidParameterValue", status=400
        )
    if timestamp:
        if abs(ctx.now - when) > ctx.skew:
            raise request_time_skewed(ctx.family, when, ctx.now, ctx.skew)
    elif ctx.now > when:
        raise presigned_expired(ctx.family, ctx.now, expires=when, expires_seconds=None)
    token = values.get("SecurityToken") or ctx.header("x-amz-security-token")
    credential = await ctx.resolve(access_key_id, token)
    text = string_to_sign(ctx.req.method, ctx.host(), ctx.req.path, params)
    mac = hmac.new(credential.secret_access_key.encode(), text.encode("utf-8"), digest)
    expected = base64.b64encode(mac.digest())
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        log.debug("SigV2 signature mismatch for %s; string to sign:\n%s", access_key_id, text)
        raise signature_mismatch(
            ctx.family, access_key_id=access_key_id, string_to_sign=text, signature=signature
        )
    return AuthResult(credential=credential, signature_version=SIGV2, family=ctx.family)


def looks_like_sigv2(params: list[tuple[str, str]]) -> bool:
    return any(key in ("SignatureVersion", "AWSAccessKeyId") for key, _ in params)


__all__ = ["Family", "form_params", "looks_like_sigv2", "string_to_sign", "verify"]
