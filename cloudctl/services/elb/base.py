"""The base of ELB's providers: a call that changed a load balancer wakes the data
plane controller (and the VPC topology publisher: its interfaces) once its
transaction is committed (the handler has returned)."""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Handler, Provider, Result


class ElbProvider(Provider):
    service = "elb"

    def handler(self, operation_name: str) -> Handler | None:
        fn = super().handler(operation_name)
        if fn is None or operation_name.startswith("Describe"):
            return fn
        inner = fn

        async def changed(ctx: RequestContext, params: dict[str, Any]) -> Result:
            from cloudctl.services.ec2.api import vpc_changed
            from cloudctl.services.elb.dataplane import wake

            out = await inner(ctx, params)
            wake(self.cloud)
            vpc_changed(self.cloud)  # a load balancer's interfaces may have changed
            return out

        return changed
