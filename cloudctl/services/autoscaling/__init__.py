"""Auto Scaling: launch configurations, groups of real EC2 instances kept at their
desired capacity by a controller (healing, zone balance, cooldowns, suspended
processes), scaling policies run by ExecutePolicy or CloudWatch alarms, scheduled
actions and lifecycle hooks. Other services call ``api``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.autoscaling.install import install

    install(cloud)


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.autoscaling.models import AUTOSCALING_TABLES

    return AUTOSCALING_TABLES


SERVICE = ServiceSpec("autoscaling", _install, tables=_tables)
