"""ELB's public API: what other services may call (Auto Scaling registers the
instances it launches). No HTTP, no IAM: the callers are the cloud; AWS's errors are
raised as the API raises them (``LoadBalancerNotFound``, ``InvalidInstance``).

- ``load_balancer_exists(cloud, account_id, region, lb_name)``;
- ``register_instances`` / ``deregister_instances(cloud, account_id, region, lb_name,
  instance_ids)``;
- ``instance_health(cloud, account_id, region, lb_name)``: instance id ->
  ``"InService"`` / ``"OutOfService"``, from the data plane's health checks;
- ``source_group_owner(session, region, group_name)``: the account whose load balancer
  has that source security group (``default_elb_<id>``), for EC2's group rules.

Acting as a principal (``cloudctl.server.internal.Caller``, authorised as the same API
request would be; CloudFormation's load balancer type): ``create_load_balancer``,
``load_balancer``, ``configure_health_check``, ``register_as``, ``deregister_as``,
``delete_load_balancer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call
from cloudctl.services.elb import common, health
from cloudctl.services.elb.instances import deregister, ec2_states, instance_ids, register

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cloudctl.server.cloud import Cloud

__all__ = ["Caller", "configure_health_check", "create_load_balancer", "delete_load_balancer",
           "deregister_as", "deregister_instances", "instance_health", "load_balancer",
           "load_balancer_exists", "register_as", "register_instances", "source_group_owner"]


async def load_balancer_exists(cloud: Cloud, account_id: str, region: str,
                               lb_name: str) -> bool:
    async with cloud.sessions() as session:
        return await common.find(session, account_id, region, lb_name) is not None


async def register_instances(cloud: Cloud, account_id: str, region: str, lb_name: str,
                             instance_ids_: Sequence[str]) -> None:
    ids = instance_ids(list(instance_ids_))
    async with cloud.sessions() as session, session.begin():
        lb = await common.get(session, account_id, region, lb_name)
        await register(session, account_id, region, lb, ids)


async def deregister_instances(cloud: Cloud, account_id: str, region: str, lb_name: str,
                               instance_ids_: Sequence[str]) -> None:
    """Deregister those of ``instance_ids_`` that are registered (others are ignored:
    Auto Scaling deregisters what it terminates, maybe twice)."""
    ids = instance_ids(list(instance_ids_))
    async with cloud.sessions() as session, session.begin():
        lb = await common.get(session, account_id, region, lb_name)
        present = [i for i in ids if i in lb.instances]
        if present:
            deregister(lb, present)


async def instance_health(cloud: Cloud, account_id: str, region: str,
                          lb_name: str) -> dict[str, str]:
    async with cloud.sessions() as session:
        lb = await common.get(session, account_id, region, lb_name)
        states = await ec2_states(session, account_id, region, list(lb.instances))
    found = health.states(cloud, lb.lb_id, list(lb.instances), [], states)
    return {s.instance_id: s.state for s in found}


async def source_group_owner(session: AsyncSession, region: str, group_name: str) -> str | None:
    """The account of the load balancer whose source security group (outside a VPC,
    ``default_elb_<id>``) is ``group_name``; None when there is none. A read in the
    caller's session (EC2 resolving a rule's source group)."""
    from sqlalchemy import select

    from cloudctl.services.elb.models import ElbLoadBalancer

    prefix = common.SOURCE_GROUP_PREFIX
    if not group_name.startswith(prefix):
        return None
    found = (await session.execute(select(ElbLoadBalancer.account_id).where(
        ElbLoadBalancer.lb_id == group_name[len(prefix):],
        ElbLoadBalancer.region == region))).scalar()
    return str(found) if found else None


# -- as a principal --------------------------------------------------------------------------

async def create_load_balancer(cloud: Cloud, caller: Caller,
                               params: dict[str, Any]) -> str:
    """CreateLoadBalancer with its request parameters; the DNS name."""
    return str((await call(cloud, caller, "elb", "CreateLoadBalancer", params))["DNSName"])


async def load_balancer(cloud: Cloud, caller: Caller, name: str) -> dict[str, Any] | None:
    """DescribeLoadBalancers' description of ``name``, None when there is none."""
    try:
        found = await call(cloud, caller, "elb", "DescribeLoadBalancers",
                           {"LoadBalancerNames": [name]})
    except AwsError as error:
        if error.code == "LoadBalancerNotFound":
            return None
        raise
    items = found.get("LoadBalancerDescriptions") or []
    return dict(items[0]) if items else None


async def configure_health_check(cloud: Cloud, caller: Caller, name: str,
                                 check: dict[str, Any]) -> None:
    await call(cloud, caller, "elb", "ConfigureHealthCheck",
               {"LoadBalancerName": name, "HealthCheck": check})


async def modify_attributes(cloud: Cloud, caller: Caller, name: str,
                            attributes: dict[str, Any]) -> None:
    """ModifyLoadBalancerAttributes (``LoadBalancerAttributes`` as the API takes them)."""
    await call(cloud, caller, "elb", "ModifyLoadBalancerAttributes",
               {"LoadBalancerName": name, "LoadBalancerAttributes": attributes})


async def register_as(cloud: Cloud, caller: Caller, name: str, ids: list[str]) -> None:
    if ids:
        await call(cloud, caller, "elb", "RegisterInstancesWithLoadBalancer", {
            "LoadBalancerName": name, "Instances": [{"InstanceId": i} for i in ids]})


async def deregister_as(cloud: Cloud, caller: Caller, name: str, ids: list[str]) -> None:
    if ids:
        await call(cloud, caller, "elb", "DeregisterInstancesFromLoadBalancer", {
            "LoadBalancerName": name, "Instances": [{"InstanceId": i} for i in ids]})


async def delete_load_balancer(cloud: Cloud, caller: Caller, name: str) -> None:
    """DeleteLoadBalancer (which succeeds for a name that does not exist, as on AWS)."""
    await call(cloud, caller, "elb", "DeleteLoadBalancer", {"LoadBalancerName": name})
