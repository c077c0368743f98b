"""Subnets: Create/Delete/DescribeSubnets, ModifySubnetAttribute (MapPublicIpOnLaunch)
and CreateDefaultSubnet.

A subnet lies inside one CIDR block of its VPC (else ``InvalidSubnet.Range``), overlaps
no other subnet of the VPC (``InvalidSubnet.Conflict``), is /16 to /28, and gives up
five addresses to the cloud (``AvailableIpAddressCount`` counts them out, with every
address an interface holds).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.arns import arn
from cloudctl.services.ec2.shared.resources import SUBNET, VPC
from cloudctl.services.ec2.vpc import build, common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import (
    NetworkAclAssociationRow,
    NetworkInterfaceRow,
    RouteTableAssociationRow,
    SubnetRow,
    VpcCidrRow,
    VpcRow,
)
from cloudctl.services.geography import zone_id

tags.register_resource("subnet", common.exists_check(SubnetRow, SubnetRow.subnet_id))


def subnet_shape(s: Any, used: int, tag_list: tags.Tags, zone_ids: dict[str, str]
                 ) -> dict[str, Any]:
    return {"SubnetId": s.subnet_id, "VpcId": s.vpc_id, "CidrBlock": s.cidr,
            "AvailabilityZone": s.zone, "AvailabilityZoneId": zone_ids.get(s.zone, ""),
            "AvailableIpAddressCount": common.usable_count(s.cidr) - used,
            "DefaultForAz": s.default_for_az, "MapPublicIpOnLaunch": s.map_public_ip,
            "State": "available", "OwnerId": s.account_id,
            "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
            "SubnetArn": arn(s.region, s.account_id, "subnet", s.subnet_id),
            "Tags": tag_list}


class SubnetsProvider(VpcProvider):
    # filters DescribeSubnets can answer in SQL (exact values)
    _COLUMNS = {"subnet-id": SubnetRow.subnet_id, "vpc-id": SubnetRow.vpc_id,
                "cidr-block": SubnetRow.cidr, "cidr": SubnetRow.cidr,
                "cidrBlock": SubnetRow.cidr, "availability-zone": SubnetRow.zone,
                "owner-id": SubnetRow.account_id}

    def _zone_ids(self, region: str) -> dict[str, str]:
        return {name: zone_id(region, i)
                for i, name in enumerate(self.cloud.region_zones.get(region, []))}

    def _zone(self, region: str, params: dict[str, Any]) -> str:
        zones = self._zone_ids(region)
        name, zid = params.get("AvailabilityZone"), params.get("AvailabilityZoneId")
        if name is None and zid is not None:
            name = next((z for z, i in zones.items() if i == zid), None)
            if name is None:
                raise AwsError(f"Value ({zid}) for parameter availabilityZoneId is invalid.",
                               code="InvalidParameterValue")
        if name is None:
            if not zones:
                raise AwsError("No availability zone is enabled.", code="InvalidParameterValue")
            return sorted(zones)[0]
        if name not in zones:
            raise AwsError(f"Value ({name}) for parameter availabilityZone is invalid. Subnets "
                           "can currently only be created in the following availability "
                           f"zones: {', '.join(sorted(zones))}.",
                           code="InvalidParameterValue")
        return str(name)

    async def _shape(self, session: Any, row: SubnetRow) -> dict[str, Any]:
        used = await common.used_counts(session, [row.subnet_id])
        found = await tags.tags_for(session, row.account_id, row.region, [row.subnet_id])
        return subnet_shape(row, used.get(row.subnet_id, 0), found.get(row.subnet_id, []),
                            self._zone_ids(row.region))

    @operation("CreateSubnet")
    async def create_subnet(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        net = common.parse_cidr(common.required(params, "CidrBlock"),
                                range_code="InvalidSubnet.Range")
        zone = self._zone(ctx.region, params)
        tags.check_tag_specifications(params.get("TagSpecifications"), ["subnet"])
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     common.required(params, "VpcId"))
            blocks = [ipaddress.IPv4Network(c) for (c,) in await session.execute(
                select(VpcCidrRow.cidr).where(VpcCidrRow.vpc_id == vpc.vpc_id))]
            if not any(net.subnet_of(b) for b in blocks):
                raise AwsError(f"The CIDR '{net}' is invalid.", code="InvalidSubnet.Range")
            for (other,) in await session.execute(select(SubnetRow.cidr).where(
                    SubnetRow.vpc_id == vpc.vpc_id)):
                if ipaddress.IPv4Network(other).overlaps(net):
                    raise AwsError(f"The CIDR '{net}' conflicts with another subnet",
                                   code="InvalidSubnet.Conflict")
            row = await build.add_subnet(session, vpc, str(net), zone)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "subnet", [row.subnet_id],
                                                params.get("TagSpecifications"))
            shape = await self._shape(session, row)
        self.changed()
        return {"Subnet": shape}

    @operation("CreateDefaultSubnet")
    async def create_default_subnet(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        zone = self._zone(ctx.region, {"AvailabilityZone": common.required(
            params, "AvailabilityZone")})
        async with self.cloud.sessions() as session, session.begin():
            vpc = await build.find_default_vpc(session, account, ctx.region)
            if vpc is None:
                raise AwsError("No default VPC for this user", code="DefaultVpcDoesNotExist")
            subnets = list((await session.execute(select(SubnetRow).where(
                SubnetRow.vpc_id == vpc.vpc_id))).scalars())
            if any(s.zone == zone and s.default_for_az for s in subnets):
                raise AwsError(f"The default subnet for {zone} already exists.",
                               code="DefaultSubnetAlreadyExistsInAvailabilityZone")
            taken = [ipaddress.IPv4Network(s.cidr) for s in subnets]
            for index in range(16):
                cidr = ipaddress.IPv4Network(build.default_subnet_cidr(index))
                if not any(cidr.overlaps(t) for t in taken):
                    break
            else:
                raise AwsError("The default VPC has no free /20 for a default subnet.",
                               code="InvalidSubnet.Conflict")
            row = await build.add_subnet(session, vpc, str(cidr), zone, default_for_az=True)
            shape = await self._shape(session, row)
        self.changed()
        return {"Subnet": shape}

    @operation("DescribeSubnets")
    async def describe_subnets(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        zones = self._zone_ids(ctx.region)
        # plain rows, not ORM instances: a Describe only reads (5x cheaper per row)
        mine = select(*SubnetRow.__table__.c).where(SubnetRow.account_id == account,
                                                   SubnetRow.region == ctx.region)
        async with self.cloud.sessions() as session:
            quick = await common.sql_page(session, "DescribeSubnets", params, mine,
                                          SubnetRow.subnet_id, self._COLUMNS)
            if quick is not None:
                page, token = quick
                used = await common.used_counts(session, [s.subnet_id for s in page])
                tag_map = await tags.tags_for(session, account, ctx.region,
                                              [s.subnet_id for s in page])
                with common.gc_paused():
                    return common.paged({"Subnets": [
                        subnet_shape(s, used.get(s.subnet_id, 0),
                                     tag_map.get(s.subnet_id, []), zones) for s in page]},
                        token)
            rows: list[Any] = common.plain(await session.execute(mine.order_by(
                SubnetRow.subnet_id)))
            early = common.filters_need(params, ("available-ip-address-count",))
            used = await common.used_counts(
                session, [r.subnet_id for r in rows]) if early else {}
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.subnet_id for r in rows])

            def free(s: Any) -> list[str]:
                return [str(common.usable_count(s.cidr) - used.get(s.subnet_id, 0))]

            page, token = common.describe("DescribeSubnets", params, rows, {
                "subnet-id": lambda s: [s.subnet_id],
                "vpc-id": lambda s: [s.vpc_id],
                "cidr-block": lambda s: [s.cidr], "cidr": lambda s: [s.cidr],
                "cidrBlock": lambda s: [s.cidr],
                "ipv6-cidr-block-association.ipv6-cidr-block": lambda s: [],
                "ipv6-cidr-block-association.association-id": lambda s: [],
                "ipv6-cidr-block-association.state": lambda s: [],
                "availability-zone": lambda s: [s.zone],
                "availability-zone-id": lambda s: [zones.get(s.zone, "")],
                "available-ip-address-count": free,
                "default-for-az": lambda s: common.flag(s.default_for_az),
                "defaultForAz": lambda s: common.flag(s.default_for_az),
                "map-public-ip-on-launch": lambda s: common.flag(s.map_public_ip),
                "owner-id": lambda s: [s.account_id],
                "state": lambda s: ["available"],
                "subnet-arn": lambda s: [arn(s.region, s.account_id, "subnet", s.subnet_id)],
            }, tag_map, lambda s: s.subnet_id, "SubnetIds", SUBNET)
            if not early:
                used = await common.used_counts(session, [s.subnet_id for s in page])
        return common.paged({"Subnets": [
            subnet_shape(s, used.get(s.subnet_id, 0), tag_map.get(s.subnet_id, []), zones)
            for s in page]}, token)

    @operation("DeleteSubnet")
    async def delete_subnet(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            row = await common.owned(session, SubnetRow, SUBNET, account, ctx.region,
                                     common.required(params, "SubnetId"))
            if (await session.execute(select(NetworkInterfaceRow.eni_id).where(
                    NetworkInterfaceRow.subnet_id == row.subnet_id).limit(1))).first():
                raise AwsError(f"The subnet '{row.subnet_id}' has dependencies and cannot be "
                               "deleted.", code="DependencyViolation")
            await session.execute(delete(NetworkAclAssociationRow).where(
                NetworkAclAssociationRow.subnet_id == row.subnet_id))
            await session.execute(delete(RouteTableAssociationRow).where(
                RouteTableAssociationRow.subnet_id == row.subnet_id))
            await tags.delete_resource_tags(session, account, ctx.region, [row.subnet_id])
            await session.delete(row)
            await common.bump(session)
        self.changed()
        return {}

    @operation("ModifySubnetAttribute")
    async def modify_subnet_attribute(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        value = params.get("MapPublicIpOnLaunch")
        if value is None:
            raise AwsError("The request must contain the parameter MapPublicIpOnLaunch",
                           code="MissingParameter")
        async with self.cloud.sessions() as session, session.begin():
            row = await common.owned(session, SubnetRow, SUBNET, account, ctx.region,
                                     common.required(params, "SubnetId"))
            row.map_public_ip = common.boolean(
                value.get("Value") if isinstance(value, dict) else value)
            await common.bump(session)
        self.changed()
        return {}
