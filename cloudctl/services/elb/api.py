"""ELB's public API: what other services may call (Auto Scaling registers the
instances it launches). No HTTP, no IAM: the callers are the cloud; AWS's errors are
raised as the API raises them (``LoadBalancerNotFound``, ``InvalidInstance``).

- ``load_balancer_exists(cloud, account_id, region, lb_name)``;
- ``register_instances`` / ``deregister_instances(cloud, account_id, region, lb_name,
  instance_ids)``;
- ``instance_health(cloud, account_id, region, lb_name)``: instance id ->
  ``"InService"`` / ``"OutOfService"``, from the data plane's health checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cloudctl.services.elb import common, health
from cloudctl.services.elb.instances import deregister, ec2_states, instance_ids, register

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["deregister_instances", "instance_health", "load_balancer_exists",
           "register_instances"]


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
