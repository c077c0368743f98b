"""VPC security groups: the rows live in ``ec2_security_groups`` (EDGE's table, with
``vpc_id`` set) and the EDGE provider serves their API; this module holds what is
VPC-only: the check of ``CreateSecurityGroup``'s ``VpcId`` (names unique per VPC), the
default group of each VPC (members reach each other, all egress, as AWS creates it) and
its removal with the VPC."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import VPC
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.models import VpcRow
from cloudctl.services.network.models import SecurityGroupRow, SecurityGroupRuleRow

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "default VPC security group"


async def check_vpc(session: AsyncSession, account: str, region: str, value: Any,
                    name: str) -> str:
    """The VPC a new group goes into (the caller's); its name must be new there."""
    vpc = await common.owned(session, VpcRow, VPC, account, region, value)
    taken = (await session.execute(select(SecurityGroupRow.id).where(
        SecurityGroupRow.vpc_id == vpc.vpc_id, SecurityGroupRow.name == name))).first()
    if taken is not None:
        raise AwsError(f"The security group '{name}' already exists for VPC '{vpc.vpc_id}'",
                       code="InvalidGroup.Duplicate")
    return vpc.vpc_id


async def create_default_group(session: AsyncSession, vpc: VpcRow) -> str:
    row = SecurityGroupRow(id=ids.resource_id("sg"), account_id=vpc.account_id,
                           region=vpc.region, vpc_id=vpc.vpc_id, name=DEFAULT_NAME,
                           description=DEFAULT_DESCRIPTION)
    session.add(row)
    await session.flush()
    session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=row.id,
                                     egress=False, protocol="-1", peer_group_id=row.id,
                                     peer_account=vpc.account_id))
    session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=row.id,
                                     egress=True, protocol="-1", cidr="0.0.0.0/0"))
    return row.id


async def default_group(session: AsyncSession, vpc_id: str) -> str | None:
    return (await session.execute(select(SecurityGroupRow.id).where(
        SecurityGroupRow.vpc_id == vpc_id, SecurityGroupRow.name == DEFAULT_NAME))).scalar()


async def groups_in(session: AsyncSession, vpc_id: str) -> dict[str, str]:
    """Group id -> name of every group of a VPC."""
    return {r[0]: r[1] for r in await session.execute(select(
        SecurityGroupRow.id, SecurityGroupRow.name).where(SecurityGroupRow.vpc_id == vpc_id))}


async def delete_default_group(session: AsyncSession, vpc: VpcRow) -> None:
    """Drop the VPC's default group (DeleteVpc; other groups are a DependencyViolation)."""
    gid = await default_group(session, vpc.vpc_id)
    if gid is None:
        return
    await session.execute(delete(SecurityGroupRuleRow).where(
        SecurityGroupRuleRow.group_id == gid))
    await session.execute(delete(SecurityGroupRow).where(SecurityGroupRow.id == gid))
    await tags.delete_resource_tags(session, vpc.account_id, vpc.region, [gid])
