"""Scaling policies: PutScalingPolicy (SimpleScaling, StepScaling, TargetTrackingScaling,
whose CloudWatch alarms it creates and owns), DescribePolicies, DeletePolicy and
ExecutePolicy; ``run_policy`` is what ExecutePolicy and alarm actions share."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling import scaling, tracking
from cloudctl.services.autoscaling.common import (
    ScalingActivityInProgress,
    ValidationError,
    dumps,
    group_or_error,
    loads,
    name,
    page,
    stamp,
    where,
)
from cloudctl.services.autoscaling.controller import wake
from cloudctl.services.autoscaling.groups import set_desired
from cloudctl.services.autoscaling.models import AsGroup, AsPolicy

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

POLICY_TYPES = ("SimpleScaling", "StepScaling", "TargetTrackingScaling")
KEPT = ("AdjustmentType", "MinAdjustmentMagnitude", "ScalingAdjustment", "Cooldown",
        "MetricAggregationType", "StepAdjustments", "EstimatedInstanceWarmup",
        "TargetTrackingConfiguration", "Enabled")


def policy_arn(region: str, account: str, group: str, policy: str) -> str:
    return (f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:{uuid.uuid4()}:"
            f"autoScalingGroupName/{group}:policyName/{policy}")


def _definition(params: dict[str, Any]) -> dict[str, Any]:
    kind = str(params.get("PolicyType") or "SimpleScaling")
    if kind not in POLICY_TYPES:
        raise ValidationError(f"Invalid policy type: {kind}. Valid policy types are "
                              "SimpleScaling, StepScaling, TargetTrackingScaling.")
    out = {k: params[k] for k in KEPT if params.get(k) is not None}
    out["PolicyType"] = kind
    out.setdefault("Enabled", True)
    adjustment = out.get("AdjustmentType")
    if adjustment is not None and adjustment not in scaling.ADJUSTMENT_TYPES:
        raise ValidationError(f"Invalid adjustment type {adjustment}.")
    if out.get("MinAdjustmentMagnitude") is not None and adjustment != \
            "PercentChangeInCapacity":
        raise ValidationError("MinAdjustmentMagnitude may only be specified when "
                              "AdjustmentType is PercentChangeInCapacity.")
    if kind == "SimpleScaling":
        if out.get("ScalingAdjustment") is None:
            raise ValidationError("ScalingAdjustment is required for SimpleScaling policy "
                                  "type.")
        if adjustment is None:
            raise ValidationError("AdjustmentType is required for SimpleScaling policy type.")
        for member in ("StepAdjustments", "EstimatedInstanceWarmup",
                       "TargetTrackingConfiguration"):
            if member in out:
                raise ValidationError(f"{member} is not supported for policy type "
                                      "SimpleScaling.")
    elif kind == "StepScaling":
        if adjustment is None:
            raise ValidationError("AdjustmentType is required for StepScaling policy type.")
        for member in ("ScalingAdjustment", "Cooldown", "TargetTrackingConfiguration"):
            if member in out:
                raise ValidationError(f"{member} is not supported for policy type "
                                      "StepScaling.")
        out["StepAdjustments"] = scaling.check_steps(list(out.get("StepAdjustments") or []))
        out.setdefault("MetricAggregationType", "Average")
    else:
        for member in ("AdjustmentType", "ScalingAdjustment", "Cooldown", "StepAdjustments",
                       "MinAdjustmentMagnitude"):
            if member in out:
                raise ValidationError(f"{member} is not supported for policy type "
                                      "TargetTrackingScaling.")
        config = out.get("TargetTrackingConfiguration")
        if not config:
            raise ValidationError("TargetTrackingConfiguration is required for "
                                  "TargetTrackingScaling policy type.")
        tracking.check(config)
    return out


def view(row: AsPolicy) -> dict[str, Any]:
    item = {k: v for k, v in loads(row.definition).items() if not k.startswith("_")}
    item.update(AutoScalingGroupName=row.group_name, PolicyName=row.name, PolicyARN=row.arn,
                Alarms=loads(row.definition).get("_alarms", []))
    item.setdefault("StepAdjustments", [])
    return item


async def find_policy(session: AsyncSession, account: str, region: str, group_name: str | None,
                      policy: str) -> AsPolicy | None:
    query = select(AsPolicy).where(AsPolicy.account_id == account, AsPolicy.region == region)
    if policy.startswith("arn:"):
        query = query.where(AsPolicy.arn == policy)
    else:
        query = query.where(AsPolicy.name == policy)
        if group_name:
            group = await group_or_error(session, account, region, group_name)
            query = query.where(AsPolicy.group_name == group.name)
    return (await session.execute(query)).scalars().first()


async def run_policy(cloud: Cloud, account: str, region: str, policy: str,
                     group_name: str | None, *, cause: str, honor_cooldown: bool,
                     metric: float | None, threshold: float | None,
                     strict: bool) -> None:
    """Apply a policy to its group: the new desired capacity (clamped to the bounds),
    the cause recorded for the activities, the cooldown. ``strict`` (ExecutePolicy)
    answers errors; an alarm's call skips a policy that cannot run now."""
    now = utcnow()
    async with cloud.sessions() as session, session.begin():
        row = await find_policy(session, account, region, group_name, policy)
        if row is None:
            raise ValidationError(f"No such policy: {policy}")
        group = await group_or_error(session, account, region, row.group_name)
        definition = loads(row.definition)
        if not definition.get("Enabled", True) or group.status:
            return
        kind = definition["PolicyType"]
        current = group.desired
        if kind == "SimpleScaling":
            until = row.cooldown_until or group.cooldown_until
            if honor_cooldown and until is not None and until > now:
                if strict:
                    raise ScalingActivityInProgress(
                        "Scaling activity is in progress and blocks the execution of policy "
                        f"{row.name}: the group is in its cooldown period.")
                return
            new = scaling.adjusted(current, definition["AdjustmentType"],
                                   int(definition["ScalingAdjustment"]),
                                   definition.get("MinAdjustmentMagnitude"))
        elif kind == "StepScaling":
            if metric is None or threshold is None:
                raise ValidationError("MetricValue and BreachThreshold are required for a "
                                      "StepScaling policy.")
            step = scaling.step_for(definition["StepAdjustments"], metric, threshold)
            if step is None:
                if strict:
                    raise ValidationError(f"The metric value {metric} matches no step "
                                          "adjustment of the policy.")
                return
            new = scaling.adjusted(current, definition["AdjustmentType"],
                                   int(step["ScalingAdjustment"]),
                                   definition.get("MinAdjustmentMagnitude"))
        else:
            if metric is None:
                if strict:
                    raise ValidationError("ExecutePolicy is not supported for a "
                                          "TargetTrackingScaling policy.")
                return
            target = float(definition["TargetTrackingConfiguration"]["TargetValue"])
            new = scaling.tracked(current, metric, target)
            if new < current and definition["TargetTrackingConfiguration"].get(
                    "DisableScaleIn"):
                return
        new = max(group.min_size, min(group.max_size, new))
        if new == current:
            return
        set_desired(group, new, f"At {stamp(now)} {cause} {row.name}")
        if kind == "SimpleScaling":
            cooldown = definition.get("Cooldown")
            seconds = int(loads(group.definition).get("DefaultCooldown", 300)
                          if cooldown is None else cooldown)
            group.cooldown_until = now + timedelta(seconds=seconds)
            row.cooldown_until = group.cooldown_until
        arn = group.arn
    wake(cloud, arn)


