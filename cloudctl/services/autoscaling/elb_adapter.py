"""The load balancers a group uses, through the ELB service's public ``api`` module
(``register_instances``, ``deregister_instances``, ``instance_health``,
``load_balancer_exists``): registration as the group's instances come and go, and ELB
health for groups whose ``HealthCheckType`` is ``ELB``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudctl.services.elb import api

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def load_balancer_exists(cloud: Cloud, account: str, region: str, name: str) -> bool:
    return bool(await api.load_balancer_exists(cloud, account, region, name))


async def register(cloud: Cloud, account: str, region: str, names: list[str],
                   instance_ids: list[str]) -> None:
    if not instance_ids:
        return
    for name in names:
        await api.register_instances(cloud, account, region, name, instance_ids)


async def deregister(cloud: Cloud, account: str, region: str, names: list[str],
                     instance_ids: list[str]) -> None:
    if not instance_ids:
        return
    for name in names:
        await api.deregister_instances(cloud, account, region, name, instance_ids)


async def out_of_service(cloud: Cloud, account: str, region: str, names: list[str],
                         instance_ids: list[str]) -> set[str]:
    """The instances among ``instance_ids`` some load balancer of ``names`` reports
    OutOfService."""
    if not instance_ids:
        return set()
    wanted = set(instance_ids)
    out: set[str] = set()
    for name in names:
        health = await api.instance_health(cloud, account, region, name)
        out |= {i for i, state in health.items() if state == "OutOfService" and i in wanted}
    return out
