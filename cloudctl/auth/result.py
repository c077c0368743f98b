"""What authentication hands to the next layers.

Owns ``AuthResult`` (who signed, where, how) and ``SigV4Context`` (what the S3
layer needs to verify the chunk signatures of an aws-chunked upload). Holding a
derived signing key, never the secret; both stay out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudctl.auth.credentials import Credential
from cloudctl.auth.errors import Family, missing_authentication

SIGV4 = "v4"
SIGV4_PRESIGNED = "v4-presigned"
SIGV2 = "v2"
S3_HMACV1 = "s3v2"
S3_HMACV1_PRESIGNED = "s3v2-presigned"
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class SigV4Context:
    """The SigV4 material a streaming body's chunk signatures chain from."""

    signing_key: bytes = field(repr=False)
    seed_signature: str
    scope: str
    timestamp: str
    content_sha256: str


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of ``authenticate``.

    ``credential`` is ``None`` for an anonymous request (no authentication at all);
    the caller decides whether that is allowed (S3 public objects) or calls
    ``require_authenticated``. ``region`` and ``scope_service`` come from the SigV4
    credential scope. ``content_sha256`` is the declared payload hash when the body
    was not (or could not be) checked here, e.g. a streamed S3 upload.
    """

    credential: Credential | None
    signature_version: str
    family: Family
    region: str | None = None
    scope_service: str | None = None
    sigv4: SigV4Context | None = None
    content_sha256: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.credential is not None

    def require_authenticated(self) -> Credential:
        """The credential, or the family's "missing authentication" error."""
        if self.credential is None:
            raise missing_authentication(self.family)
        return self.credential


def require_authenticated(result: AuthResult) -> Credential:
    """Function form of ``AuthResult.require_authenticated``."""
    return result.require_authenticated()
