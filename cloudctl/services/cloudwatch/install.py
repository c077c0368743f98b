"""Installs CloudWatch into a cloud process (its ``ServiceSpec`` install): the metric,
alarm and dashboard providers, the metric store, and the alarm controller (started by
the alarms provider, leader only)."""

from __future__ import annotations

from cloudctl.server.cloud import Cloud
from cloudctl.services.cloudwatch import properties as _properties  # noqa: F401 - defines


def install(cloud: Cloud) -> None:
    from cloudctl.services import authz
    from cloudctl.services.cloudwatch.access import resources
    from cloudctl.services.cloudwatch.alarms import AlarmsProvider
    from cloudctl.services.cloudwatch.controller import CONTROLLER, AlarmController
    from cloudctl.services.cloudwatch.dashboards import DashboardsProvider
    from cloudctl.services.cloudwatch.metrics import MetricsProvider
    from cloudctl.services.cloudwatch.store import STORE, StoreHolder

    cloud.runtime.setdefault(STORE, lambda: StoreHolder(cloud))
    cloud.runtime[CONTROLLER] = AlarmController(
        cloud, leader=lambda: cloud.runs_controllers)
    authz.declare("cloudwatch", resources)
    for provider_cls in (MetricsProvider, AlarmsProvider, DashboardsProvider):
        cloud.add_provider(provider_cls(cloud))
