"""Elastic Load Balancing (classic, 2012-06-01): load balancers with listeners, health
checks, policies and tags; one haproxy a load balancer in the data plane (netd), its
health checks the source of DescribeInstanceHealth. Other services call ``api``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.elb.install import install

    install(cloud)


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.elb.models import ELB_TABLES

    return ELB_TABLES


SERVICE = ServiceSpec("elb", _install, tables=_tables)
