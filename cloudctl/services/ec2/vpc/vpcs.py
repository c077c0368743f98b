"""VPCs: Create/Delete/DescribeVpcs, Modify/DescribeVpcAttribute, secondary CIDR blocks
(Associate/DisassociateVpcCidrBlock) and CreateDefaultVpc."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import VPC
from cloudctl.services.ec2.vpc import build, common, groups
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import (
    InternetGatewayRow,
    NatGatewayRow,
    NetworkAclEntryRow,
    NetworkAclRow,
    NetworkInterfaceRow,
    PeeringRow,
    RouteRow,
    RouteTableAssociationRow,
    RouteTableRow,
    SubnetRow,
    VpcCidrRow,
    VpcRow,
)
from cloudctl.services.network.models import SecurityGroupRow

MAX_CIDRS = 5
_ATTRIBUTES = {"enableDnsSupport": "dns_support", "enableDnsHostnames": "dns_hostnames"}

tags.register_resource("vpc", common.exists_check(VpcRow, VpcRow.vpc_id))


def vpc_shape(vpc: VpcRow, cidrs: list[VpcCidrRow], tag_list: tags.Tags) -> dict[str, Any]:
    return {"VpcId": vpc.vpc_id, "CidrBlock": vpc.cidr, "State": vpc.state,
            "DhcpOptionsId": vpc.dhcp_options_id, "OwnerId": vpc.account_id,
            "InstanceTenancy": vpc.tenancy, "IsDefault": vpc.is_default,
            "CidrBlockAssociationSet": [
                {"AssociationId": c.association_id, "CidrBlock": c.cidr,
                 "CidrBlockState": {"State": "associated"}} for c in cidrs],
            "Tags": tag_list}


async def vpc_cidrs(session: Any, vpc_ids: list[str]) -> dict[str, list[VpcCidrRow]]:
    out: dict[str, list[VpcCidrRow]] = {}
    if not vpc_ids:
        return out
    rows = (await session.execute(select(VpcCidrRow).where(
        VpcCidrRow.vpc_id.in_(vpc_ids)).order_by(VpcCidrRow.primary.desc(),
                                                  VpcCidrRow.cidr))).scalars()
    for row in rows:
        out.setdefault(row.vpc_id, []).append(row)
    return out


async def _dependents(session: Any, vpc_id: str) -> str | None:
    checks: list[tuple[str, Any]] = [
        ("subnets", select(SubnetRow.subnet_id).where(SubnetRow.vpc_id == vpc_id)),
        ("an internet gateway", select(InternetGatewayRow.igw_id).where(
            InternetGatewayRow.vpc_id == vpc_id)),
        ("route tables", select(RouteTableRow.route_table_id).where(
            RouteTableRow.vpc_id == vpc_id, RouteTableRow.main.is_(False))),
        ("network ACLs", select(NetworkAclRow.acl_id).where(
            NetworkAclRow.vpc_id == vpc_id, NetworkAclRow.is_default.is_(False))),
        ("network interfaces", select(NetworkInterfaceRow.eni_id).where(
            NetworkInterfaceRow.vpc_id == vpc_id)),
        ("NAT gateways", select(NatGatewayRow.nat_id).where(
            NatGatewayRow.vpc_id == vpc_id, NatGatewayRow.state != "deleted")),
        ("peering connections", select(PeeringRow.pcx_id).where(
            (PeeringRow.requester_vpc == vpc_id) | (PeeringRow.accepter_vpc == vpc_id),
            PeeringRow.status == "active")),
    ]
    checks.append(("security groups", select(SecurityGroupRow.id).where(
        SecurityGroupRow.vpc_id == vpc_id, SecurityGroupRow.name != groups.DEFAULT_NAME)))
    for what, query in checks:
        if (await session.execute(query.limit(1))).first() is not None:
            return what
    return None


class VpcsProvider(VpcProvider):

    @operation("CreateVpc")
    async def create_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        net = common.parse_cidr(common.required(params, "CidrBlock"))
        tenancy = params.get("InstanceTenancy") or "default"
        if tenancy not in ("default", "dedicated"):
            raise AwsError(f"Value ({tenancy}) for parameter instanceTenancy is invalid.",
                           code="InvalidParameterValue")
        tags.check_tag_specifications(params.get("TagSpecifications"), ["vpc"])
        async with self.cloud.sessions() as session, session.begin():
            vpc = await build.create_vpc(session, account, ctx.region, str(net),
                                         tenancy=tenancy)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "vpc", [vpc.vpc_id],
                                                params.get("TagSpecifications"))
            cidrs = await vpc_cidrs(session, [vpc.vpc_id])
            found = await tags.tags_for(session, account, ctx.region, [vpc.vpc_id])
        self.changed()
        shape = vpc_shape(vpc, cidrs.get(vpc.vpc_id, []), found.get(vpc.vpc_id, []))
        shape["State"] = "pending"  # as AWS answers CreateVpc; Describe shows available
        return {"Vpc": shape}

    @operation("CreateDefaultVpc")
    async def create_default_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        vpc_id = await build.create_default_vpc(self.cloud, account, ctx.region)
        async with self.cloud.sessions() as session:
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region, vpc_id)
            cidrs = await vpc_cidrs(session, [vpc_id])
        return {"Vpc": vpc_shape(vpc, cidrs.get(vpc_id, []), [])}

    @operation("DescribeVpcs")
    async def describe_vpcs(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(VpcRow).where(
                VpcRow.account_id == account, VpcRow.region == ctx.region).order_by(
                VpcRow.vpc_id))).scalars())
            cidrs = await vpc_cidrs(session, [r.vpc_id for r in rows])
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.vpc_id for r in rows])
        page, token = common.describe("DescribeVpcs", params, rows, {
            "vpc-id": lambda v: [v.vpc_id],
            "cidr": lambda v: [v.cidr],
            "cidr-block": lambda v: [v.cidr],  # undocumented; Ansible's ec2_vpc_net sends it
            "cidrBlock": lambda v: [v.cidr],
            "ipv6-cidr-block-association.ipv6-cidr-block": lambda v: [],
            "ipv6-cidr-block-association.association-id": lambda v: [],
            "ipv6-cidr-block-association.state": lambda v: [],
            "cidr-block-association.cidr-block": lambda v: [
                c.cidr for c in cidrs.get(v.vpc_id, [])],
            "cidr-block-association.association-id": lambda v: [
                c.association_id for c in cidrs.get(v.vpc_id, [])],
            "cidr-block-association.state": lambda v: ["associated"],
            "dhcp-options-id": lambda v: [v.dhcp_options_id],
            "is-default": lambda v: common.flag(v.is_default),
            "owner-id": lambda v: [v.account_id],
            "state": lambda v: [v.state],
        }, tag_map, lambda v: v.vpc_id, "VpcIds", VPC)
        return common.paged({"Vpcs": [
            vpc_shape(v, cidrs.get(v.vpc_id, []), tag_map.get(v.vpc_id, [])) for v in page]},
            token)

    @operation("DeleteVpc")
    async def delete_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     params.get("VpcId"))
            what = await _dependents(session, vpc.vpc_id)
            if what is not None:
                raise AwsError(f"The vpc '{vpc.vpc_id}' has dependencies ({what}) and cannot "
                               "be deleted.", code="DependencyViolation")
            tables = [r[0] for r in await session.execute(select(
                RouteTableRow.route_table_id).where(RouteTableRow.vpc_id == vpc.vpc_id))]
            acls = [r[0] for r in await session.execute(select(NetworkAclRow.acl_id).where(
                NetworkAclRow.vpc_id == vpc.vpc_id))]
            await session.execute(delete(RouteRow).where(RouteRow.route_table_id.in_(tables)))
            await session.execute(delete(RouteTableAssociationRow).where(
                RouteTableAssociationRow.vpc_id == vpc.vpc_id))
            await session.execute(delete(RouteTableRow).where(
                RouteTableRow.vpc_id == vpc.vpc_id))
            await session.execute(delete(NetworkAclEntryRow).where(
                NetworkAclEntryRow.acl_id.in_(acls)))
            await session.execute(delete(NetworkAclRow).where(
                NetworkAclRow.vpc_id == vpc.vpc_id))
            await session.execute(delete(VpcCidrRow).where(VpcCidrRow.vpc_id == vpc.vpc_id))
            await session.execute(delete(PeeringRow).where(
                (PeeringRow.requester_vpc == vpc.vpc_id)
                | (PeeringRow.accepter_vpc == vpc.vpc_id)))
            await groups.delete_default_group(session, vpc)
            await tags.delete_resource_tags(session, account, ctx.region,
                                            [vpc.vpc_id, *tables, *acls])
            await session.delete(vpc)
            await common.bump(session)
        self.changed()
        return {}

    @operation("ModifyVpcAttribute")
    async def modify_vpc_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        given = [(name, params[name]) for name in ("EnableDnsSupport", "EnableDnsHostnames")
                 if params.get(name) is not None]
        if len(given) != 1:
            raise AwsError("Exactly one attribute must be modified per request "
                           "(enableDnsSupport or enableDnsHostnames).",
                           code="InvalidParameterCombination")
        name, value = given[0]
        on = common.boolean(value.get("Value") if isinstance(value, dict) else value)
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     params.get("VpcId"))
            if name == "EnableDnsHostnames" and on and not vpc.dns_support:
                raise AwsError("DNS hostnames need DNS resolution (enableDnsSupport) on.",
                               code="InvalidParameterValue")
            if name == "EnableDnsSupport":
                vpc.dns_support = on
            else:
                vpc.dns_hostnames = on
            await common.bump(session)
        self.changed()
        return {}

    @operation("DescribeVpcAttribute")
    async def describe_vpc_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        attribute = common.required(params, "Attribute")
        column = _ATTRIBUTES.get(str(attribute))
        if column is None:
            raise AwsError(f"Value ({attribute}) for parameter attribute is invalid.",
                           code="InvalidParameterValue")
        async with self.cloud.sessions() as session:
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     params.get("VpcId"))
        key = "EnableDnsSupport" if column == "dns_support" else "EnableDnsHostnames"
        return {"VpcId": vpc.vpc_id, key: {"Value": bool(getattr(vpc, column))}}

    @operation("AssociateVpcCidrBlock")
    async def associate_vpc_cidr_block(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        net = common.parse_cidr(common.required(params, "CidrBlock"))
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     params.get("VpcId"))
            current = (await vpc_cidrs(session, [vpc.vpc_id])).get(vpc.vpc_id, [])
            if len(current) >= MAX_CIDRS:
                raise AwsError(f"This network '{vpc.vpc_id}' has met its maximum number of "
                               f"allowed CIDRs: {MAX_CIDRS}", code="CidrLimitExceeded")
            for row in current:
                if ipaddress.IPv4Network(row.cidr).overlaps(net):
                    raise AwsError(f"The CIDR '{net}' conflicts with another subnet",
                                   code="InvalidVpc.Range")
            assoc = VpcCidrRow(association_id=ids.resource_id("vpc-cidr-assoc"),
                               vpc_id=vpc.vpc_id, cidr=str(net), primary=False)
            session.add(assoc)
            for (table_id,) in await session.execute(select(RouteTableRow.route_table_id).where(
                    RouteTableRow.vpc_id == vpc.vpc_id)):
                session.add(RouteRow(route_table_id=table_id, destination=str(net),
                                     target_kind="local", target_id="local",
                                     origin="CreateRouteTable"))
            await common.bump(session)
        self.changed()
        return {"VpcId": vpc.vpc_id, "CidrBlockAssociation": {
            "AssociationId": assoc.association_id, "CidrBlock": str(net),
            "CidrBlockState": {"State": "associating"}}}

    @operation("DisassociateVpcCidrBlock")
    async def disassociate_vpc_cidr_block(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        assoc_id = str(common.required(params, "AssociationId"))
        async with self.cloud.sessions() as session, session.begin():
            assoc = await session.get(VpcCidrRow, assoc_id)
            vpc = None if assoc is None else await session.get(VpcRow, assoc.vpc_id)
            if assoc is None or vpc is None or vpc.account_id != account \
                    or vpc.region != ctx.region:
                raise AwsError(f"The vpc CIDR block association ID '{assoc_id}' does not "
                               "exist", code="InvalidVpcCidrBlockAssociationID.NotFound")
            if assoc.primary:
                raise AwsError(f"The vpc CIDR block with association ID {assoc_id} may not "
                               "be disassociated. It is the primary IPv4 CIDR block of the "
                               "VPC", code="OperationNotPermitted")
            net = ipaddress.IPv4Network(assoc.cidr)
            for (cidr,) in await session.execute(select(SubnetRow.cidr).where(
                    SubnetRow.vpc_id == vpc.vpc_id)):
                if ipaddress.IPv4Network(cidr).subnet_of(net):
                    raise AwsError(f"The vpc CIDR block {assoc.cidr} has subnets and "
                                   "cannot be disassociated.", code="DependencyViolation")
            tables = select(RouteTableRow.route_table_id).where(
                RouteTableRow.vpc_id == vpc.vpc_id)
            await session.execute(delete(RouteRow).where(
                RouteRow.route_table_id.in_(tables), RouteRow.destination == assoc.cidr,
                RouteRow.target_kind == "local"))
            await session.delete(assoc)
            await common.bump(session)
        self.changed()
        return {"VpcId": vpc.vpc_id, "CidrBlockAssociation": {
            "AssociationId": assoc_id, "CidrBlock": assoc.cidr,
            "CidrBlockState": {"State": "disassociating"}}}
