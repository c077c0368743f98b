"""What a provider knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudctl.protocol.wire import WireRequest

if TYPE_CHECKING:
    from cloudctl.auth.credentials import Credential


@dataclass
class RequestContext:
    """The caller, region and raw request behind one operation call.

    ``account_id`` is the caller's account (None for an anonymous S3 request);
    ``region`` the SigV4 region of the request, else the cloud's region.
    """

    request_id: str
    service: str
    operation: str
    region: str
    credential: Credential | None
    wire: WireRequest
    source_ip: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str | None:
        return self.credential.account_id if self.credential else None

    def require_account(self) -> str:
        if self.credential is None:
            from cloudctl.errors import AccessDenied

            raise AccessDenied("Anonymous users cannot perform this operation.")
        return self.credential.account_id
