"""Request authentication: SigV4 (header and presigned), SigV2 (query and S3 HmacV1).

Owns verifying who sent a request; it must not decide what they may do (that is
the policy engine's job) and must not import providers, the server or the database:
credentials come through the ``CredentialStore`` protocol the caller passes in.
"""

from cloudctl.auth.chunked import ChunkedBody, ChunkSignatureVerifier
from cloudctl.auth.credentials import Credential, CredentialStore, MemoryCredentialStore
from cloudctl.auth.errors import Family, family_for
from cloudctl.auth.result import AuthResult, SigV4Context, require_authenticated
from cloudctl.auth.secrets import SecretBox, SecretBoxError
from cloudctl.auth.verify import DEFAULT_CLOCK_SKEW, authenticate

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "AuthResult",
    "ChunkSignatureVerifier",
    "ChunkedBody",
    "Credential",
    "CredentialStore",
    "Family",
    "MemoryCredentialStore",
    "SecretBox",
    "SecretBoxError",
    "SigV4Context",
    "authenticate",
    "family_for",
    "require_authenticated",
]
