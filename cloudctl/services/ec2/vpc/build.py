"""Creating the objects a VPC always has, and the default VPC of an account.

A VPC is born with its primary CIDR association, a main route table (its ``local``
route for every CIDR of the VPC, immutable) and a default network ACL (rule 100 allows
all in each direction, the implicit ``*`` rule 32767 denies). The default VPC of an
account (AWS: 172.31.0.0/16, a /20 default subnet per zone mapping public IPs, an
attached internet gateway with the main table routing 0.0.0.0/0 to it, DNS hostnames
on) is created on first use in VPC mode, once: a deleted default VPC comes back only
through CreateDefaultVpc.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services import ids
from cloudctl.services.ec2.vpc import common, groups
from cloudctl.services.ec2.vpc.models import (
    InternetGatewayRow,
    NetworkAclAssociationRow,
    NetworkAclEntryRow,
    NetworkAclRow,
    RouteRow,
    RouteTableAssociationRow,
    RouteTableRow,
    SubnetRow,
    VpcAccountRow,
    VpcCidrRow,
    VpcRow,
)

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

DEFAULT_VPC_CIDR = "172.31.0.0/16"
IMPLICIT_RULE = 32767


def acl_entries(acl_id: str, allow_all: bool) -> list[NetworkAclEntryRow]:
    """The entries of a new ACL: the default one allows all (rule 100), every ACL ends
    with the implicit deny (32767)."""
    out: list[NetworkAclEntryRow] = []
    for egress in (False, True):
        if allow_all:
            out.append(NetworkAclEntryRow(acl_id=acl_id, egress=egress, rule_number=100,
                                          protocol="-1", action="allow", cidr="0.0.0.0/0"))
        out.append(NetworkAclEntryRow(acl_id=acl_id, egress=egress, rule_number=IMPLICIT_RULE,
                                      protocol="-1", action="deny", cidr="0.0.0.0/0"))
    return out


async def main_table(session: AsyncSession, vpc_id: str) -> RouteTableRow:
    return (await session.execute(select(RouteTableRow).where(
        RouteTableRow.vpc_id == vpc_id, RouteTableRow.main.is_(True)))).scalar_one()


async def default_acl(session: AsyncSession, vpc_id: str) -> NetworkAclRow:
    return (await session.execute(select(NetworkAclRow).where(
        NetworkAclRow.vpc_id == vpc_id, NetworkAclRow.is_default.is_(True)))).scalar_one()


async def new_vni(session: AsyncSession) -> int:
    """A VXLAN network identifier no VPC holds (24 bits, 0 and 1..4095 left out)."""
    while True:
        vni = 4096 + secrets.randbelow((1 << 24) - 4096)
        if (await session.execute(select(VpcRow.vpc_id).where(VpcRow.vni == vni))).first() \
                is None:
            return vni


async def create_vpc(session: AsyncSession, account: str, region: str, cidr: str, *,
                     is_default: bool = False, tenancy: str = "default") -> VpcRow:
    vpc = VpcRow(vpc_id=ids.resource_id("vpc"), account_id=account, region=region, cidr=cidr,
                 vni=await new_vni(session),
                 state="available", is_default=is_default, dns_support=True,
                 dns_hostnames=is_default, tenancy=tenancy, dhcp_options_id="default")
    session.add(vpc)
    session.add(VpcCidrRow(association_id=ids.resource_id("vpc-cidr-assoc"),
                           vpc_id=vpc.vpc_id, cidr=cidr, primary=True))
    table = RouteTableRow(route_table_id=ids.resource_id("rtb"), account_id=account,
                          region=region, vpc_id=vpc.vpc_id, main=True)
    session.add(table)
    session.add(RouteTableAssociationRow(association_id=ids.resource_id("rtbassoc"),
                                         route_table_id=table.route_table_id,
                                         vpc_id=vpc.vpc_id, subnet_id=None, main=True))
    session.add(RouteRow(route_table_id=table.route_table_id, destination=cidr,
                         target_kind="local", target_id="local",
                         origin="CreateRouteTable"))
    acl = NetworkAclRow(acl_id=ids.resource_id("acl"), account_id=account, region=region,
                        vpc_id=vpc.vpc_id, is_default=True)
    session.add(acl)
    session.add_all(acl_entries(acl.acl_id, allow_all=True))
    await session.flush()
    await groups.create_default_group(session, vpc)
    await common.bump(session)
    return vpc


async def add_subnet(session: AsyncSession, vpc: VpcRow, cidr: str, zone: str, *,
                     default_for_az: bool = False) -> SubnetRow:
    subnet = SubnetRow(subnet_id=ids.resource_id("subnet"), account_id=vpc.account_id,
                       region=vpc.region, vpc_id=vpc.vpc_id, cidr=cidr, zone=zone,
                       map_public_ip=default_for_az, default_for_az=default_for_az)
    session.add(subnet)
    acl = await default_acl(session, vpc.vpc_id)
    session.add(NetworkAclAssociationRow(association_id=ids.resource_id("aclassoc"),
                                         acl_id=acl.acl_id, subnet_id=subnet.subnet_id))
    await session.flush()
    await common.bump(session)
    return subnet


def default_subnet_cidr(index: int) -> str:
    base = ipaddress.IPv4Network(DEFAULT_VPC_CIDR)
    return str(list(base.subnets(new_prefix=20))[index])


async def find_default_vpc(session: AsyncSession, account: str, region: str) -> VpcRow | None:
    return (await session.execute(select(VpcRow).where(
        VpcRow.account_id == account, VpcRow.region == region,
        VpcRow.is_default.is_(True)))).scalar_one_or_none()


async def build_default_vpc(session: AsyncSession, account: str, region: str,
                            zones: list[str]) -> VpcRow:
    """The default VPC with its subnets, internet gateway and default route."""
    vpc = await create_vpc(session, account, region, DEFAULT_VPC_CIDR, is_default=True)
    for index, zone in enumerate(zones):
        await add_subnet(session, vpc, default_subnet_cidr(index), zone, default_for_az=True)
    igw = InternetGatewayRow(igw_id=ids.resource_id("igw"), account_id=account,
                             region=region, vpc_id=vpc.vpc_id)
    session.add(igw)
    table = await main_table(session, vpc.vpc_id)
    session.add(RouteRow(route_table_id=table.route_table_id, destination="0.0.0.0/0",
                         target_kind="gateway", target_id=igw.igw_id,
                         origin="CreateRouteTable"))
    await session.flush()
    return vpc


async def ensure_default_vpc(cloud: Cloud, account: str, region: str) -> None:
    """Create the account's default VPC the first time it is used in VPC mode."""
    if common.network_mode(cloud) != "VPC":
        return
    async with cloud.sessions() as session:
        if await session.get(VpcAccountRow, (account, region)) is not None:
            return
    try:
        async with cloud.sessions() as session, session.begin():
            session.add(VpcAccountRow(account_id=account, region=region,
                                      default_created=True))
            await session.flush()
            await build_default_vpc(session, account, region,
                                    list(cloud.region_zones.get(region, [])))
    except IntegrityError:
        return  # another request created it
    common.changed(cloud)


async def create_default_vpc(cloud: Cloud, account: str, region: str) -> str:
    """CreateDefaultVpc: a new default VPC unless the account has one."""
    async with cloud.sessions() as session, session.begin():
        if await find_default_vpc(session, account, region) is not None:
            raise AwsError("A Default VPC already exists for this account in this region.",
                           code="DefaultVpcAlreadyExists")
        if await session.get(VpcAccountRow, (account, region)) is None:
            session.add(VpcAccountRow(account_id=account, region=region,
                                      default_created=True))
        vpc = await build_default_vpc(session, account, region,
                                      list(cloud.region_zones.get(region, [])))
        vpc_id = vpc.vpc_id
    common.changed(cloud)
    return vpc_id
