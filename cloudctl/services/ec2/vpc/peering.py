"""VPC peering within and across the accounts of the cloud: Create/Accept/Reject/Delete/
DescribeVpcPeeringConnections.

The requester names its VPC and the peer (``PeerVpcId``, ``PeerOwnerId``: the
caller's account by default). A peer VPC that does not exist under that owner, or a
CIDR overlap, makes the connection ``failed`` as AWS does (the requester learns
nothing else about the other account). Only the accepter accepts or rejects; either
side deletes. Both sides see the connection; routes to it are created per side.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import VPC, VPC_PEERING
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import PeeringRow, VpcCidrRow, VpcRow

_MESSAGES = {"pending-acceptance": "Pending Acceptance by {accepter}", "active": "Active",
             "rejected": "Rejected by {accepter}", "deleted": "Deleted by {actor}",
             "failed": "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range"}


async def _exists(session: Any, account: str, region: str, wanted: list[str]) -> set[str]:
    rows = await session.execute(select(PeeringRow.pcx_id).where(
        PeeringRow.pcx_id.in_(wanted), PeeringRow.region == region,
        or_(PeeringRow.requester_account == account, PeeringRow.accepter_account == account)))
    return {r[0] for r in rows}


tags.register_resource("pcx", _exists)


class PeeringProvider(VpcProvider):

    async def _info(self, session: Any, vpc_id: str, owner: str, region: str
                    ) -> dict[str, Any]:
        vpc = await session.get(VpcRow, vpc_id)
        info: dict[str, Any] = {"VpcId": vpc_id, "OwnerId": owner, "Region": region}
        if vpc is not None and vpc.account_id == owner:
            cidrs = (await session.execute(select(VpcCidrRow.cidr).where(
                VpcCidrRow.vpc_id == vpc_id))).scalars().all()
            info.update(CidrBlock=vpc.cidr, CidrBlockSet=[{"CidrBlock": c} for c in cidrs])
        return info

    async def _shape(self, session: Any, p: PeeringRow, tag_list: tags.Tags) -> dict[str, Any]:
        message = _MESSAGES[p.status].format(accepter=p.accepter_account,
                                             actor=p.accepter_account)
        out: dict[str, Any] = {
            "VpcPeeringConnectionId": p.pcx_id,
            "Status": {"Code": p.status, "Message": message},
            "RequesterVpcInfo": await self._info(session, p.requester_vpc,
                                                 p.requester_account, p.region),
            "AccepterVpcInfo": await self._info(session, p.accepter_vpc,
                                                p.accepter_account, p.region),
            "Tags": tag_list}
        if p.status == "pending-acceptance":
            out["ExpirationTime"] = p.created_at + timedelta(days=7)
        return out

    async def _pcx(self, session: AsyncSession, account: str, region: str, value: Any) -> PeeringRow:
        pcx_id = VPC_PEERING.check(value)
        row = await session.get(PeeringRow, pcx_id)
        if row is None or row.region != region \
                or account not in (row.requester_account, row.accepter_account):
            raise common.not_found(VPC_PEERING, pcx_id, "vpcPeeringConnection")
        return row

    @operation("CreateVpcPeeringConnection")
    async def create_vpc_peering_connection(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        region = str(params.get("PeerRegion") or ctx.region)
        if region != ctx.region:
            raise AwsError("Peering across regions is not supported by this cloud.",
                           code="InvalidParameterValue")
        owner = str(params.get("PeerOwnerId") or account)
        tags.check_tag_specifications(params.get("TagSpecifications"),
                                      ["vpc-peering-connection"])
        async with self.cloud.sessions() as session, session.begin():
            mine = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                      common.required(params, "VpcId"))
            peer_id = VPC.check(common.required(params, "PeerVpcId"))
            peer = await session.get(VpcRow, peer_id)
            status = "pending-acceptance"
            if peer is None or peer.account_id != owner or peer.region != ctx.region \
                    or peer.vpc_id == mine.vpc_id:
                status = "failed"
            else:
                ours = [ipaddress.IPv4Network(c) for c in (await session.execute(select(
                    VpcCidrRow.cidr).where(VpcCidrRow.vpc_id == mine.vpc_id))).scalars()]
                theirs = [ipaddress.IPv4Network(c) for c in (await session.execute(select(
                    VpcCidrRow.cidr).where(VpcCidrRow.vpc_id == peer.vpc_id))).scalars()]
                if any(a.overlaps(b) for a in ours for b in theirs):
                    status = "failed"
            row = PeeringRow(pcx_id=ids.resource_id("pcx"), region=ctx.region,
                             requester_account=account, requester_vpc=mine.vpc_id,
                             accepter_account=owner, accepter_vpc=peer_id, status=status,
                             created_at=utcnow(), updated_at=utcnow())
            session.add(row)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "vpc-peering-connection", [row.pcx_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            found = await tags.tags_for(session, account, ctx.region, [row.pcx_id])
            shape = await self._shape(session, row, found.get(row.pcx_id, []))
        shape["Status"] = {"Code": "initiating-request",
                           "Message": f"Initiating Request to {owner}"}
        return {"VpcPeeringConnection": shape}

    @operation("DescribeVpcPeeringConnections")
    async def describe_vpc_peering_connections(self, ctx: RequestContext,
                                               params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(PeeringRow).where(
                PeeringRow.region == ctx.region, or_(
                    PeeringRow.requester_account == account,
                    PeeringRow.accepter_account == account)).order_by(
                PeeringRow.pcx_id))).scalars())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.pcx_id for r in rows])
            found = {r.pcx_id: await self._shape(session, r, tag_map.get(r.pcx_id, []))
                     for r in rows}

        def side(r: PeeringRow, which: str, field: str) -> list[str]:
            value = found[r.pcx_id][which].get(field)
            return [str(value)] if value else []

        page, token = common.describe("DescribeVpcPeeringConnections", params, rows, {
            "vpc-peering-connection-id": lambda r: [r.pcx_id],
            "status-code": lambda r: [r.status],
            "requester-vpc-info.vpc-id": lambda r: [r.requester_vpc],
            "requester-vpc-info.owner-id": lambda r: [r.requester_account],
            "requester-vpc-info.cidr-block": lambda r: side(r, "RequesterVpcInfo",
                                                            "CidrBlock"),
            "accepter-vpc-info.vpc-id": lambda r: [r.accepter_vpc],
            "accepter-vpc-info.owner-id": lambda r: [r.accepter_account],
            "accepter-vpc-info.cidr-block": lambda r: side(r, "AccepterVpcInfo", "CidrBlock"),
        }, tag_map, lambda r: r.pcx_id, "VpcPeeringConnectionIds", VPC_PEERING)
        return common.paged({"VpcPeeringConnections": [found[r.pcx_id] for r in page]}, token)

    async def _decide(self, ctx: RequestContext, params: dict[str, Any], status: str
                      ) -> dict[str, Any]:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            row = await self._pcx(session, account, ctx.region,
                                  common.required(params, "VpcPeeringConnectionId"))
            if row.accepter_account != account:
                raise AwsError(f"User {account} cannot accept or reject peering connection "
                               f"{row.pcx_id}: only the accepter can.",
                               code="OperationNotPermitted")
            if row.status != "pending-acceptance":
                raise AwsError(f"The peering connection {row.pcx_id} is {row.status}.",
                               code="InvalidStateTransition")
            row.status, row.updated_at = status, utcnow()
            await common.bump(session)
            found = await tags.tags_for(session, account, ctx.region, [row.pcx_id])
            shape = await self._shape(session, row, found.get(row.pcx_id, []))
        self.changed()
        return shape

    @operation("AcceptVpcPeeringConnection")
    async def accept_vpc_peering_connection(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        return {"VpcPeeringConnection": await self._decide(ctx, params, "active")}

    @operation("RejectVpcPeeringConnection")
    async def reject_vpc_peering_connection(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        await self._decide(ctx, params, "rejected")
        return {"Return": True}

    @operation("DeleteVpcPeeringConnection")
    async def delete_vpc_peering_connection(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            row = await self._pcx(session, account, ctx.region,
                                  common.required(params, "VpcPeeringConnectionId"))
            if row.status in ("deleted", "rejected", "failed"):
                raise AwsError(f"The peering connection {row.pcx_id} is {row.status}.",
                               code="InvalidStateTransition")
            if row.status == "pending-acceptance" and row.requester_account != account:
                raise AwsError("Only the requester can delete a pending request.",
                               code="OperationNotPermitted")
            row.status, row.updated_at = "deleted", utcnow()
            await common.bump(session)
        self.changed()
        return {"Return": True}
