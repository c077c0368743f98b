"""Groups: Create/Update/Delete/DescribeAutoScalingGroups, SetDesiredCapacity and the
group's tags. An API call records the desired state (and, when the desired capacity
changes, why: the first sentence of the next activities' ``Cause``) and wakes the
group controller, which does the work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling import elb_adapter, fastsql
from cloudctl.services.autoscaling.common import (
    AlreadyExists,
    LimitExceeded,
    ResourceInUse,
    ScalingActivityInProgress,
    ValidationError,
    arn,
    dumps,
    group_or_error,
    loads,
    name,
    page,
    stamp,
    where,
    window,
)
from cloudctl.services.autoscaling.controller import wake
from cloudctl.services.autoscaling.group_shape import (
    GROUP_COLUMNS,
    INSTANCE_COLUMNS,
    check_sizes,
    group_view,
    settings,
    subnets,
)
from cloudctl.services.autoscaling.models import (
    AsActivity,
    AsGroup,
    AsInstance,
    AsLaunchConfiguration,
    AsLifecycleHook,
    AsPolicy,
    AsScheduledAction,
)
from cloudctl.services.autoscaling.templates import resolve
from cloudctl.services.ec2 import api_autoscaling as ec2
from cloudctl.services.paging import encode_cursor

MAX_GROUPS = 500  # AWS's default quota of groups per region
ACTIVE = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")


def set_desired(group: AsGroup, desired: int, cause: str) -> None:
    """Change the desired capacity, remembering why for the activities that follow."""
    definition = loads(group.definition)
    definition["Cause"] = f"{cause} changing the desired capacity from {group.desired} to " \
                          f"{desired}."
    group.definition = dumps(definition)
    group.desired = desired


async def _check_launch(cloud: Any, session: AsyncSession, account: str, region: str,
                        definition: dict[str, Any]) -> None:
    lc = definition.get("LaunchConfigurationName")
    if lc:
        found = (await session.execute(select(AsLaunchConfiguration.arn).where(
            AsLaunchConfiguration.account_id == account, AsLaunchConfiguration.region == region,
            AsLaunchConfiguration.name == lc))).first()
        if not found:
            raise ValidationError(f"Launch configuration name not found - Launch "
                                  f"configuration {lc} not found")
    if definition.get("LaunchTemplate"):
        spec = definition["LaunchTemplate"]
        version = await resolve(cloud, account, region, spec)
        definition["LaunchTemplate"] = {"LaunchTemplateId": version["LaunchTemplateId"],
                                        "LaunchTemplateName": version["LaunchTemplateName"],
                                        "Version": str(spec.get("Version") or "$Default")}


async def _check_places(cloud: Any, account: str, region: str,
                        definition: dict[str, Any]) -> None:
    ids = subnets(definition)
    if ids:
        zones = await ec2.subnet_zones(cloud, account, region, ids)
        if zones is not None:
            for subnet in ids:
                if subnet not in zones:
                    raise ValidationError(f"The subnet ID '{subnet}' does not exist")
            if definition.get("AvailabilityZones"):
                outside = set(definition["AvailabilityZones"]) - set(zones.values())
                if outside:
                    raise ValidationError("The availability zones of the specified subnets "
                                          "and the Auto Scaling group do not match")
            definition["AvailabilityZones"] = sorted(set(zones.values()))
        elif not definition.get("AvailabilityZones"):
            # no VPCs in this cloud yet: a subnet stands for the region's zones
            definition["AvailabilityZones"] = ec2.zones(cloud, region)
    for lb in definition.get("LoadBalancerNames") or []:
        if not await elb_adapter.load_balancer_exists(cloud, account, region, lb):
            raise ValidationError(f"Provided Load Balancers may not be valid. Please ensure "
                                  f"they exist and try again. LoadBalancerNotFound: {lb}")


class GroupsProvider(Provider):
    service = "autoscaling"

    async def start(self) -> None:
        """Start the group controller (it acts only on the leader)."""
        from cloudctl.services.autoscaling.controller import CONTROLLER

        self.cloud.spawn(self.cloud.runtime[CONTROLLER].run(), "autoscaling-groups")

    @operation("CreateAutoScalingGroup")
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        min_size, max_size = int(params.get("MinSize", 0)), int(params.get("MaxSize", 0))
        desired = params.get("DesiredCapacity")
        check_sizes(min_size, max_size, None if desired is None else int(desired))
        if params.get("InstanceId") and not (params.get("LaunchConfigurationName")
                                              or params.get("LaunchTemplate")):
            raise ValidationError("Creating a group from an InstanceId is not supported by "
                                  "this cloud; give a LaunchConfigurationName or a "
                                  "LaunchTemplate.")
        definition = settings(params, None, ec2.zones(self.cloud, region))
        await _check_places(self.cloud, account, region, definition)
        tags = []
        for tag in params.get("Tags") or []:
            if str(tag.get("Key", "")).lower().startswith("aws:"):
                raise ValidationError("Tag keys starting with 'aws:' are reserved for "
                                      "internal use")
            tags.append({"Key": tag["Key"], "Value": tag.get("Value", ""),
                         "PropagateAtLaunch": bool(tag.get("PropagateAtLaunch", False))})
        definition["Tags"] = tags
        start = min_size if desired is None else int(desired)
        async with self.cloud.sessions() as session, session.begin():
            await _check_launch(self.cloud, session, account, region, definition)
            count = int((await session.execute(select(func.count()).select_from(AsGroup).where(
                AsGroup.account_id == account, AsGroup.region == region))).scalar_one())
            if count >= MAX_GROUPS:
                raise LimitExceeded(f"You have reached your limit of {MAX_GROUPS} Auto "
                                    "Scaling groups.")
            existing = (await session.execute(select(AsGroup.arn).where(
                AsGroup.account_id == account, AsGroup.region == region,
                AsGroup.name == group_name))).first()
            if existing:
                raise AlreadyExists(f"AutoScalingGroup by this name already exists - A group "
                                    f"with the name {group_name} already exists")
            group = AsGroup(arn=arn(region, account, "autoScalingGroup",
                                    f"autoScalingGroupName/{group_name}"),
                            account_id=account, region=region, name=group_name,
                            definition=dumps(definition), min_size=min_size,
                            max_size=max_size, desired=0, status="")
            set_desired(group, start, f"At {stamp(utcnow())} a user request created an "
                                      f"AutoScalingGroup")
            session.add(group)
        wake(self.cloud, group.arn)
        return {}

    @operation("UpdateAutoScalingGroup")
    async def update(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            if group.status:
                raise ScalingActivityInProgress("The group is being deleted.")
            current = loads(group.definition)
            definition = settings(params, current, ec2.zones(self.cloud, region))
            if (params.get("VPCZoneIdentifier") is not None
                    and params.get("AvailabilityZones") is None):
                definition["AvailabilityZones"] = []
            await _check_places(self.cloud, account, region, definition)
            await _check_launch(self.cloud, session, account, region, definition)
            min_size = int(params.get("MinSize", group.min_size))
            max_size = int(params.get("MaxSize", group.max_size))
            desired = params.get("DesiredCapacity")
            check_sizes(min_size, max_size, None if desired is None else int(desired))
            new = group.desired if desired is None else int(desired)
            new = max(min_size, min(max_size, new))  # a new bound carries the desired along
            definition["Cause"] = current.get("Cause", "")
            group.definition = dumps(definition)
            group.min_size, group.max_size = min_size, max_size
            if new != group.desired:
                set_desired(group, new, f"At {stamp(utcnow())} a user request update of "
                                        f"AutoScalingGroup constraints to min: {min_size}, "
                                        f"max: {max_size}, desired: {new}")
        wake(self.cloud, group.arn)
        return {}

    @operation("SetDesiredCapacity")
    async def set_desired_capacity(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        desired = int(params["DesiredCapacity"])
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            if desired > group.max_size:
                raise ValidationError(f"New SetDesiredCapacity value {desired} is above max "
                                      f"value {group.max_size} for the AutoScalingGroup.")
            if desired < group.min_size:
                raise ValidationError(f"New SetDesiredCapacity value {desired} is below min "
                                      f"value {group.min_size} for the AutoScalingGroup.")
            now = utcnow()
            if params.get("HonorCooldown") and group.cooldown_until and group.cooldown_until > now:
                raise ScalingActivityInProgress("Scaling activity is in progress and blocks "
                                                "this action: the group is in its cooldown "
                                                "period")
            if desired != group.desired:
                set_desired(group, desired, f"At {stamp(now)} a user request explicitly set "
                                            f"group desired capacity")
                cooldown = int(loads(group.definition).get("DefaultCooldown", 300))
                group.cooldown_until = now + timedelta(seconds=cooldown)
        wake(self.cloud, group.arn)
        return {}

    @operation("DescribeAutoScalingGroups")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        """One page in two set-based queries of plain columns: the groups after the
        token's name (keyset, ``LIMIT size + 1``), then their launched instances (on
        SQLite both on the event loop's own connection: ``fastsql``)."""
        account, region = where(ctx)
        names = [str(n) for n in params.get("AutoScalingGroupNames") or []]
        filters = params.get("Filters") or []
        size, after, scope = window("DescribeAutoScalingGroups", params)
        fast = None if filters else fastsql.for_cloud(self.cloud)
        if fast is not None:  # SQLite
            found, launched = await fast.page(account, region, names,
                                              None if after is None else str(after), size)
            return self._page(found, launched, size, scope)
        query = select(*GROUP_COLUMNS).where(AsGroup.account_id == account,
                                             AsGroup.region == region)
        if names:
            query = query.where(AsGroup.name.in_(names))
        if after is not None:
            query = query.where(AsGroup.name > str(after))
        query = query.order_by(AsGroup.name)
        if not filters:
            query = query.limit(size + 1)
        async with self.cloud.sessions() as session:
            groups: list[Any] = list((await session.execute(query)).all())
            if filters:
                groups = [g for g in groups if _matches(g.definition, filters)]
            chunk = groups[:size]
            members: dict[str, list[Any]] = {g.arn: [] for g in chunk}
            if chunk:
                # the page's groups again as a subquery: no parameter per group
                page_arns: Any = list(members) if filters else query.with_only_columns(
                    AsGroup.arn).limit(size).scalar_subquery()
                for row in await session.execute(select(*INSTANCE_COLUMNS).where(
                        AsInstance.group_arn.in_(page_arns),
                        AsInstance.instance_id.is_not(None)).order_by(
                        AsInstance.instance_id)):
                    if row.group_arn in members:
                        members[row.group_arn].append(row)
        return self._page(groups, members, size, scope)

    @staticmethod
    def _page(groups: Sequence[Any], members: dict[str, Any], size: int,
              scope: str) -> Result:
        """The page of the first ``size`` of ``groups`` (a next token when there are
        more), each with its instances in ``members``."""
        chunk = groups[:size]
        out: dict[str, Any] = {"AutoScalingGroups": [group_view(g, members[g.arn])
                                                     for g in chunk]}
        if len(groups) > size and chunk:
            out["NextToken"] = encode_cursor(chunk[-1].name, scope)
        return out

    @operation("DeleteAutoScalingGroup")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        group_name = name(params, "AutoScalingGroupName")
        async with self.cloud.sessions() as session, session.begin():
            group = await group_or_error(session, account, region, group_name)
            if group.status:
                return {}
            members = list((await session.execute(select(AsInstance).where(
                AsInstance.group_arn == group.arn))).scalars())
            if not params.get("ForceDelete"):
                if members:
                    raise ResourceInUse("You cannot delete an AutoScalingGroup while there are "
                                        "instances or pending Spot instance request(s) still "
                                        "in the group.")
                busy = (await session.execute(select(AsActivity.activity_id).where(
                    AsActivity.group_arn == group.arn,
                    AsActivity.status_code.in_(("InProgress", "PreInService",
                                                "WaitingForSpotInstanceId"))))).first()
                if busy:
                    raise ScalingActivityInProgress("You cannot delete an AutoScalingGroup "
                                                    "while there are scaling activities in "
                                                    "progress for that group.")
            if not members:
                await remove_group(session, group)
                return {}
            group.status, group.force_delete = "Delete in progress", True
            group.min_size = group.desired = 0
        wake(self.cloud, group.arn)
        return {}

    # -- tags ---------------------------------------------------------------------------------

    @operation("CreateOrUpdateTags")
    async def create_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        async with self.cloud.sessions() as session, session.begin():
            for tag in params.get("Tags") or []:
                group = await _tag_group(session, account, region, tag)
                if str(tag.get("Key", "")).lower().startswith("aws:"):
                    raise ValidationError("Tag keys starting with 'aws:' are reserved for "
                                          "internal use")
                definition = loads(group.definition)
                kept = [t for t in definition.get("Tags") or [] if t["Key"] != tag["Key"]]
                kept.append({"Key": tag["Key"], "Value": tag.get("Value", ""),
                             "PropagateAtLaunch": bool(tag.get("PropagateAtLaunch", False))})
                if len(kept) > 50:
                    raise LimitExceeded("The number of tags of the group is limited to 50.")
                definition["Tags"] = sorted(kept, key=lambda t: t["Key"])
                group.definition = dumps(definition)
        return {}

    @operation("DeleteTags")
    async def delete_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        async with self.cloud.sessions() as session, session.begin():
            for tag in params.get("Tags") or []:
                group = await _tag_group(session, account, region, tag)
                definition = loads(group.definition)
                definition["Tags"] = [t for t in definition.get("Tags") or []
                                      if t["Key"] != tag["Key"]]
                group.definition = dumps(definition)
        return {}

    @operation("DescribeTags")
    async def describe_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        async with self.cloud.sessions() as session:
            groups = list((await session.execute(select(AsGroup).where(
                AsGroup.account_id == account, AsGroup.region == region).order_by(
                AsGroup.name))).scalars())
        rows = []
        for group in groups:
            for tag in loads(group.definition).get("Tags") or []:
                rows.append(dict(tag, ResourceId=group.name, ResourceType="auto-scaling-group"))
        for flt in params.get("Filters") or []:
            values = [str(v) for v in flt.get("Values") or []]
            field = {"auto-scaling-group": "ResourceId", "key": "Key", "value": "Value",
                     "propagate-at-launch": "PropagateAtLaunch"}.get(str(flt.get("Name")))
            if field is None:
                raise ValidationError(f"Filter type {flt.get('Name')} is not correct. Allowed "
                                      "Filter types are: auto-scaling-group key value "
                                      "propagate-at-launch")
            rows = [r for r in rows if str(r[field]).lower() in [v.lower() for v in values]
                    or str(r[field]) in values]
        chunk, token = page("DescribeTags", params, rows,
                            lambda r: [r["ResourceId"], r["Key"]])
        out: dict[str, Any] = {"Tags": chunk}
        if token:
            out["NextToken"] = token
        return out


