"""The load balancers a group uses, through the ELB service's public ``api`` module
(``register_instances``, ``deregister_instances``, ``instance_health``,
``load_balancer_exists``) when that service is part of the cloud.

Without it no load balancer exists: a group naming one is refused at the API (AWS's
``ValidationError``), so the controller never has one to register with.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _api() -> ModuleType | None:
    try:
        return importlib.import_module("cloudctl.services.elb.api")
    except ImportError:
        return None


async def load_balancer_exists(cloud: Cloud, account: str, region: str, name: str) -> bool:
    api = _api()
    if api is None:
        return False
    return bool(await api.load_balancer_exists(cloud, account, region, name))


async def register(cloud: Cloud, account: str, region: str, names: list[str],
                   instance_ids: list[str]) -> None:
    api = _api()
    if api is None or not instance_ids:
        return
    for name in names:
        await api.register_instances(cloud, account, region, name, instance_ids)


async def deregister(cloud: Cloud, account: str, region: str, names: list[str],
                     instance_ids: list[str]) -> None:
    api = _api()
    if api is None or not instance_ids:
        return
    for name in names:
        await api.deregister_instances(cloud, account, region, name, instance_ids)


async def out_of_service(cloud: Cloud, account: str, region: str, names: list[str],
                         instance_ids: list[str]) -> set[str]:
    """The instances some load balancer of ``names`` reports OutOfService."""
    api = _api()
    if api is None or not instance_ids:
        return set()
    out: set[str] = set()
    for name in names:
        health = await api.instance_health(cloud, account, region, name, instance_ids)
        out |= {i for i, state in dict(health).items() if state == "OutOfService"}
    return out
