"""Internet gateways: Create/Attach/Detach/Delete/DescribeInternetGateways.

One gateway per VPC and one VPC per gateway (``Resource.AlreadyAssociated``); an
attached gateway cannot be deleted (``DependencyViolation``), nor detached while a
public NAT gateway of the VPC still maps its address.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import INTERNET_GATEWAY, VPC
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import InternetGatewayRow, NatGatewayRow, VpcRow

tags.register_resource("igw", common.exists_check(InternetGatewayRow,
                                                  InternetGatewayRow.igw_id))


def igw_shape(g: InternetGatewayRow, tag_list: tags.Tags) -> dict[str, Any]:
    return {"InternetGatewayId": g.igw_id, "OwnerId": g.account_id,
            "Attachments": [{"State": "available", "VpcId": g.vpc_id}] if g.vpc_id else [],
            "Tags": tag_list}


class InternetGatewaysProvider(VpcProvider):

    async def _igw(self, session: Any, account: str, region: str, params: dict[str, Any]
                   ) -> InternetGatewayRow:
        return await common.owned(session, InternetGatewayRow, INTERNET_GATEWAY, account,
                                  region, common.required(params, "InternetGatewayId"))

    @operation("CreateInternetGateway")
    async def create_internet_gateway(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        tags.check_tag_specifications(params.get("TagSpecifications"), ["internet-gateway"])
        async with self.cloud.sessions() as session, session.begin():
            row = InternetGatewayRow(igw_id=ids.resource_id("igw"), account_id=account,
                                     region=ctx.region, vpc_id=None)
            session.add(row)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "internet-gateway", [row.igw_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            found = await tags.tags_for(session, account, ctx.region, [row.igw_id])
        return {"InternetGateway": igw_shape(row, found.get(row.igw_id, []))}

    @operation("DescribeInternetGateways")
    async def describe_internet_gateways(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(InternetGatewayRow).where(
                InternetGatewayRow.account_id == account,
                InternetGatewayRow.region == ctx.region).order_by(
                InternetGatewayRow.igw_id))).scalars())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.igw_id for r in rows])
        page, token = common.describe("DescribeInternetGateways", params, rows, {
            "internet-gateway-id": lambda g: [g.igw_id],
            "owner-id": lambda g: [g.account_id],
            "attachment.vpc-id": lambda g: [g.vpc_id] if g.vpc_id else [],
            "attachment.state": lambda g: ["available"] if g.vpc_id else [],
        }, tag_map, lambda g: g.igw_id, "InternetGatewayIds", INTERNET_GATEWAY)
        return common.paged({"InternetGateways": [
            igw_shape(g, tag_map.get(g.igw_id, [])) for g in page]}, token)

    @operation("AttachInternetGateway")
    async def attach_internet_gateway(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            igw = await self._igw(session, account, ctx.region, params)
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     common.required(params, "VpcId"))
            if igw.vpc_id is not None:
                raise AwsError(f"resource {igw.igw_id} is already attached to network "
                               f"{igw.vpc_id}", code="Resource.AlreadyAssociated")
            other = (await session.execute(select(InternetGatewayRow.igw_id).where(
                InternetGatewayRow.vpc_id == vpc.vpc_id))).first()
            if other is not None:
                raise AwsError(f"Network {vpc.vpc_id} already has an internet gateway "
                               f"attached", code="Resource.AlreadyAssociated")
            igw.vpc_id = vpc.vpc_id
            await common.bump(session)
        self.changed()
        return {}

    @operation("DetachInternetGateway")
    async def detach_internet_gateway(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            igw = await self._igw(session, account, ctx.region, params)
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     common.required(params, "VpcId"))
            if igw.vpc_id != vpc.vpc_id:
                raise AwsError(f"resource {igw.igw_id} is not attached to network "
                               f"{vpc.vpc_id}", code="Gateway.NotAttached")
            mapped = (await session.execute(select(NatGatewayRow.nat_id).where(
                NatGatewayRow.vpc_id == vpc.vpc_id, NatGatewayRow.connectivity == "public",
                NatGatewayRow.state.in_(("pending", "available"))).limit(1))).first()
            if mapped is not None:
                raise AwsError(f"Network {vpc.vpc_id} has some mapped public address(es). "
                               "Please unmap those public address(es) before detaching the "
                               "gateway.", code="DependencyViolation")
            igw.vpc_id = None
            await common.bump(session)
        self.changed()
        return {}

    @operation("DeleteInternetGateway")
    async def delete_internet_gateway(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            igw = await self._igw(session, account, ctx.region, params)
            if igw.vpc_id is not None:
                raise AwsError(f"The internetGateway '{igw.igw_id}' has dependencies and "
                               "cannot be deleted.", code="DependencyViolation")
            await tags.delete_resource_tags(session, account, ctx.region, [igw.igw_id])
            await session.delete(igw)
        return {}
