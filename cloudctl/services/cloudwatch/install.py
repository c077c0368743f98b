"""Installs CloudWatch into a cloud process (its ``ServiceSpec`` install): the metric,
alarm and dashboard providers, the metric store, and the alarm controller (started by
the alarms provider, leader only)."""

from __future__ import annotations

from cloudctl.server.cloud import Cloud
from cloudctl.services.cloudwatch import properties as _properties  # noqa: F401 - defines


def install(cloud: Cloud) -> None:
    from cloudctl.protocol.codec import codec_for
    from cloudctl.services import authz
    from cloudctl.services.cloudwatch.access import resources
    from cloudctl.services.cloudwatch.alarms import AlarmsProvider
    from cloudctl.services.cloudwatch.controller import CONTROLLER, AlarmController
    from cloudctl.services.cloudwatch.dashboards import DashboardsProvider
    from cloudctl.services.cloudwatch.metrics import MetricsProvider
    from cloudctl.services.cloudwatch.store import STORE, StoreHolder
    from cloudctl.services.cloudwatch.usual import usual_params

    cloud.runtime.setdefault(STORE, lambda: StoreHolder(cloud))
    cloud.runtime[CONTROLLER] = AlarmController(
        cloud, leader=lambda: cloud.runs_controllers)
    authz.declare("cloudwatch", resources)
    # PutMetricData's usual JSON call read in one pass (the model's parse otherwise)
    codec_for("cloudwatch").accept("PutMetricData", usual_params)
    for provider_cls in (MetricsProvider, AlarmsProvider, DashboardsProvider):
        cloud.add_provider(provider_cls(cloud))
