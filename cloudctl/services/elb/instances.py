"""Back-end instances: Register/DeregisterInstancesWithLoadBalancer (instances checked
with EC2's public api) and DescribeInstanceHealth (from the data plane's checks)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.elb import common, health
from cloudctl.services.elb.base import ElbProvider
from cloudctl.services.elb.common import InvalidInstance, ValidationError
from cloudctl.services.elb.models import ElbLoadBalancer

INSTANCE_RE = re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$")


def instance_ids(raw: list[Any]) -> list[str]:
    out: list[str] = []
    for item in raw:
        iid = str(item.get("InstanceId") if isinstance(item, dict) else item or "")
        if not INSTANCE_RE.match(iid):
            raise InvalidInstance(f"Invalid id: \"{iid}\"")
        if iid not in out:
            out.append(iid)
    return out


async def ec2_states(session: AsyncSession, account: str, region: str,
                     ids: list[str]) -> dict[str, str]:
    from cloudctl.services.ec2.api import instance_facts

    facts = await instance_facts(session, account, region, ids)
    return {i: f.state for i, f in facts.items()}


async def register(session: AsyncSession, account: str, region: str, lb: ElbLoadBalancer,
                   ids: list[str]) -> None:
    known = await ec2_states(session, account, region, ids)
    for iid in ids:
        if known.get(iid, "terminated") in ("terminated", "shutting-down"):
            raise InvalidInstance(f"Could not find EC2 instance {iid}.")
    added = [i for i in ids if i not in lb.instances]
    if added:
        lb.instances = [*lb.instances, *added]
        common.touch(lb)


def deregister(lb: ElbLoadBalancer, ids: list[str]) -> None:
    missing = [i for i in ids if i not in lb.instances]
    if missing:
        raise InvalidInstance(f"The requested instance {missing[0]} is not registered with "
                              f"the load balancer {lb.name}")
    lb.instances = [i for i in lb.instances if i not in ids]
    common.touch(lb)


class InstancesProvider(ElbProvider):
    service = "elb"

    @operation("RegisterInstancesWithLoadBalancer")
    async def register(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        ids = instance_ids(list(params.get("Instances") or []))
        if not ids:
            raise ValidationError("Instances is required")
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            await register(session, account, ctx.region, lb, ids)
            now = list(lb.instances)
        return {"Instances": [{"InstanceId": i} for i in now]}

    @operation("DeregisterInstancesFromLoadBalancer")
    async def deregister(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        ids = instance_ids(list(params.get("Instances") or []))
        if not ids:
            raise ValidationError("Instances is required")
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            deregister(lb, ids)
            now = list(lb.instances)
        return {"Instances": [{"InstanceId": i} for i in now]}

    @operation("DescribeInstanceHealth")
    async def describe_health(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        asked = instance_ids(list(params.get("Instances") or []))
        async with self.cloud.sessions() as session:
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            states = await ec2_states(session, account, ctx.region,
                                      sorted(set(lb.instances) | set(asked)))
        found = health.states(self.cloud, lb.lb_id, list(lb.instances), asked, states)
        return {"InstanceStates": [s.to_wire() for s in found]}
