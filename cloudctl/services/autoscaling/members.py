"""A group's instances: DescribeAutoScalingInstances, TerminateInstanceInAutoScalingGroup,
Attach/DetachInstances, Enter/ExitStandby, SetInstanceHealth, SetInstanceProtection.
Each records the change (and its activity) and wakes the controller."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling import elb_adapter
from cloudctl.services.autoscaling.activities import view as activity_view
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
from cloudctl.services.autoscaling.controller import ACTIVE, GROUP_TAG, wake
from cloudctl.services.autoscaling.group_shape import instance_view
from cloudctl.services.autoscaling.models import AsActivity, AsGroup, AsInstance
from cloudctl.services.ec2 import api_autoscaling as ec2


async def _member(session: AsyncSession, account: str, region: str,
                  instance_id: str) -> tuple[AsInstance, AsGroup]:
    row = (await session.execute(select(AsInstance).where(
        AsInstance.account_id == account, AsInstance.region == region,
        AsInstance.instance_id == instance_id))).scalar_one_or_none()
    group = None if row is None else await session.get(AsGroup, row.group_arn)
    if row is None or group is None:
        raise ValidationError(f"Instance Id not found - No managed instance found for "
                              f"instance ID: {instance_id}")
    return row, group


def _ids(params: dict[str, Any], member: str = "InstanceIds") -> list[str]:
    return [str(i) for i in params.get(member) or []]


def _required_flag(params: dict[str, Any], member: str) -> Any:
    """A boolean member the operation requires (AWS's null-constraint wording)."""
    value = params.get(member)
    if value is None:
        wire = member[0].lower() + member[1:]
        raise ValidationError(f"1 validation error detected: Value null at '{wire}' failed "
                              "to satisfy constraint: Member must not be null")
    return value


async def _members_of(session: AsyncSession, account: str, region: str, group: AsGroup,
                      params: dict[str, Any]) -> list[AsInstance]:
    """The rows of the instances ``InstanceIds`` names, each a member of ``group``."""
    rows = []
    for iid in _ids(params):
        row, owner = await _member(session, account, region, iid)
        if owner.arn != group.arn:
            raise ValidationError(f"The instance {iid} is not part of Auto Scaling "
                                  f"group {group.name}.")
        rows.append(row)
    return rows


class MembersProvider(Provider):
    service = "autoscaling"

    @operation("DescribeAutoScalingInstances")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        ids = _ids(params)
        if len(ids) > 50:
            raise ValidationError("The number of instance ids that may be passed in is 50.")
        async with self.cloud.sessions() as session:
            query = select(AsInstance).where(AsInstance.account_id == account,
                                             AsInstance.region == region,
                                             AsInstance.instance_id.is_not(None))
            if ids:
                query = query.where(AsInstance.instance_id.in_(ids))
            rows = list((await session.execute(query.order_by(AsInstance.instance_id)))
                        .scalars())
        chunk, token = page("DescribeAutoScalingInstances", params, rows,
                            lambda r: r.instance_id, default=50, maximum=50)
        out: dict[str, Any] = {"AutoScalingInstances": [instance_view(r, r.group_name)
                                                        for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("TerminateInstanceInAutoScalingGroup")
    async def terminate(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        iid = name(params, "InstanceId")
        decrement = _required_flag(params, "ShouldDecrementDesiredCapacity")
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            row, group = await _member(session, account, region, iid)
            if row.lifecycle_state.startswith("Terminating"):
                record_id = row.activity_id
            else:
                active = len((await session.execute(select(AsInstance.token).where(
                    AsInstance.group_arn == group.arn,
                    AsInstance.lifecycle_state.in_(ACTIVE)))).all())
                if decrement:
                    if group.desired - 1 < group.min_size:
                        raise ValidationError(f"Currently, desiredSize equals minSize "
                                              f"({group.min_size}). Terminating instance "
                                              "without replacement will violate group's min "
                                              "size constraint. Either set "
                                              "shouldDecrementDesiredCapacity flag to false "
                                              "or lower group's min size.")
                    group.desired -= 1
                    cause = (f"At {stamp(now)} instance {iid} was taken out of service in "
                             f"response to a user request, shrinking the capacity from "
                             f"{active} to {active - 1}.")
                else:
                    cause = (f"At {stamp(now)} instance {iid} was taken out of service in "
                             "response to a user request.")
                record = activity(session, group, f"Terminating EC2 instance: {iid}", cause)
                row.lifecycle_state, row.activity_id = "Terminating", record.activity_id
                record_id = record.activity_id
            record_row = await session.get(AsActivity, record_id)
            result = activity_view(record_row) if record_row is not None else {}
        wake(self.cloud, group.arn)
        return {"Activity": result}

    @operation("SetInstanceHealth")
    async def set_health(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        iid = name(params, "InstanceId")
        status = name(params, "HealthStatus")
        if status not in ("Healthy", "Unhealthy"):
            raise ValidationError(f"Valid instance health states are: [Healthy, Unhealthy]. "
                                  f"Your input {status} is invalid.")
        async with self.cloud.sessions() as session, session.begin():
            row, group = await _member(session, account, region, iid)
            if params.get("ShouldRespectGracePeriod", True) and status == "Unhealthy":
                grace = int(loads(group.definition).get("HealthCheckGracePeriod") or 0)
                if (utcnow() - row.launched_at).total_seconds() < grace:
                    return {}
            row.health = status
            if status == "Unhealthy":
                source = loads(row.launch_source)
                source["_health_cause"] = ("an instance was taken out of service in response "
                                           "to a user health-check.")
                row.launch_source = dumps(source)
        wake(self.cloud, group.arn)
        return {}

    @operation("SetInstanceProtection")
    async def set_protection(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        protect = _required_flag(params, "ProtectedFromScaleIn")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            for row in await _members_of(session, account, region, group, params):
                row.protected = bool(protect)
        return {}

    @operation("EnterStandby")
    async def enter_standby(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._standby(ctx, params, enter=True)

    @operation("ExitStandby")
    async def exit_standby(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._standby(ctx, params, enter=False)

    async def _standby(self, ctx: RequestContext, params: dict[str, Any], *,
                       enter: bool) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        decrement = (_required_flag(params, "ShouldDecrementDesiredCapacity") if enter
                     else params.get("ShouldDecrementDesiredCapacity"))
        now = utcnow()
        records = []
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            for row in await _members_of(session, account, region, group, params):
                iid = row.instance_id
                if enter and row.lifecycle_state != "InService":
                    raise ValidationError(f"The instance {iid} is not in InService.")
                if not enter and row.lifecycle_state != "Standby":
                    raise ValidationError(f"The instance {iid} is not in Standby.")
                if enter:
                    if decrement:
                        if group.desired - 1 < group.min_size:
                            raise ValidationError(
                                f"AutoScalingGroup {group.name} has min-size={group.min_size}, "
                                f"max-size={group.max_size}, and desired-size={group.desired}. "
                                "To place into standby 1 instance, please update the "
                                "AutoScalingGroup sizes appropriately.")
                        group.desired -= 1
                    row.lifecycle_state = "Standby"
                    cause = (f"At {stamp(now)} instance {iid} was moved to standby in "
                             "response to a user request" + (
                                 ", shrinking the capacity from "
                                 f"{group.desired + 1} to {group.desired}." if decrement
                                 else "."))
                    text = f"Moving EC2 instance to Standby: {iid}"
                else:
                    if group.desired + 1 > group.max_size:
                        raise ValidationError(
                            f"AutoScalingGroup {group.name} has min-size={group.min_size}, "
                            f"max-size={group.max_size}, and desired-size={group.desired}. "
                            "To remove from standby 1 instance, please update the "
                            "AutoScalingGroup sizes appropriately.")
                    group.desired += 1
                    row.lifecycle_state = "InService"
                    cause = (f"At {stamp(now)} instance {iid} was moved out of standby in "
                             f"response to a user request, increasing the capacity from "
                             f"{group.desired - 1} to {group.desired}.")
                    text = f"Moving EC2 instance out of Standby: {iid}"
                records.append(activity(session, group, text, cause, status="Successful"))
            views = [activity_view(r) for r in records]
            balancers = list(loads(group.definition).get("LoadBalancerNames") or [])
        # as on AWS: an instance in Standby takes no traffic from the group's load balancers
        move = elb_adapter.deregister if enter else elb_adapter.register
        await move(self.cloud, account, region, balancers, _ids(params))
        wake(self.cloud, group.arn)
        return {"Activities": views}

    @operation("AttachInstances")
    async def attach(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        ids = _ids(params)
        seen = await ec2.instance_states(self.cloud, account, region, ids)
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            if group.desired + len(ids) > group.max_size:
                raise ValidationError(f"Attaching {len(ids)} instance(s) to the group would "
                                      f"exceed its max size of {group.max_size}.")
            definition = loads(group.definition)
            zones = set(definition.get("AvailabilityZones") or [])
            for iid in ids:
                obs = seen.get(iid)
                if obs is None or obs.state != "running":
                    raise ValidationError(f"Instance {iid} is not in a running state.")
                if zones and obs.zone not in zones:
                    raise ValidationError(f"Instance {iid} is in an availability zone the "
                                          f"group does not use.")
                taken = (await session.execute(select(AsInstance.token).where(
                    AsInstance.instance_id == iid))).first()
                if taken:
                    raise ValidationError(f"The instance {iid} is already part of an Auto "
                                          "Scaling group.")
            group.desired += len(ids)
            for iid in ids:
                obs = seen[iid]
                record = activity(session, group, f"Attaching an existing EC2 instance: {iid}",
                                  f"At {stamp(now)} an instance was added in response to user "
                                  f"request. Keeping the capacity at the new {group.desired}.",
                                  status="Successful")
                session.add(AsInstance(
                    token=str(uuid.uuid4()), group_arn=group.arn, group_name=group.name,
                    account_id=account, region=region, instance_id=iid, zone=obs.zone,
                    instance_type=obs.instance_type, lifecycle_state="InService",
                    health="Healthy", protected=False, launch_source=json.dumps({}),
                    activity_id=record.activity_id, launched_at=now))
        await ec2.tag_instances(self.cloud, account, region, ids, {GROUP_TAG: group.name})
        # attached instances serve behind the group's classic load balancers at once
        await elb_adapter.register(self.cloud, account, region,
                                   list(definition.get("LoadBalancerNames") or []), ids)
        wake(self.cloud, group.arn)
        return {}

    @operation("DetachInstances")
    async def detach(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        decrement = _required_flag(params, "ShouldDecrementDesiredCapacity")
        now = utcnow()
        records = []
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            for row in await _members_of(session, account, region, group, params):
                iid = row.instance_id
                if decrement:
                    if group.desired - 1 < group.min_size:
                        raise ValidationError(
                            f"AutoScalingGroup {group.name} has min-size={group.min_size}, "
                            f"max-size={group.max_size}, and desired-size={group.desired}. "
                            "To detach 1 instance, please update the AutoScalingGroup sizes "
                            "appropriately.")
                    group.desired -= 1
                cause = (f"At {stamp(now)} instance {iid} was detached in response to a user "
                         "request" + (f", shrinking the capacity from {group.desired + 1} to "
                                      f"{group.desired}." if decrement else "."))
                records.append(activity(session, group, f"Detaching EC2 instance: {iid}",
                                        cause, status="Successful"))
                await session.delete(row)
            views = [activity_view(r) for r in records]
            balancers = list(loads(group.definition).get("LoadBalancerNames") or [])
        # as on AWS: a detached instance leaves the group's classic load balancers
        await elb_adapter.deregister(self.cloud, account, region, balancers, _ids(params))
        wake(self.cloud, group.arn)
        return {"Activities": views}

