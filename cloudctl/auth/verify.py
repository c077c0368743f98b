"""The authentication entry point: pick the signature scheme a request uses and verify it.

Owns ``authenticate``: SigV4 (Authorization header, presigned query), S3's HmacV1
(header, presigned query), SigV2 for query services, or anonymous when the request
carries no authentication at all. Deciding whether anonymous is acceptable is the
caller's job (``AuthResult.require_authenticated``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudctl.auth import s3v2, sigv2, sigv4
from cloudctl.auth.context import AuthContext
from cloudctl.auth.credentials import CredentialStore
from cloudctl.auth.errors import Family, family_for, incomplete_signature, unsupported_authorization
from cloudctl.auth.result import ANONYMOUS, AuthResult
from cloudctl.protocol.wire import WireRequest

DEFAULT_CLOCK_SKEW = timedelta(minutes=15)


async def authenticate(
    req: WireRequest,
    store: CredentialStore,
    *,
    service: str,
    now: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    protocol: str | None = None,
    virtual_host_bucket: str | None = None,
) -> AuthResult:
    """Verify the request's signature and return who made it.

    ``service`` is the signing name of the service addressed (``ec2``, ``iam``,
    ``sts``, ``s3``, ``monitoring``...); SigV4 scopes naming another service are
    refused. ``protocol`` (the botocore model's protocol) refines which error codes
    answer failures (JSON services use ``...Exception`` codes).
    ``virtual_host_bucket`` is the bucket an S3 request addressed through its Host
    header, which S3's SigV2 canonical resource includes.

    Raises ``AwsError`` with the code, status and message AWS answers.
    """
    family = family_for(service, protocol)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ctx = AuthContext(req, store, family, service, now, clock_skew)
    authorization = ctx.header("authorization")
    if authorization:
        if authorization.startswith(sigv4.ALGORITHM + " "):
            return await sigv4.verify_header(ctx, authorization)
        if authorization.startswith("AWS ") and family is Family.S3:
            return await s3v2.verify_header(ctx, authorization, virtual_host_bucket)
        raise unsupported_authorization(family)
    if req.query_value("X-Amz-Algorithm") is not None:
        return await sigv4.verify_presigned(ctx)
    if req.query_value("X-Amz-Credential") or req.query_value("X-Amz-Signature"):
        raise incomplete_signature(
            family,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
            presigned=True,
        )
    if family is Family.S3:
        if s3v2.is_presigned(ctx):
            return await s3v2.verify_presigned(ctx, virtual_host_bucket)
        return AuthResult(credential=None, signature_version=ANONYMOUS, family=family)
    if sigv2.looks_like_sigv2(req):
        return await sigv2.verify(ctx)
    return AuthResult(credential=None, signature_version=ANONYMOUS, family=family)
