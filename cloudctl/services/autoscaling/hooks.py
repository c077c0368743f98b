"""Lifecycle hooks: Put/Delete/DescribeLifecycleHooks, CompleteLifecycleAction and
RecordLifecycleActionHeartbeat. An instance launching (or terminating) in a group with
a hook for that transition waits in Pending:Wait (Terminating:Wait) until the action is
completed or the heartbeat timeout (default 3600 s) passes, when the hook's
DefaultResult (default ABANDON) applies; the controller moves it on."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling.common import (
    LimitExceeded,
    ValidationError,
    dumps,
    group_or_error,
    loads,
    name,
    where,
)
from cloudctl.services.autoscaling.controller import LAUNCHING, TERMINATING, wake
from cloudctl.services.autoscaling.models import AsInstance, AsLifecycleHook

DEFAULT_HEARTBEAT = 3600
MAX_HOOKS = 50


def view(row: AsLifecycleHook) -> dict[str, Any]:
    item = loads(row.definition)
    item.update(LifecycleHookName=row.name, AutoScalingGroupName=row.group_name,
                LifecycleTransition=row.transition)
    item["GlobalTimeout"] = min(100 * int(item["HeartbeatTimeout"]), 172800)
    return item


class HooksProvider(Provider):
    service = "autoscaling"

    @operation("PutLifecycleHook")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        hook_name = name(params, "LifecycleHookName")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            row = (await session.execute(select(AsLifecycleHook).where(
                AsLifecycleHook.account_id == account, AsLifecycleHook.region == region,
                AsLifecycleHook.group_name == group.name,
                AsLifecycleHook.name == hook_name))).scalar_one_or_none()
            transition = params.get("LifecycleTransition") or (row.transition if row else None)
            if transition not in (LAUNCHING, TERMINATING):
                raise ValidationError("Lifecycle transition must be one of "
                                      f"{LAUNCHING}, {TERMINATING}"
                                      if transition else
                                      "1 validation error detected: Value null at "
                                      "'lifecycleTransition' failed to satisfy constraint: "
                                      "Member must not be null")
            definition: dict[str, Any] = loads(row.definition) if row else {
                "HeartbeatTimeout": DEFAULT_HEARTBEAT, "DefaultResult": "ABANDON"}
            for member in ("NotificationTargetARN", "RoleARN", "NotificationMetadata",
                           "HeartbeatTimeout", "DefaultResult"):
                if params.get(member) is not None:
                    definition[member] = params[member]
            heartbeat = int(definition["HeartbeatTimeout"])
            if not 30 <= heartbeat <= 7200:
                raise ValidationError(f"Heartbeat timeout {heartbeat} is invalid: it must be "
                                      "between 30 and 7200 seconds.")
            if definition["DefaultResult"] not in ("CONTINUE", "ABANDON"):
                raise ValidationError(f"Invalid default result {definition['DefaultResult']}"
                                      ": CONTINUE or ABANDON.")
            if row is None:
                count = len((await session.execute(select(AsLifecycleHook.id).where(
                    AsLifecycleHook.account_id == account, AsLifecycleHook.region == region,
                    AsLifecycleHook.group_name == group.name))).all())
                if count >= MAX_HOOKS:
                    raise LimitExceeded(f"Group {group.name} already has {MAX_HOOKS} "
                                        "lifecycle hooks.")
                row = AsLifecycleHook(id=str(uuid.uuid4()), account_id=account, region=region,
                                      group_name=group.name, name=hook_name,
                                      transition=str(transition))
                session.add(row)
            row.transition = str(transition)
            row.definition = dumps(definition)
        return {}

    @operation("DescribeLifecycleHooks")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        names = [str(n) for n in params.get("LifecycleHookNames") or []]
        async with self.cloud.sessions() as session:
            group = await group_or_error(session, account, region, group_name)
            rows = list((await session.execute(select(AsLifecycleHook).where(
                AsLifecycleHook.account_id == account, AsLifecycleHook.region == region,
                AsLifecycleHook.group_name == group.name).order_by(AsLifecycleHook.name)))
                .scalars())
        if names:
            rows = [r for r in rows if r.name in names]
        return {"LifecycleHooks": [view(r) for r in rows]}

    @operation("DeleteLifecycleHook")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        hook_name = name(params, "LifecycleHookName")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            row = (await session.execute(select(AsLifecycleHook).where(
                AsLifecycleHook.account_id == account, AsLifecycleHook.region == region,
                AsLifecycleHook.group_name == group.name,
                AsLifecycleHook.name == hook_name))).scalar_one_or_none()
            if row is None:
                raise ValidationError(f"No Lifecycle Hook found for the name: {hook_name}")
            await session.delete(row)
        wake(self.cloud, group.arn)
        return {}

    async def _waiting(self, ctx: RequestContext, params: dict[str, Any]
                       ) -> tuple[AsInstance, str]:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        hook_name = name(params, "LifecycleHookName")
        iid = params.get("InstanceId")
        token = params.get("LifecycleActionToken")
        if not iid and not token:
            raise ValidationError("Either InstanceId or LifecycleActionToken must be "
                                  "specified.")
        async with self.cloud.sessions() as session:
            group = await group_or_error(session, account, region, group_name)
            hook = (await session.execute(select(AsLifecycleHook).where(
                AsLifecycleHook.account_id == account, AsLifecycleHook.region == region,
                AsLifecycleHook.group_name == group.name,
                AsLifecycleHook.name == hook_name))).scalar_one_or_none()
            if hook is None:
                raise ValidationError(f"No Lifecycle Hook found for the name: {hook_name}")
            query = select(AsInstance).where(AsInstance.group_arn == group.arn)
            query = query.where(AsInstance.instance_id == iid) if iid else query.where(
                AsInstance.token == token)
            row = (await session.execute(query)).scalar_one_or_none()
        wait = "Pending:Wait" if hook.transition == LAUNCHING else "Terminating:Wait"
        if row is None or row.lifecycle_state != wait or row.hook_result:
            raise ValidationError(f"No active Lifecycle Action found with instance ID "
                                  f"{iid or ''}" if iid else
                                  f"No active Lifecycle Action found with token {token}")
        return row, group.arn

    @operation("CompleteLifecycleAction")
    async def complete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        result = name(params, "LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError(f"Invalid lifecycle action result {result}: CONTINUE or "
                                  "ABANDON.")
        row, group_arn = await self._waiting(ctx, params)
        async with self.cloud.sessions() as session, session.begin():
            found = await session.get(AsInstance, row.token)
            if found is not None and found.lifecycle_state == row.lifecycle_state:
                found.hook_result = result
        wake(self.cloud, group_arn)
        return {}

    @operation("RecordLifecycleActionHeartbeat")
    async def heartbeat(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        row, group_arn = await self._waiting(ctx, params)
        account, region = where(ctx)
        async with self.cloud.sessions() as session, session.begin():
            hook = (await session.execute(select(AsLifecycleHook).where(
                AsLifecycleHook.account_id == account, AsLifecycleHook.region == region,
                AsLifecycleHook.group_name == row.group_name,
                AsLifecycleHook.name == str(params["LifecycleHookName"])))).scalar_one()
            found = await session.get(AsInstance, row.token)
            if found is not None:
                found.hook_deadline = utcnow() + timedelta(
                    seconds=int(loads(hook.definition)["HeartbeatTimeout"]))
        wake(self.cloud, group_arn)
        return {}
