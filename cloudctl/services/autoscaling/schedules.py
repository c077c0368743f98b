"""Scheduled actions: PutScheduledUpdateGroupAction, the batch put and delete,
DescribeScheduledActions, DeleteScheduledAction; ``apply_due`` (run by the group
controller) changes the group's sizes when an action's time comes, then moves the
action to its next recurrence or removes a one-time action, and tells the
controller when the next one is due, so an action runs at its time (within a fraction
of a second) rather than on the controller's next 10-s resync."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling import cron
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
from cloudctl.services.autoscaling.groups import set_desired
from cloudctl.services.autoscaling.models import AsGroup, AsScheduledAction

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

SIZES = ("MinSize", "MaxSize", "DesiredCapacity")


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"Invalid time {value}") from None
    if not isinstance(value, datetime):
        raise ValidationError(f"Invalid time {value}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _next_run(definition: dict[str, Any], now: datetime) -> datetime | None:
    start = _aware(definition.get("StartTime"))
    end = _aware(definition.get("EndTime"))
    recurrence = definition.get("Recurrence")
    if recurrence:
        base = start - timedelta(seconds=1) if start and start > now else now
        at = cron.next_after(str(recurrence), base, definition.get("TimeZone"))
        return None if end and at > end else at
    return start


async def _put(session: AsyncSession, account: str, region: str, group: AsGroup,
               action: dict[str, Any], now: datetime) -> None:
    action_name = name(action, "ScheduledActionName")
    definition: dict[str, Any] = {k: action[k] for k in SIZES if action.get(k) is not None}
    if not definition:
        raise ValidationError("At least one of MinSize, MaxSize or DesiredCapacity must be "
                              "specified.")
    start = _aware(action.get("StartTime") or action.get("Time"))
    end = _aware(action.get("EndTime"))
    if start is not None and start < now and not action.get("Recurrence"):
        raise ValidationError("Given start time is in the past")
    if start and end and end <= start:
        raise ValidationError("Start time must be before end time")
    if action.get("Recurrence"):
        cron.parse(str(action["Recurrence"]))
        definition["Recurrence"] = str(action["Recurrence"])
    elif start is None:
        start = now
    if action.get("TimeZone"):
        cron.zone(str(action["TimeZone"]))
        definition["TimeZone"] = str(action["TimeZone"])
    if start:
        definition["StartTime"] = start
    if end:
        definition["EndTime"] = end
    row = (await session.execute(select(AsScheduledAction).where(
        AsScheduledAction.account_id == account, AsScheduledAction.region == region,
        AsScheduledAction.group_name == group.name,
        AsScheduledAction.name == action_name))).scalar_one_or_none()
    if row is None:
        row = AsScheduledAction(
            arn=(f"arn:aws:autoscaling:{region}:{account}:scheduledUpdateGroupAction:"
                 f"{uuid.uuid4()}:autoScalingGroupName/{group.name}:scheduledActionName/"
                 f"{action_name}"),
            account_id=account, region=region, group_name=group.name, name=action_name)
        session.add(row)
    row.definition = dumps(definition)
    row.next_run = _next_run(definition, now)


def view(row: AsScheduledAction) -> dict[str, Any]:
    item = loads(row.definition)
    item.update(AutoScalingGroupName=row.group_name, ScheduledActionName=row.name,
                ScheduledActionARN=row.arn)
    for key in ("StartTime", "EndTime"):
        if item.get(key):
            item[key] = datetime.fromisoformat(str(item[key]))
    if row.next_run is not None:
        item["Time"] = row.next_run
        item["StartTime"] = item.get("StartTime") or row.next_run
    return item


async def apply_due(cloud: Cloud, group_arn: str) -> float | None:
    """Run the group's scheduled actions whose time has come (each once); answer the
    seconds until its next pending action is due (None: none pending, or the group is
    gone or being deleted), so the group controller runs it at its time rather than on
    its next resync."""
    now = utcnow()
    async with cloud.sessions() as session:
        group = await session.get(AsGroup, group_arn)
        if group is None or group.status:
            return None
        pending = [_utc(t) for (t,) in await session.execute(
            select(AsScheduledAction.next_run).where(
                AsScheduledAction.account_id == group.account_id,
                AsScheduledAction.region == group.region,
                AsScheduledAction.group_name == group.name,
                AsScheduledAction.next_run.is_not(None))) if t is not None]
    if not pending:
        return None
    later = [t for t in pending if t > now]
    if len(later) == len(pending):
        return _seconds_until(min(later))
    async with cloud.sessions() as session, session.begin():
        group = await session.get(AsGroup, group_arn)
        if group is None or group.status:
            return None
        due = list((await session.execute(select(AsScheduledAction).where(
            AsScheduledAction.account_id == group.account_id,
            AsScheduledAction.region == group.region,
            AsScheduledAction.group_name == group.name,
            AsScheduledAction.next_run.is_not(None),
            AsScheduledAction.next_run <= now).order_by(AsScheduledAction.next_run)))
            .scalars())
        suspended = {p["ProcessName"] for p in
                     loads(group.definition).get("SuspendedProcesses") or []}
        for row in due:
            definition = loads(row.definition)
            if "ScheduledActions" not in suspended:
                _apply(session, group, row, definition, now)
            if definition.get("Recurrence"):
                row.next_run = _next_run(definition, now)
                if row.next_run is not None:
                    later.append(_utc(row.next_run))
            else:
                await session.delete(row)
    if due:
        wake(cloud, group_arn)
    return _seconds_until(min(later)) if later else None


def _utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive datetimes)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - utcnow()).total_seconds())


def _apply(session: AsyncSession, group: AsGroup, row: AsScheduledAction,
           definition: dict[str, Any], now: datetime) -> None:
    min_size = int(definition.get("MinSize", group.min_size))
    max_size = int(definition.get("MaxSize", group.max_size))
    desired = int(definition.get("DesiredCapacity", group.desired))
    if max_size < min_size:
        activity(session, group, f"Failed to run scheduled action {row.name}",
                 f"At {stamp(now)} a scheduled action update failed: the max size "
                 f"{max_size} is below the min size {min_size}.", status="Failed")
        return
    desired = max(min_size, min(max_size, desired))
    group.min_size, group.max_size = min_size, max_size
    if desired != group.desired:
        set_desired(group, desired, f"At {stamp(now)} a scheduled action update of "
                                    f"AutoScalingGroup constraints to min: {min_size}, max: "
                                    f"{max_size}, desired: {desired}")


class SchedulesProvider(Provider):
    service = "autoscaling"

    @operation("PutScheduledUpdateGroupAction")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            await _put(session, account, region, group, params, utcnow())
        wake(self.cloud, group.arn)
        return {}

    @operation("BatchPutScheduledUpdateGroupAction")
    async def batch_put(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        failed = []
        async with self.cloud.sessions() as session:
            group = await group_or_error(session, account, region, group_name)
        for action in params.get("ScheduledUpdateGroupActions") or []:
            try:
                async with self.cloud.sessions() as session, session.begin():
                    await _put(session, account, region, group, action, utcnow())
            except AwsError as error:
                failed.append({"ScheduledActionName": action.get("ScheduledActionName"),
                               "ErrorCode": error.code, "ErrorMessage": error.message})
        wake(self.cloud, group.arn)
        return {"FailedScheduledUpdateGroupActions": failed}

    @operation("DescribeScheduledActions")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        names = [str(n) for n in params.get("ScheduledActionNames") or []]
        async with self.cloud.sessions() as session:
            query = select(AsScheduledAction).where(AsScheduledAction.account_id == account,
                                                    AsScheduledAction.region == region)
            if params.get("AutoScalingGroupName"):
                group = await group_or_error(session, account, region,
                                             str(params["AutoScalingGroupName"]))
                query = query.where(AsScheduledAction.group_name == group.name)
            if names:
                query = query.where(AsScheduledAction.name.in_(names))
            rows = list((await session.execute(query.order_by(
                AsScheduledAction.group_name, AsScheduledAction.name))).scalars())
        start, end = _aware(params.get("StartTime")), _aware(params.get("EndTime"))
        rows = [r for r in rows if r.next_run is None or (
            (start is None or r.next_run >= start) and (end is None or r.next_run <= end))]
        chunk, token = page("DescribeScheduledActions", params, rows,
                            lambda r: [r.group_name, r.name])
        out: dict[str, Any] = {"ScheduledUpdateGroupActions": [view(r) for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("DeleteScheduledAction")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        action_name = name(params, "ScheduledActionName")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            if not await _delete(session, group, action_name):
                raise ValidationError(f"Scheduled Update Group Action name not found - Could "
                                      f"not find scheduled action {action_name} of group "
                                      f"{group.name}")
        return {}

    @operation("BatchDeleteScheduledAction")
    async def batch_delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        failed = []
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            for action_name in params.get("ScheduledActionNames") or []:
                if not await _delete(session, group, str(action_name)):
                    failed.append({"ScheduledActionName": action_name,
                                   "ErrorCode": "ValidationError",
                                   "ErrorMessage": "Scheduled action not found"})
        return {"FailedScheduledActions": failed}


async def _delete(session: AsyncSession, group: AsGroup, action_name: str) -> bool:
    row = (await session.execute(select(AsScheduledAction).where(
        AsScheduledAction.account_id == group.account_id,
        AsScheduledAction.region == group.region, AsScheduledAction.group_name == group.name,
        AsScheduledAction.name == action_name))).scalar_one_or_none()
    if row is None:
        return False
    await session.delete(row)
    return True
