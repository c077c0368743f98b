"""Group metrics (``AWS/AutoScaling``, dimension ``AutoScalingGroupName``) published to
CloudWatch once a minute for the metrics EnableMetricsCollection turned on."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from cloudctl.db.base import utcnow
from cloudctl.services.autoscaling.common import loads
from cloudctl.services.autoscaling.models import AsGroup, AsInstance

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

PERIOD = 60.0


def values(group: AsGroup, rows: list[AsInstance]) -> dict[str, float]:
    def count(*states: str) -> float:
        return float(sum(1 for r in rows if r.lifecycle_state in states))

    pending = count("Pending", "Pending:Wait", "Pending:Proceed")
    in_service = count("InService")
    standby = count("Standby", "EnteringStandby")
    terminating = count("Terminating", "Terminating:Wait", "Terminating:Proceed")
    total = pending + in_service + standby + terminating
    return {"GroupMinSize": group.min_size, "GroupMaxSize": group.max_size,
            "GroupDesiredCapacity": group.desired, "GroupInServiceInstances": in_service,
            "GroupPendingInstances": pending, "GroupStandbyInstances": standby,
            "GroupTerminatingInstances": terminating, "GroupTotalInstances": total,
            "GroupInServiceCapacity": in_service, "GroupPendingCapacity": pending,
            "GroupStandbyCapacity": standby, "GroupTerminatingCapacity": terminating,
            "GroupTotalCapacity": total}


async def publish(cloud: Cloud, group: AsGroup, last: dict[str, float]) -> None:
    """Publish the group's enabled metrics if a minute has passed since the last time."""
    from cloudctl.services.cloudwatch.api import Datum
    from cloudctl.services.cloudwatch.api import publish as cw_publish

    enabled = [m["Metric"] for m in loads(group.definition).get("EnabledMetrics") or []]
    now = time.monotonic()
    if not enabled or now - last.get(group.arn, -PERIOD) < PERIOD:
        return
    last[group.arn] = now
    async with cloud.sessions() as session:
        rows = list((await session.execute(select(AsInstance).where(
            AsInstance.group_arn == group.arn))).scalars())
    stamp = utcnow()
    numbers = values(group, rows)
    await cw_publish(cloud, group.account_id, group.region, [
        Datum(namespace="AWS/AutoScaling", name=metric,
              dimensions=(("AutoScalingGroupName", group.name),), timestamp=stamp,
              value=numbers[metric], unit="None")
        for metric in enabled if metric in numbers])
