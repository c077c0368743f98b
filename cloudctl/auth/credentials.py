"""The credential record authentication verifies against, and where it comes from.

Owns the ``Credential`` shape and the ``CredentialStore`` protocol the identity
layer implements (IAM access keys, STS sessions). It must not know how credentials
are stored: the database-backed store lives with the identity service. A small
in-memory store ships here for tests and the embedded bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

PrincipalType = Literal["root", "user", "assumed-role", "federated-user"]


@dataclass(frozen=True)
class Credential:
    """An access key and the principal it belongs to.

    ``session_token`` and ``expires_at`` are set for temporary (STS) credentials.
    The secret never appears in ``repr`` so a stray log line cannot leak it.
    ``attributes`` is free for the identity layer (session policies, tags...).
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str
    principal_arn: str
    user_id: str
    principal_type: PrincipalType = "user"
    session_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    active: bool = True
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_temporary(self) -> bool:
        return self.session_token is not None


class CredentialStore(Protocol):
    """Looks up the credential of an access key id (``None`` when unknown)."""

    async def lookup(self, access_key_id: str) -> Credential | None: ...


class MemoryCredentialStore:
    """A ``CredentialStore`` over a dict: tests and the embedded bootstrap."""

    def __init__(self, credentials: list[Credential] | None = None) -> None:
        self._by_key: dict[str, Credential] = {}
        for credential in credentials or []:
            self.add(credential)

    def add(self, credential: Credential) -> None:
        self._by_key[credential.access_key_id] = credential

    def remove(self, access_key_id: str) -> None:
        self._by_key.pop(access_key_id, None)

    async def lookup(self, access_key_id: str) -> Credential | None:
        return self._by_key.get(access_key_id)
