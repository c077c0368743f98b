"""CloudWatch: metrics (PutMetricData, statistics, metric math), alarms that act, and
dashboards, on a time-series store with AWS's retention (embedded in the cloud's
database, or Apache Cassandra). Other services publish through ``api.publish``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.cloudwatch.install import install

    install(cloud)


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.cloudwatch.models import CLOUDWATCH_TABLES

    return CLOUDWATCH_TABLES


SERVICE = ServiceSpec("cloudwatch", _install, tables=_tables)
