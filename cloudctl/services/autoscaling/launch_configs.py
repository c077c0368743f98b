"""Launch configurations: Create/Describe/DeleteLaunchConfigurations, and the
RunInstances parameters a configuration launches with. Detailed monitoring is on
unless ``InstanceMonitoring.Enabled`` is false (AWS's default for configurations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling.common import (
    AlreadyExists,
    LimitExceeded,
    ResourceInUse,
    ValidationError,
    arn,
    dumps,
    loads,
    name,
    page,
    where,
)
from cloudctl.services.autoscaling.models import AsGroup, AsLaunchConfiguration
from cloudctl.services.ec2 import api_autoscaling as ec2

MAX_LAUNCH_CONFIGURATIONS = 200
COPIED = ("ImageId", "KeyName", "SecurityGroups", "ClassicLinkVPCId",
          "ClassicLinkVPCSecurityGroups", "UserData", "InstanceType", "KernelId", "RamdiskId",
          "BlockDeviceMappings", "SpotPrice", "IamInstanceProfile", "EbsOptimized",
          "AssociatePublicIpAddress", "PlacementTenancy", "MetadataOptions")


def run_params(definition: dict[str, Any]) -> dict[str, Any]:
    """RunInstances' members for a launch configuration's definition."""
    out: dict[str, Any] = {"ImageId": definition["ImageId"],
                           "InstanceType": definition["InstanceType"]}
    for member in ("KeyName", "KernelId", "RamdiskId", "UserData", "EbsOptimized"):
        if definition.get(member) not in (None, ""):
            out[member] = definition[member]
    groups = list(definition.get("SecurityGroups") or [])
    ids = [g for g in groups if g.startswith("sg-")]
    names = [g for g in groups if not g.startswith("sg-")]
    if ids:
        out["SecurityGroupIds"] = ids
    if names:
        out["SecurityGroups"] = names
    mappings = []
    for mapping in definition.get("BlockDeviceMappings") or []:
        item = {k: v for k, v in mapping.items() if k in ("DeviceName", "VirtualName", "Ebs")}
        if mapping.get("NoDevice"):
            item["NoDevice"] = ""
        mappings.append(item)
    if mappings:
        out["BlockDeviceMappings"] = mappings
    profile = definition.get("IamInstanceProfile")
    if profile:
        out["IamInstanceProfile"] = ({"Arn": profile} if str(profile).startswith("arn:")
                                     else {"Name": profile})
    out["Monitoring"] = {"Enabled": bool((definition.get("InstanceMonitoring") or {})
                                         .get("Enabled", True))}
    if definition.get("MetadataOptions"):
        out["MetadataOptions"] = definition["MetadataOptions"]
    return out


def view(row: AsLaunchConfiguration) -> dict[str, Any]:
    item = loads(row.definition)
    item.update(LaunchConfigurationName=row.name, LaunchConfigurationARN=row.arn,
                CreatedTime=row.created_at)
    item.setdefault("SecurityGroups", [])
    item.setdefault("ClassicLinkVPCSecurityGroups", [])
    item.setdefault("BlockDeviceMappings", [])
    item.setdefault("KernelId", "")
    item.setdefault("RamdiskId", "")
    item.setdefault("KeyName", "")
    item.setdefault("UserData", "")
    item.setdefault("InstanceMonitoring", {"Enabled": True})
    item.setdefault("EbsOptimized", False)
    return item


class LaunchConfigurationsProvider(Provider):
    service = "autoscaling"

    @operation("CreateLaunchConfiguration")
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        lc_name = name(params, "LaunchConfigurationName")
        definition = {k: params[k] for k in COPIED if params.get(k) is not None}
        if params.get("InstanceId"):
            seen = await ec2.instance_states(self.cloud, account, region,
                                             [str(params["InstanceId"])])
            found = seen.get(str(params["InstanceId"]))
            if found is None or found.state == "terminated":
                raise ValidationError(f"Invalid instance id {params['InstanceId']}")
            definition.setdefault("InstanceType", found.instance_type)
            definition.setdefault("ImageId", await ec2.image_of(
                self.cloud, account, region, found.instance_id))
        if not definition.get("ImageId"):
            raise ValidationError("Valid requests must contain either the ImageId or the "
                                  "InstanceId parameter.")
        if not definition.get("InstanceType"):
            raise ValidationError("Valid requests must contain either the InstanceType or "
                                  "the InstanceId parameter.")
        if not await ec2.image_exists(self.cloud, account, region, definition["ImageId"]):
            raise ValidationError(f"The image id '[{definition['ImageId']}]' does not exist")
        monitoring = params.get("InstanceMonitoring") or {}
        definition["InstanceMonitoring"] = {"Enabled": bool(monitoring.get("Enabled", True))}
        async with self.cloud.sessions() as session, session.begin():
            count = len((await session.execute(select(AsLaunchConfiguration.arn).where(
                AsLaunchConfiguration.account_id == account,
                AsLaunchConfiguration.region == region))).all())
            if count >= MAX_LAUNCH_CONFIGURATIONS:
                raise LimitExceeded(f"You have reached your limit of "
                                    f"{MAX_LAUNCH_CONFIGURATIONS} launch configurations.")
            exists = (await session.execute(select(AsLaunchConfiguration.arn).where(
                AsLaunchConfiguration.account_id == account,
                AsLaunchConfiguration.region == region,
                AsLaunchConfiguration.name == lc_name))).first()
            if exists:
                raise AlreadyExists(f"Launch Configuration by this name already exists - A "
                                    f"launch configuration already exists with the name "
                                    f"{lc_name}")
            session.add(AsLaunchConfiguration(
                arn=arn(region, account, "launchConfiguration",
                        f"launchConfigurationName/{lc_name}"),
                account_id=account, region=region, name=lc_name, definition=dumps(definition)))
        return {}

    @operation("DescribeLaunchConfigurations")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        names = [str(n) for n in params.get("LaunchConfigurationNames") or []]
        async with self.cloud.sessions() as session:
            query = select(AsLaunchConfiguration).where(
                AsLaunchConfiguration.account_id == account,
                AsLaunchConfiguration.region == region)
            if names:
                query = query.where(AsLaunchConfiguration.name.in_(names))
            rows = list((await session.execute(query.order_by(
                AsLaunchConfiguration.name))).scalars())
        chunk, token = page("DescribeLaunchConfigurations", params, rows, lambda r: r.name)
        out: dict[str, Any] = {"LaunchConfigurations": [view(r) for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("DeleteLaunchConfiguration")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        lc_name = name(params, "LaunchConfigurationName")
        async with self.cloud.sessions() as session, session.begin():
            row = (await session.execute(select(AsLaunchConfiguration).where(
                AsLaunchConfiguration.account_id == account,
                AsLaunchConfiguration.region == region,
                AsLaunchConfiguration.name == lc_name))).scalar_one_or_none()
            if row is None:
                raise ValidationError("Launch configuration name not found - Launch "
                                      f"configuration {lc_name} not found")
            for group in (await session.execute(select(AsGroup).where(
                    AsGroup.account_id == account, AsGroup.region == region))).scalars():
                if loads(group.definition).get("LaunchConfigurationName") == lc_name:
                    raise ResourceInUse(f"Cannot delete launch configuration {lc_name} "
                                        f"because it is attached to AutoScalingGroup "
                                        f"{group.name}")
            await session.delete(row)
        return {}

