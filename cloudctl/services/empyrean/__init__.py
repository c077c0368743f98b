"""Empyrean: the service topology (DescribeServices) as Eucalyptus admins know it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.empyrean.provider import EmpyreanProvider

    cloud.add_provider(EmpyreanProvider(cloud))


SERVICE = ServiceSpec("empyrean", _install)