class PoliciesProvider(Provider):
    service = "autoscaling"

    @operation("PutScalingPolicy")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        policy_name = name(params, "PolicyName")
        definition = _definition(params)
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            row = (await session.execute(select(AsPolicy).where(
                AsPolicy.account_id == account, AsPolicy.region == region,
                AsPolicy.group_name == group.name, AsPolicy.name == policy_name)))\
                .scalar_one_or_none()
            if row is None:
                row = AsPolicy(arn=policy_arn(region, account, group.name, policy_name),
                               account_id=account, region=region, group_name=group.name,
                               name=policy_name, definition="{}")
                session.add(row)
            old = loads(row.definition)
            row.definition = dumps(definition)
            arn = row.arn
        alarms: list[dict[str, str]] = []
        if definition["PolicyType"] == "TargetTrackingScaling":
            alarms = await tracking.replace_alarms(self.cloud, account, region, group, arn,
                                                   definition, old.get("_alarms") or [])
        elif old.get("_alarms"):
            await tracking.delete_alarms(self.cloud, account, region, old["_alarms"])
        if alarms:
            async with self.cloud.sessions() as session, session.begin():
                found = await session.get(AsPolicy, arn)
                if found is not None:
                    found.definition = dumps(dict(definition, _alarms=alarms))
        return {"PolicyARN": arn, "Alarms": alarms}

    @operation("DescribePolicies")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        names = [str(n) for n in params.get("PolicyNames") or []]
        types = [str(t) for t in params.get("PolicyTypes") or []]
        async with self.cloud.sessions() as session:
            query = select(AsPolicy).where(AsPolicy.account_id == account,
                                           AsPolicy.region == region)
            if params.get("AutoScalingGroupName"):
                group = await group_or_error(session, account, region,
                                             str(params["AutoScalingGroupName"]))
                query = query.where(AsPolicy.group_name == group.name)
            rows = list((await session.execute(query.order_by(
                AsPolicy.group_name, AsPolicy.name))).scalars())
        if names:
            rows = [r for r in rows if r.name in names or r.arn in names]
        if types:
            rows = [r for r in rows if loads(r.definition).get("PolicyType") in types]
        chunk, token = page("DescribePolicies", params, rows,
                            lambda r: [r.group_name, r.name])
        out: dict[str, Any] = {"ScalingPolicies": [view(r) for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("DeletePolicy")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        policy = name(params, "PolicyName")
        async with self.cloud.sessions() as session, session.begin():
            row = await find_policy(session, account, region,
                                    params.get("AutoScalingGroupName"), policy)
            if row is None:
                raise ValidationError(f"Scaling policy {policy} not found")
            alarms = loads(row.definition).get("_alarms") or []
            await session.delete(row)
        await tracking.delete_alarms(self.cloud, account, region, alarms)
        return {}

    @operation("ExecutePolicy")
    async def execute(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        policy = name(params, "PolicyName")
        metric = params.get("MetricValue")
        threshold = params.get("BreachThreshold")
        await run_policy(self.cloud, account, region, policy,
                         params.get("AutoScalingGroupName"),
                         cause="a user request executed policy",
                         honor_cooldown=bool(params.get("HonorCooldown", False)),
                         metric=None if metric is None else float(metric),
                         threshold=None if threshold is None else float(threshold),
                         strict=True)
        return {}


__all__ = ["AsGroup", "PoliciesProvider", "run_policy", "view"]
