"""Empyrean: the service topology (DescribeServices) as Eucalyptus admins know it.

Also the service registry of a several-host cloud (``registry.py``: each host's
heartbeat and ENABLED/DISABLED state) and the tables of the controllers' leadership
terms (``models.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.empyrean.provider import REGISTRY, EmpyreanProvider
    from cloudctl.services.empyrean.registry import DisabledHostHook, HostRegistry

    registry = HostRegistry(cloud)
    cloud.runtime[REGISTRY] = registry
    cloud.hooks.append(DisabledHostHook(registry))
    cloud.add_provider(EmpyreanProvider(cloud))


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.empyrean.models import EMPYREAN_TABLES

    return EMPYREAN_TABLES


SERVICE = ServiceSpec("empyrean", _install, tables=_tables)