async def _tag_group(session: AsyncSession, account: str, region: str,
                     tag: dict[str, Any]) -> AsGroup:
    if tag.get("ResourceType", "auto-scaling-group") != "auto-scaling-group":
        raise ValidationError(f"Invalid resource type {tag.get('ResourceType')}")
    group_name = str(tag.get("ResourceId") or "")
    group = await group_or_error(session, account, region, group_name)
    return group


def _matches(definition: str, filters: list[dict[str, Any]]) -> bool:
    tags = {t["Key"]: t["Value"] for t in loads(definition).get("Tags") or []}
    for flt in filters:
        flt_name = str(flt.get("Name", ""))
        values = [str(v) for v in flt.get("Values") or []]
        if flt_name.startswith("tag:"):
            if tags.get(flt_name[4:]) not in values:
                return False
        elif flt_name == "tag-key":
            if not set(tags) & set(values):
                return False
        elif flt_name == "tag-value":
            if not set(tags.values()) & set(values):
                return False
        else:
            raise ValidationError(f"Filter type {flt_name} is not correct. Allowed Filter "
                                  "types are: tag-key tag-value tag:<key>")
    return True


async def remove_group(session: AsyncSession, group: AsGroup) -> None:
    """Delete a group and what belongs to it (policies, schedules, hooks)."""
    for model in (AsPolicy, AsScheduledAction, AsLifecycleHook):
        await session.execute(delete(model).where(
            model.account_id == group.account_id, model.region == group.region,
            model.group_name == group.name))
    await session.execute(delete(AsInstance).where(AsInstance.group_arn == group.arn))
    await session.delete(group)
