"""Suspend/ResumeProcesses, Enable/DisableMetricsCollection and the fixed lists AWS
describes (adjustment types, termination policies, processes, metrics, lifecycle hook
types) with the account's limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling.common import (
    ValidationError,
    dumps,
    group_or_error,
    loads,
    name,
    where,
)
from cloudctl.services.autoscaling.controller import wake
from cloudctl.services.autoscaling.group_shape import METRICS, PROCESSES, TERMINATION_POLICIES
from cloudctl.services.autoscaling.groups import MAX_GROUPS
from cloudctl.services.autoscaling.launch_configs import MAX_LAUNCH_CONFIGURATIONS
from cloudctl.services.autoscaling.models import AsGroup, AsLaunchConfiguration


class ProcessesProvider(Provider):
    service = "autoscaling"

    async def _processes(self, ctx: RequestContext, params: dict[str, Any],
                         suspend: bool) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        wanted = [str(p) for p in params.get("ScalingProcesses") or []] or list(PROCESSES)
        for process in wanted:
            if process not in PROCESSES:
                raise ValidationError(f"Invalid value for scaling process: {process}")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            definition = loads(group.definition)
            current = {p["ProcessName"]: p for p in definition.get("SuspendedProcesses") or []}
            for process in wanted:
                if suspend:
                    current.setdefault(process, {"ProcessName": process,
                                                 "SuspensionReason": "User suspended at "
                                                 + _now_text()})
                else:
                    current.pop(process, None)
            definition["SuspendedProcesses"] = [current[p] for p in sorted(current)]
            group.definition = dumps(definition)
        wake(self.cloud, group.arn)
        return {}

    @operation("SuspendProcesses")
    async def suspend(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._processes(ctx, params, True)

    @operation("ResumeProcesses")
    async def resume(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._processes(ctx, params, False)

    @operation("EnableMetricsCollection")
    async def enable_metrics(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        granularity = name(params, "Granularity")
        if granularity != "1Minute":
            raise ValidationError(f"Valid granularity is 1Minute. Your input {granularity} is "
                                  "invalid.")
        wanted = [str(m) for m in params.get("Metrics") or []] or list(METRICS)
        for metric in wanted:
            if metric not in METRICS:
                raise ValidationError(f"Invalid metric name: {metric}")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            definition = loads(group.definition)
            have = {m["Metric"] for m in definition.get("EnabledMetrics") or []} | set(wanted)
            definition["EnabledMetrics"] = [{"Metric": m, "Granularity": "1Minute"}
                                            for m in METRICS if m in have]
            group.definition = dumps(definition)
        wake(self.cloud, group.arn)
        return {}

    @operation("DisableMetricsCollection")
    async def disable_metrics(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        wanted = set(str(m) for m in params.get("Metrics") or []) or set(METRICS)
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            definition = loads(group.definition)
            definition["EnabledMetrics"] = [m for m in definition.get("EnabledMetrics") or []
                                            if m["Metric"] not in wanted]
            group.definition = dumps(definition)
        return {}

    @operation("DescribeAdjustmentTypes")
    async def adjustment_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return {"AdjustmentTypes": [{"AdjustmentType": t} for t in (
            "ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")]}

    @operation("DescribeTerminationPolicyTypes")
    async def termination_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return {"TerminationPolicyTypes": sorted(TERMINATION_POLICIES)}

    @operation("DescribeScalingProcessTypes")
    async def process_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return {"Processes": [{"ProcessName": p} for p in sorted(PROCESSES)]}

    @operation("DescribeMetricCollectionTypes")
    async def metric_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return {"Metrics": [{"Metric": m} for m in METRICS],
                "Granularities": [{"Granularity": "1Minute"}]}

    @operation("DescribeLifecycleHookTypes")
    async def hook_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return {"LifecycleHookTypes": ["autoscaling:EC2_INSTANCE_LAUNCHING",
                                       "autoscaling:EC2_INSTANCE_TERMINATING"]}

    @operation("DescribeAccountLimits")
    async def limits(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        async with self.cloud.sessions() as session:
            groups = (await session.execute(select(func.count()).select_from(AsGroup).where(
                AsGroup.account_id == account, AsGroup.region == region))).scalar_one()
            configs = (await session.execute(select(func.count()).select_from(
                AsLaunchConfiguration).where(AsLaunchConfiguration.account_id == account,
                                             AsLaunchConfiguration.region == region)))\
                .scalar_one()
        return {"MaxNumberOfAutoScalingGroups": MAX_GROUPS,
                "MaxNumberOfLaunchConfigurations": MAX_LAUNCH_CONFIGURATIONS,
                "NumberOfAutoScalingGroups": int(groups),
                "NumberOfLaunchConfigurations": int(configs)}


def _now_text() -> str:
    from cloudctl.db.base import utcnow

    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
