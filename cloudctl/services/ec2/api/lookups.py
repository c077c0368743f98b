"""EC2's public API: lookups for parameter types (which ids exist, the zones), user tags
and the ``aws:`` tags only a service may set.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import Tags, ec2_call, not_found

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

_LOOKUPS: dict[str, tuple[str, str, str, str]] = {
    # parameter type: operation, filter name, result list, id member
    "AWS::EC2::KeyPair::KeyName": ("DescribeKeyPairs", "key-name", "KeyPairs", "KeyName"),
    "AWS::EC2::Image::Id": ("DescribeImages", "image-id", "Images", "ImageId"),
    "AWS::EC2::Instance::Id": ("DescribeInstances", "instance-id", "Reservations", ""),
    "AWS::EC2::SecurityGroup::Id": ("DescribeSecurityGroups", "group-id", "SecurityGroups",
                                    "GroupId"),
    "AWS::EC2::SecurityGroup::GroupName": ("DescribeSecurityGroups", "group-name",
                                           "SecurityGroups", "GroupName"),
    "AWS::EC2::Volume::Id": ("DescribeVolumes", "volume-id", "Volumes", "VolumeId"),
    "AWS::EC2::VPC::Id": ("DescribeVpcs", "vpc-id", "Vpcs", "VpcId"),
    "AWS::EC2::Subnet::Id": ("DescribeSubnets", "subnet-id", "Subnets", "SubnetId"),
    "AWS::EC2::AvailabilityZone::Name": ("DescribeAvailabilityZones", "zone-name",
                                         "AvailabilityZones", "ZoneName"),
}


def lookup_types() -> set[str]:
    return set(_LOOKUPS)


async def existing_ids(cloud: Cloud, caller: Caller, kind: str,
                       values: list[str]) -> set[str]:
    """Which of ``values`` name an existing resource of parameter type ``kind``."""
    operation, filter_name, key, member = _LOOKUPS[kind]
    if not values:
        return set()
    params: dict[str, Any] = {"Filters": [{"Name": filter_name, "Values": values}]}
    try:
        found = await ec2_call(cloud, caller, operation, params)
    except AwsError as error:
        if not_found(error) or error.code.startswith("InvalidParameterValue"):
            return set()
        raise
    if kind == "AWS::EC2::Instance::Id":
        return {i["InstanceId"] for r in found.get(key) or [] for i in r.get("Instances", [])}
    return {str(item.get(member)) for item in found.get(key) or []}


async def zones(cloud: Cloud, caller: Caller) -> list[str]:
    found = await ec2_call(cloud, caller, "DescribeAvailabilityZones", {})
    return sorted(str(z["ZoneName"]) for z in found.get("AvailabilityZones") or [])


async def create_tags(cloud: Cloud, caller: Caller, resource_ids: list[str],
                      tags: Tags) -> None:
    if tags:
        await ec2_call(cloud, caller, "CreateTags", {"Resources": resource_ids, "Tags": tags})


async def system_tags(cloud: Cloud, caller: Caller, resource_ids: list[str],
                      tags: Tags) -> None:
    """Set ``aws:`` tags (reserved to services) on resources of the caller's account."""

    from cloudctl.services.ec2.shared.tags import Tag, resource_type_of

    if not tags or not resource_ids:
        return
    account, region = caller.credential.account_id, caller.region
    async with cloud.sessions() as session, session.begin():
        rows = (await session.execute(select(Tag).where(
            Tag.account_id == account, Tag.region == region,
            Tag.resource_id.in_(resource_ids)))).scalars().all()
        existing = {(r.resource_id, r.key): r for r in rows}
        for rid in resource_ids:
            for tag in tags:
                row = existing.get((rid, tag["Key"]))
                if row is None:
                    session.add(Tag(account_id=account, region=region, resource_id=rid,
                                    key=tag["Key"], value=tag.get("Value", ""),
                                    resource_type=resource_type_of(rid)))
                else:
                    row.value = tag.get("Value", "")
