"""Request authentication: SigV4 (header and presigned), SigV2 (query and S3 HmacV1).

Owns verifying who sent a request; it must not decide what they may do (that is
the policy engine's job) and must not import providers, the server or the database:
credentials come through the ``CredentialStore`` protocol the caller passes in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudctl.auth.chunked import ChunkedBody, ChunkSignatureVerifier
    from cloudctl.auth.credentials import Credential, CredentialStore, MemoryCredentialStore
    from cloudctl.auth.errors import Family, family_for
    from cloudctl.auth.result import AuthResult, SigV4Context, require_authenticated
    from cloudctl.auth.secrets import SecretBox, SecretBoxError
    from cloudctl.auth.verify import DEFAULT_CLOCK_SKEW, authenticate

# each name is imported from its module on first use (PEP 562): a process that needs only
# one of them (the admin CLI opens the secret box: ``cloudctl.auth.secrets``) does not
# import the request verifiers and the protocol codecs behind them
_HOMES = {
    "ChunkedBody": "chunked", "ChunkSignatureVerifier": "chunked",
    "Credential": "credentials", "CredentialStore": "credentials",
    "MemoryCredentialStore": "credentials", "Family": "errors", "family_for": "errors",
    "AuthResult": "result", "SigV4Context": "result", "require_authenticated": "result",
    "SecretBox": "secrets", "SecretBoxError": "secrets", "DEFAULT_CLOCK_SKEW": "verify",
    "authenticate": "verify",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
