"""STS: who is calling (GetCallerIdentity); the token operations arrive with IAM."""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation


class StsProvider(Provider):
    service = "sts"

    @operation("GetCallerIdentity")
    async def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        credential = ctx.credential
        assert credential is not None
        return {"UserId": credential.user_id, "Account": credential.account_id,
                "Arn": credential.principal_arn}
