"""Per-request inputs shared by the signature verifiers.

Owns ``AuthContext``: the request with its headers (read by name, or folded once to
lower-case lists when a verifier reads them all), the error family, the clock and
the credential store. ``usable_credential`` resolves an access key to a usable
``Credential`` (known, active, session token matching, not expired): the one check
every path runs (SigV4 header and presigned, SigV2, S3 HmacV1 header and presigned,
and the S3 POST policy form, which calls it directly).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
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


async def usable_credential(store: CredentialStore, family: Family, access_key_id: str,
                            token: str | None, now: datetime) -> Credential:
    """The active, unexpired credential of ``access_key_id`` if ``token`` belongs to it.

    Raises the ``family``'s AWS error otherwise (unknown key, bad token, expired).
    """
    credential = await store.lookup(access_key_id)
    if credential is None or not credential.active:
        raise unknown_access_key(family, access_key_id)
    expected = credential.session_token
    if expected is None:
        if token:
            raise invalid_token(family)
    else:
        if not token:
            # A temporary key id is meaningless without its token.
            raise unknown_access_key(family, access_key_id)
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise invalid_token(family)
    if credential.expires_at is not None and credential.expires_at <= now:
        raise expired_token(family)
    return credential


@dataclass
class AuthContext:
    req: WireRequest
    store: CredentialStore
    family: Family
    service: str
    now: datetime
    skew: timedelta
    folded: dict[str, list[str]] | None = None

    @property
    def headers(self) -> dict[str, list[str]]:
        """Header values by lower-case name, in order received: folded on first use
        (S3's checks read every header; a SigV4 call elsewhere reads a few by name)."""
        folded = self.folded
        if folded is None:
            folded = self.folded = fold_headers(self.req)
        return folded

    def header(self, lname: str) -> str | None:
        """The first value of the header named ``lname`` (lower case)."""
        if self.folded is None:
            return self.req.header(lname)
        values = self.folded.get(lname)
        return values[0] if values else None

    def values(self, lname: str) -> list[str] | None:
        """Every value of the header named ``lname`` (lower case), None without one."""
        getall = getattr(self.req.headers, "getall", None)
        if getall is not None and self.folded is None:  # a case-insensitive multidict
            found: list[str] | None = getall(lname, None)
            return found
        return self.headers.get(lname)

    def host(self) -> str:
        return self.header("host") or self.req.host

    async def resolve(self, access_key_id: str, token: str | None) -> Credential:
        """The active credential of ``access_key_id`` if ``token`` belongs to it."""
        return await usable_credential(self.store, self.family, access_key_id, token, self.now)
