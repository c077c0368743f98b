"""Account-level Block Public Access: s3control Put/Get/DeletePublicAccessBlock (the
``x-amz-account-id`` header names the account) and the settings every bucket of the
account gets on top of its own (``public_access`` enforces the union).

An account's settings are read through ``AccountBlocks``, a per-process cache whose
entries live ``POLICY_TTL`` seconds like the bucket snapshots (another API process
sees a change that late at most) and are dropped at once when this process changes
them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, operation
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.s3.errors import access_denied, malformed_xml, s3_error
from cloudctl.services.s3.models import S3AccountPublicAccess
from cloudctl.services.s3.public_access import NONE, SETTINGS

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

POLICY_TTL = 1.0

#: s3control's operations and the IAM actions AWS checks for them
ACTIONS = {"PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
           "GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
           "DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock"}


class AccountBlocks:
    """The accounts' Block Public Access settings, cached in this process."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._cache: dict[str, tuple[float, Mapping[str, bool]]] = {}

    def forget(self, account: str) -> None:
        self._cache.pop(account, None)

    async def get(self, account: str) -> Mapping[str, bool]:
        """The account's settings (all off when it has none); read only."""
        now = time.monotonic()
        hit = self._cache.get(account)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.cloud.sessions() as session:
            row = await session.get(S3AccountPublicAccess, account)
        value = _decode(row.settings) if row is not None else NONE
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[account] = (now + POLICY_TTL, value)
        return value


BLOCKS = RuntimeKey[AccountBlocks]("s3.account_public_access")


def _decode(text: str) -> Mapping[str, bool]:
    stored = json.loads(text or "{}")
    return {name: bool(stored.get(name)) for name in SETTINGS}


async def account_settings(cloud: Cloud, account: str) -> Mapping[str, bool]:
    """The Block Public Access settings of ``account`` (every bucket of it gets them)."""
    return await cloud.runtime[BLOCKS].get(account)


def operation_action(ctx: RequestContext, params: dict[str, Any]) -> str | None:
    return ACTIONS.get(ctx.operation, f"s3:{ctx.operation}")


class AccountPublicAccessProvider(Provider):
    """s3control Put/Get/DeletePublicAccessBlock of the caller's own account."""

    service = "s3control"

    def _account(self, ctx: RequestContext, params: dict[str, Any]) -> str:
        caller = ctx.require_account()
        if str(params.get("AccountId") or "") != caller:
            raise access_denied()  # AWS: another account's settings are not yours to see
        return caller

    @operation("PutPublicAccessBlock")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(ctx, params)
        config = params.get("PublicAccessBlockConfiguration")
        if not isinstance(config, dict):
            raise malformed_xml()
        text = json.dumps({name: bool(config.get(name)) for name in SETTINGS},
                          sort_keys=True)
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(S3AccountPublicAccess, account)
            if row is None:
                session.add(S3AccountPublicAccess(account_id=account, settings=text))
            else:
                row.settings, row.updated_at = text, utcnow()
        self.cloud.runtime[BLOCKS].forget(account)
        return {}

    @operation("GetPublicAccessBlock")
    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(ctx, params)
        async with self.cloud.sessions() as session:
            row = await session.get(S3AccountPublicAccess, account)
        if row is None:
            raise s3_error("NoSuchPublicAccessBlockConfiguration", "The public access block "
                           "configuration was not found", 404)
        return {"PublicAccessBlockConfiguration": _decode(row.settings)}

    @operation("DeletePublicAccessBlock")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(ctx, params)
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(S3AccountPublicAccess, account)
            if row is not None:
                await session.delete(row)
        self.cloud.runtime[BLOCKS].forget(account)
        return {}
