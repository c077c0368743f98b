"""Per-request inputs shared by the signature verifiers.

Owns ``AuthContext``: the request with its headers folded once to lower-case
lists (a verifier looks headers up many times), the error family, the clock and
the credential store. It also resolves an access key to a usable ``Credential``
(active, not expired, session token matching) the same way for every signature
version.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloudctl.auth.credentials import Credential, CredentialStore
from cloudctl.auth.errors import Family, expired_token, invalid_token, unknown_access_key
from cloudctl.protocol.wire import WireRequest


def fold_headers(req: WireRequest) -> dict[str, list[str]]:
    """Header values by lower-case name, in order received (all values kept)."""
    folded: dict[str, list[str]] = {}
    for name, value in req.headers.items():
        folded.setdefault(name.lower(), []).append(value)
    return folded


@dataclass
class AuthContext:
    req: WireRequest
    store: CredentialStore
    family: Family
    service: str
    now: datetime
    skew: timedelta
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header(self, lname: str) -> str | None:
        values = self.headers.get(lname)
        return values[0] if values else None

    def host(self) -> str:
        return self.header("host") or self.req.host

    async def resolve(self, access_key_id: str, token: str | None) -> Credential:
        """The active credential of ``access_key_id`` if ``token`` belongs to it."""
        credential = await self.store.lookup(access_key_id)
        if credential is None or not credential.active:
            raise unknown_access_key(self.family, access_key_id)
        expected = credential.session_token
        if expected is None:
            if token:
                raise invalid_token(self.family)
        else:
            if not token:
                # A temporary key id is meaningless without its token.
                raise unknown_access_key(self.family, access_key_id)
            if not hmac.compare_digest(token.encode(), expected.encode()):
                raise invalid_token(self.family)
        if credential.expires_at is not None and credential.expires_at <= self.now:
            raise expired_token(self.family)
        return credential
