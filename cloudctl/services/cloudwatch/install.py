"""Installs CloudWatch into a cloud process (its ``ServiceSpec`` install)."""

from __future__ import annotations

from cloudctl.server.cloud import Cloud
from cloudctl.services.cloudwatch import properties as _properties  # noqa: F401 - defines


def install(cloud: Cloud) -> None:
    from cloudctl.services.cloudwatch.metrics import MetricsProvider
    from cloudctl.services.cloudwatch.store import STORE, StoreHolder

    cloud.runtime.setdefault(STORE, lambda: StoreHolder(cloud))
    for provider_cls in (MetricsProvider,):
        cloud.add_provider(provider_cls(cloud))
