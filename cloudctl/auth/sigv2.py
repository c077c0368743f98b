"""AWS Signature Version 2 for query services (EC2, IAM, STS... and euca2ools).

Owns verifying ``SignatureVersion=2`` requests whose parameters travel in the query
string (GET) or a form-encoded body (POST): ``HmacSHA256`` or ``HmacSHA1`` over
method, host, path and the sorted, encoded parameters; ``Timestamp`` within the
allowed skew or ``Expires`` in the future (at most ``MAX_EXPIRES_AHEAD``, the
week SigV4 allows a presigned URL); ``SecurityToken`` for sessions.

The parameters signed are ``cloudctl.protocol.form.query_parameters(req)``, the very
list the query parser reads: a body that is not form-encoded, or a parameter named
twice, is refused before any signature is computed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import timedelta
from urllib.parse import quote

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
from cloudctl.protocol.form import loose_keys, query_parameters
from cloudctl.protocol.wire import WireRequest

log = logging.getLogger(__name__)

_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
# How far ahead a SigV2 ``Expires`` may be: a week, as SigV4's X-Amz-Expires (604800 s).
MAX_EXPIRES_AHEAD = timedelta(days=7)


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


async def verify(ctx: AuthContext) -> AuthResult:
    """Verify the SigV2 signature over every parameter the request carries."""
    params = query_parameters(ctx.req)
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
    elif when - ctx.now > MAX_EXPIRES_AHEAD:
        raise AwsError(
            f"Invalid value for parameter Expires: it must be no more than "
            f"{int(MAX_EXPIRES_AHEAD.total_seconds())} seconds (7 days) in the future.",
            code="InvalidParameterValue",
            status=400,
        )
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


def looks_like_sigv2(req: WireRequest) -> bool:
    """True when the query or a form body names SigV2 parameters."""
    return not loose_keys(req).isdisjoint(("SignatureVersion", "AWSAccessKeyId"))


__all__ = ["MAX_EXPIRES_AHEAD", "Family", "looks_like_sigv2", "string_to_sign", "verify"]
