"""Instance refresh: StartInstanceRefresh, DescribeInstanceRefreshes and
CancelInstanceRefresh, and ``advance`` (the group controller's step): once the group is
steady, the instances launched before the refresh are replaced a batch at a time, never
taking the InService count below MinHealthyPercentage (default 90 %) of the desired
capacity (at least one instance a batch). The refreshes live in the group's definition."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling.common import (
    ValidationError,
    activity,
    dumps,
    group_or_error,
    loads,
    name,
    page,
    stamp,
    where,
)
from cloudctl.services.autoscaling.controller import wake
from cloudctl.services.autoscaling.models import AsGroup, AsInstance

DEFAULT_MIN_HEALTHY = 90
ACTIVE = ("Pending", "InProgress", "Cancelling")


def _current_source(definition: dict[str, Any]) -> str:
    if definition.get("LaunchConfigurationName"):
        return str(definition["LaunchConfigurationName"])
    template = definition.get("LaunchTemplate") or {}
    return str(template.get("LaunchTemplateId") or template.get("LaunchTemplateName"))


def _source(row: AsInstance) -> str:
    source = loads(row.launch_source)
    template = source.get("LaunchTemplate") or {}
    return str(source.get("LaunchConfigurationName") or template.get("LaunchTemplateId"))


def advance(group: AsGroup, definition: dict[str, Any], rows: list[AsInstance],
            session: AsyncSession, now: datetime) -> bool:
    """One step of the group's active refresh; True when it changed something."""
    refreshes = definition.get("InstanceRefreshes") or []
    active = next((r for r in refreshes if r["Status"] in ACTIVE), None)
    if active is None:
        return False
    members = {r.instance_id for r in rows if r.instance_id}
    left = [i for i in active["_ToReplace"] if i in members]
    done = active["InstancesToUpdate"] - len(left)
    if active["Status"] == "Cancelling":
        active.update(Status="Cancelled", EndTime=str(now),
                      StatusReason="The instance refresh was cancelled.")
    elif not left:
        active.update(Status="Successful", EndTime=str(now), PercentageComplete=100,
                      InstancesToUpdate=0, StatusReason="")
    else:
        in_service = [r for r in rows if r.lifecycle_state == "InService"]
        floor = math.ceil(group.desired * int(active["Preferences"]["MinHealthyPercentage"])
                          / 100)
        batch = max(1, len(in_service) - floor)
        chosen = [r for r in in_service if r.instance_id in left][:batch]
        for row in chosen:
            record = activity(session, group, f"Terminating EC2 instance: {row.instance_id}",
                              f"At {stamp(now)} an instance was taken out of service in "
                              f"response to an instance refresh.  At {stamp(now)} instance "
                              f"{row.instance_id} was selected for termination.")
            row.lifecycle_state, row.activity_id = "Terminating", record.activity_id
        active.update(Status="InProgress", StatusReason="Waiting for instances to be "
                                                        "replaced.",
                      PercentageComplete=int(100 * done / max(1, active["_Total"])))
    group.definition = dumps(dict(definition, InstanceRefreshes=refreshes))
    return True


def view(group: AsGroup, item: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if not k.startswith("_")}
    out["AutoScalingGroupName"] = group.name
    for key in ("StartTime", "EndTime"):
        if out.get(key):
            out[key] = datetime.fromisoformat(str(out[key]))
    out["InstancesToUpdate"] = max(0, int(out.get("InstancesToUpdate", 0)))
    return out


class RefreshProvider(Provider):
    service = "autoscaling"

    @operation("StartInstanceRefresh")
    async def start_refresh(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        strategy = params.get("Strategy") or "Rolling"
        if strategy != "Rolling":
            raise ValidationError(f"Strategy {strategy} is not valid; Rolling.")
        preferences = dict(params.get("Preferences") or {})
        healthy = int(preferences.get("MinHealthyPercentage", DEFAULT_MIN_HEALTHY))
        if not 0 <= healthy <= 100:
            raise ValidationError("MinHealthyPercentage must be between 0 and 100.")
        preferences["MinHealthyPercentage"] = healthy
        preferences.setdefault("SkipMatching", False)
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            definition = loads(group.definition)
            refreshes = list(definition.get("InstanceRefreshes") or [])
            if any(r["Status"] in ACTIVE for r in refreshes):
                raise AwsError("An Instance Refresh is already in progress and blocks the "
                               "execution of this Instance Refresh.",
                               code="InstanceRefreshInProgress")
            if params.get("DesiredConfiguration"):
                raise ValidationError("DesiredConfiguration is not supported by this cloud: "
                                      "update the group, then start the refresh.")
            rows = list((await session.execute(select(AsInstance).where(
                AsInstance.group_arn == group.arn))).scalars())
            current = _current_source(definition)
            targets = sorted(str(r.instance_id) for r in rows
                             if r.instance_id and r.lifecycle_state == "InService"
                             and not (preferences["SkipMatching"] and _source(r) == current))
            refresh_id = str(uuid.uuid4())
            refreshes.insert(0, {
                "InstanceRefreshId": refresh_id, "Status": "Pending",
                "StatusReason": "", "StartTime": str(now), "PercentageComplete": 0,
                "InstancesToUpdate": len(targets), "Preferences": preferences,
                "_ToReplace": targets, "_Total": len(targets)})
            definition["InstanceRefreshes"] = refreshes[:50]
            group.definition = dumps(definition)
        wake(self.cloud, group.arn)
        return {"InstanceRefreshId": refresh_id}

    @operation("DescribeInstanceRefreshes")
    async def describe_refreshes(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        wanted = [str(i) for i in params.get("InstanceRefreshIds") or []]
        async with self.cloud.sessions() as session:
            group = await group_or_error(session, account, region, group_name)
        items = list(loads(group.definition).get("InstanceRefreshes") or [])
        if wanted:
            items = [i for i in items if i["InstanceRefreshId"] in wanted]
        numbered = list(enumerate(items))
        chunk, token = page("DescribeInstanceRefreshes", params, numbered, lambda p: p[0])
        out: dict[str, Any] = {"InstanceRefreshes": [view(group, i) for _, i in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("CancelInstanceRefresh")
    async def cancel_refresh(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        async with self.cloud.sessions() as session, session.begin():
            group: AsGroup = await group_or_error(session, account, region, group_name)
            definition = loads(group.definition)
            refreshes = list(definition.get("InstanceRefreshes") or [])
            active = next((r for r in refreshes if r["Status"] in ("Pending", "InProgress")),
                          None)
            if active is None:
                raise AwsError(f"No in progress or pending Instance Refresh found for Auto "
                               f"Scaling group {group.name}",
                               code="ActiveInstanceRefreshNotFound")
            active["Status"] = "Cancelling"
            group.definition = dumps(dict(definition, InstanceRefreshes=refreshes))
        wake(self.cloud, group.arn)
        return {"InstanceRefreshId": active["InstanceRefreshId"]}
