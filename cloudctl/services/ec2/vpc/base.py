"""The base class of the VPC providers: the caller's account with its default VPC."""

from __future__ import annotations

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider
from cloudctl.services.ec2.vpc import build, common


class VpcProvider(Provider):
    service = "ec2"

    async def account(self, ctx: RequestContext) -> str:
        """The caller's account; its default VPC exists afterwards (VPC mode)."""
        account = ctx.require_account()
        await build.ensure_default_vpc(self.cloud, account, ctx.region)
        return account

    def changed(self) -> None:
        common.changed(self.cloud)
