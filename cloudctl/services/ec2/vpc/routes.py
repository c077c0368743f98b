"""Route tables and routes: Create/Delete/DescribeRouteTables, Associate/Disassociate/
ReplaceRouteTableAssociation (the main association too), Create/Delete/ReplaceRoute.

A route targets an internet gateway (``GatewayId``), a NAT gateway, an instance (its
primary interface), a network interface or a peering connection of the table's VPC.
The ``local`` routes (one per CIDR block of the VPC) cannot be replaced or deleted. A
route whose target is gone or detached is a ``blackhole``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import (
    INSTANCE,
    INTERNET_GATEWAY,
    NAT_GATEWAY,
    NETWORK_INTERFACE,
    ROUTE_TABLE,
    SUBNET,
    VPC,
    VPC_PEERING,
)
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import (
    InternetGatewayRow,
    NatGatewayRow,
    NetworkInterfaceRow,
    PeeringRow,
    RouteRow,
    RouteTableAssociationRow,
    RouteTableRow,
    SubnetRow,
    VpcRow,
)

tags.register_resource("rtb", common.exists_check(RouteTableRow, RouteTableRow.route_table_id))

_TARGETS = (("GatewayId", "gateway"), ("NatGatewayId", "nat"), ("InstanceId", "instance"),
            ("NetworkInterfaceId", "eni"), ("VpcPeeringConnectionId", "pcx"))


def _destination(params: dict[str, Any]) -> str:
    text = str(common.required(params, "DestinationCidrBlock"))
    try:
        return str(ipaddress.IPv4Network(text, strict=False))
    except ValueError:
        raise AwsError(f"Value ({text}) for parameter destinationCidrBlock is invalid. This "
                       "is not a valid CIDR block.", code="InvalidParameterValue") from None


def _mismatch(table: RouteTableRow, target: str) -> AwsError:
    return AwsError(f"route table {table.route_table_id} and network gateway {target} "
                    "belong to different networks", code="InvalidParameterValue")


async def _target(session: Any, table: RouteTableRow, params: dict[str, Any]
                  ) -> tuple[str, str]:
    given = [(kind, params[name]) for name, kind in _TARGETS if params.get(name)]
    if len(given) != 1:
        raise AwsError("The request must contain exactly one of gatewayId, natGatewayId, "
                       "instanceId, networkInterfaceId or vpcPeeringConnectionId",
                       code="InvalidParameterCombination" if given else "MissingParameter")
    kind, value = given[0]
    account, region = table.account_id, table.region
    if kind == "gateway":
        igw = await common.owned(session, InternetGatewayRow, INTERNET_GATEWAY, account,
                                 region, value)
        if igw.vpc_id != table.vpc_id:
            raise _mismatch(table, igw.igw_id)
        return kind, igw.igw_id
    if kind == "nat":
        nat = await common.owned(session, NatGatewayRow, NAT_GATEWAY, account, region, value)
        if nat.vpc_id != table.vpc_id or nat.state in ("deleting", "deleted", "failed"):
            raise _mismatch(table, nat.nat_id)
        return kind, nat.nat_id
    if kind == "eni":
        eni = await common.owned(session, NetworkInterfaceRow, NETWORK_INTERFACE, account,
                                 region, value)
        if eni.vpc_id != table.vpc_id:
            raise _mismatch(table, eni.eni_id)
        return kind, eni.eni_id
    if kind == "instance":
        iid = INSTANCE.check(value)
        eni = (await session.execute(select(NetworkInterfaceRow).where(
            NetworkInterfaceRow.instance_id == iid, NetworkInterfaceRow.device_index == 0,
            NetworkInterfaceRow.account_id == account))).scalar_one_or_none()
        if eni is None:
            raise AwsError(f"The instance ID '{iid}' does not exist",
                           code="InvalidInstanceID.NotFound")
        if eni.vpc_id != table.vpc_id:
            raise _mismatch(table, iid)
        return kind, iid
    pcx_id = VPC_PEERING.check(value)
    pcx = await session.get(PeeringRow, pcx_id)
    if pcx is None or account not in (pcx.requester_account, pcx.accepter_account):
        raise common.not_found(VPC_PEERING, pcx_id, "vpc peering connection")
    if table.vpc_id not in (pcx.requester_vpc, pcx.accepter_vpc):
        raise _mismatch(table, pcx_id)
    return kind, pcx_id


class Targets:
    """What a Describe needs to show routes: gateways' VPCs, NATs' states, ENIs."""

    def __init__(self, igws: dict[str, str | None], nats: dict[str, str],
                 enis: dict[str, str], primaries: dict[str, str],
                 peerings: dict[str, str]) -> None:
        self.igws, self.nats, self.enis = igws, nats, enis
        self.primaries, self.peerings = primaries, peerings

    def route(self, r: Any, table: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"DestinationCidrBlock": r.destination, "Origin": r.origin}
        active = True
        if r.target_kind in ("local", "gateway"):
            out["GatewayId"] = r.target_id
            active = r.target_kind == "local" or self.igws.get(r.target_id) == table.vpc_id
        elif r.target_kind == "nat":
            out["NatGatewayId"] = r.target_id
            active = self.nats.get(r.target_id) in ("pending", "available")
        elif r.target_kind == "eni":
            out["NetworkInterfaceId"] = r.target_id
            active = r.target_id in self.enis
            if self.enis.get(r.target_id):
                out["InstanceId"] = self.enis[r.target_id]
        elif r.target_kind == "instance":
            out["InstanceId"] = r.target_id
            out["InstanceOwnerId"] = table.account_id
            eni = self.primaries.get(r.target_id)
            active = eni is not None
            if eni:
                out["NetworkInterfaceId"] = eni
        else:
            out["VpcPeeringConnectionId"] = r.target_id
            active = self.peerings.get(r.target_id) == "active"
        out["State"] = "active" if active else "blackhole"
        return out

    @classmethod
    async def load(cls, session: Any, account: str, region: str) -> Targets:
        igws = {r[0]: r[1] for r in await session.execute(select(
            InternetGatewayRow.igw_id, InternetGatewayRow.vpc_id).where(
            InternetGatewayRow.account_id == account, InternetGatewayRow.region == region))}
        nats = {r[0]: r[1] for r in await session.execute(select(
            NatGatewayRow.nat_id, NatGatewayRow.state).where(
            NatGatewayRow.account_id == account, NatGatewayRow.region == region))}
        enis: dict[str, str] = {}
        primaries: dict[str, str] = {}
        for eni_id, instance_id, index in await session.execute(select(
                NetworkInterfaceRow.eni_id, NetworkInterfaceRow.instance_id,
                NetworkInterfaceRow.device_index).where(
                NetworkInterfaceRow.account_id == account,
                NetworkInterfaceRow.region == region)):
            enis[eni_id] = instance_id or ""
            if instance_id and index == 0:
                primaries[instance_id] = eni_id
        peerings = {r[0]: r[1] for r in await session.execute(select(
            PeeringRow.pcx_id, PeeringRow.status).where(PeeringRow.region == region))}
        return cls(igws, nats, enis, primaries, peerings)


def _assoc(a: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Main": a.main, "RouteTableAssociationId": a.association_id,
                           "RouteTableId": a.route_table_id,
                           "AssociationState": {"State": "associated"}}
    if a.subnet_id:
        out["SubnetId"] = a.subnet_id
    return out


async def _table_parts(session: Any, table_ids: list[str]
                       ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Routes and associations of the tables, by table id (plain rows)."""
    routes: dict[str, list[Any]] = {}
    assocs: dict[str, list[Any]] = {}
    if not table_ids:
        return routes, assocs
    query_ids = table_ids if len(table_ids) <= 500 else None
    rq = select(*RouteRow.__table__.c).order_by(RouteRow.route_table_id, RouteRow.destination)
    aq = select(*RouteTableAssociationRow.__table__.c).order_by(
        RouteTableAssociationRow.association_id)
    if query_ids is not None:
        rq = rq.where(RouteRow.route_table_id.in_(query_ids))
        aq = aq.where(RouteTableAssociationRow.route_table_id.in_(query_ids))
    for r in common.plain(await session.execute(rq)):
        routes.setdefault(r.route_table_id, []).append(r)
    for a in common.plain(await session.execute(aq)):
        assocs.setdefault(a.route_table_id, []).append(a)
    return routes, assocs


class RouteTablesProvider(VpcProvider):

    async def _route_table(self, session: Any, account: str, region: str, value: Any
                     ) -> RouteTableRow:
        return await common.owned(session, RouteTableRow, ROUTE_TABLE, account, region, value)

    def _shape(self, t: Any, routes: list[Any], assocs: list[Any], targets: Targets,
               tag_list: tags.Tags) -> dict[str, Any]:
        return {"RouteTableId": t.route_table_id, "VpcId": t.vpc_id, "OwnerId": t.account_id,
                "Routes": [targets.route(r, t) for r in routes],
                "Associations": [_assoc(a) for a in assocs], "PropagatingVgws": [],
                "Tags": tag_list}

    @operation("CreateRouteTable")
    async def create_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        tags.check_tag_specifications(params.get("TagSpecifications"), ["route-table"])
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     common.required(params, "VpcId"))
            table = RouteTableRow(route_table_id=ids.resource_id("rtb"), account_id=account,
                                  region=ctx.region, vpc_id=vpc.vpc_id, main=False)
            session.add(table)
            main = (await session.execute(select(RouteTableRow.route_table_id).where(
                RouteTableRow.vpc_id == vpc.vpc_id, RouteTableRow.main.is_(True)))).scalar_one()
            for r in (await session.execute(select(RouteRow).where(
                    RouteRow.route_table_id == main, RouteRow.target_kind == "local"))).scalars():
                session.add(RouteRow(route_table_id=table.route_table_id,
                                     destination=r.destination, target_kind="local",
                                     target_id="local", origin="CreateRouteTable"))
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "route-table", [table.route_table_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            await common.bump(session)
            routes, assocs = await _table_parts(session, [table.route_table_id])
            targets = await Targets.load(session, account, ctx.region)
            found = await tags.tags_for(session, account, ctx.region, [table.route_table_id])
        self.changed()
        return {"RouteTable": self._shape(table, routes.get(table.route_table_id, []), [],
                                          targets, found.get(table.route_table_id, []))}

    @operation("DescribeRouteTables")
    async def describe_route_tables(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        # plain rows, not ORM instances: a Describe only reads (5x cheaper per row)
        mine = select(*RouteTableRow.__table__.c).where(
            RouteTableRow.account_id == account, RouteTableRow.region == ctx.region)
        async with self.cloud.sessions() as session:
            quick = await common.sql_page(
                session, "DescribeRouteTables", params, mine, RouteTableRow.route_table_id,
                {"route-table-id": RouteTableRow.route_table_id,
                 "vpc-id": RouteTableRow.vpc_id, "owner-id": RouteTableRow.account_id})
            if quick is not None:
                page, token = quick
                ids_ = [t.route_table_id for t in page]
                routes, assocs = await _table_parts(session, ids_)
                targets = await Targets.load(session, account, ctx.region)
                tag_map = await tags.tags_for(session, account, ctx.region, ids_)
                with common.gc_paused():
                    return common.paged({"RouteTables": [
                        self._shape(t, routes.get(t.route_table_id, []),
                                    assocs.get(t.route_table_id, []), targets,
                                    tag_map.get(t.route_table_id, [])) for t in page]}, token)
            rows: list[Any] = common.plain(await session.execute(mine.order_by(
                RouteTableRow.route_table_id)))
            early = common.filters_need(params, ("route.", "association."))
            routes, assocs = await _table_parts(
                session, [r.route_table_id for r in rows]) if early else ({}, {})
            targets = await Targets.load(session, account, ctx.region)
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.route_table_id for r in rows])

            def rts(t: Any) -> list[Any]:
                return routes.get(t.route_table_id, [])

            def ass(t: Any) -> list[Any]:
                return assocs.get(t.route_table_id, [])

            def shown(t: Any, field: str) -> list[str]:
                return [str(x[field]) for x in (targets.route(r, t) for r in rts(t))
                        if field in x]

            page, token = common.describe("DescribeRouteTables", params, rows, {
                "route-table-id": lambda t: [t.route_table_id],
                "vpc-id": lambda t: [t.vpc_id],
                "owner-id": lambda t: [t.account_id],
                "association.route-table-association-id": lambda t: [
                    a.association_id for a in ass(t)],
                "association.route-table-id": lambda t: [t.route_table_id] if ass(t) else [],
                "association.subnet-id": lambda t: [
                    a.subnet_id for a in ass(t) if a.subnet_id],
                "association.main": lambda t: common.flag(t.main) if t.main or ass(t)
                else [],
                "route.destination-cidr-block": lambda t: [r.destination for r in rts(t)],
                "route.gateway-id": lambda t: shown(t, "GatewayId"),
                "route.nat-gateway-id": lambda t: shown(t, "NatGatewayId"),
                "route.instance-id": lambda t: shown(t, "InstanceId"),
                "route.vpc-peering-connection-id": lambda t: shown(
                    t, "VpcPeeringConnectionId"),
                "route.origin": lambda t: shown(t, "Origin"),
                "route.state": lambda t: shown(t, "State"),
            }, tag_map, lambda t: t.route_table_id, "RouteTableIds", ROUTE_TABLE)
            if not early:  # the children of this page only
                routes, assocs = await _table_parts(session, [t.route_table_id for t in page])
        with common.gc_paused():
            return common.paged({"RouteTables": [
                self._shape(t, rts(t), ass(t), targets, tag_map.get(t.route_table_id, []))
                for t in page]}, token)

    @operation("DeleteRouteTable")
    async def delete_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            table = await self._route_table(session, account, ctx.region,
                                      common.required(params, "RouteTableId"))
            if table.main or (await session.execute(select(
                    RouteTableAssociationRow.association_id).where(
                    RouteTableAssociationRow.route_table_id == table.route_table_id).limit(1)
                    )).first():
                raise AwsError(f"The routeTable '{table.route_table_id}' has dependencies and "
                               "cannot be deleted.", code="DependencyViolation")
            await session.execute(delete(RouteRow).where(
                RouteRow.route_table_id == table.route_table_id))
            await tags.delete_resource_tags(session, account, ctx.region,
                                            [table.route_table_id])
            await session.delete(table)
            await common.bump(session)
        self.changed()
        return {}

    @operation("AssociateRouteTable")
    async def associate_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            table = await self._route_table(session, account, ctx.region,
                                      common.required(params, "RouteTableId"))
            subnet = await common.owned(session, SubnetRow, SUBNET, account, ctx.region,
                                        common.required(params, "SubnetId"))
            if subnet.vpc_id != table.vpc_id:
                raise AwsError(f"Route table {table.route_table_id} and subnet "
                               f"{subnet.subnet_id} belong to different networks",
                               code="InvalidParameterValue")
            existing = (await session.execute(select(RouteTableAssociationRow).where(
                RouteTableAssociationRow.subnet_id == subnet.subnet_id))).scalar_one_or_none()
            if existing is not None:
                raise AwsError(f"the specified association for route table "
                               f"{existing.route_table_id} conflicts with an existing "
                               "association", code="Resource.AlreadyAssociated")
            assoc = RouteTableAssociationRow(
                association_id=ids.resource_id("rtbassoc"),
                route_table_id=table.route_table_id, vpc_id=table.vpc_id,
                subnet_id=subnet.subnet_id, main=False)
            session.add(assoc)
            await common.bump(session)
        self.changed()
        return {"AssociationId": assoc.association_id,
                "AssociationState": {"State": "associated"}}

    async def _association(self, session: AsyncSession, account: str, region: str,
                           assoc_id: str) -> RouteTableAssociationRow:
        assoc = await session.get(RouteTableAssociationRow, assoc_id)
        table = None if assoc is None else await session.get(RouteTableRow,
                                                             assoc.route_table_id)
        if assoc is None or table is None or table.account_id != account \
                or table.region != region:
            raise AwsError(f"The association ID '{assoc_id}' does not exist",
                           code="InvalidAssociationID.NotFound")
        return assoc

    @operation("DisassociateRouteTable")
    async def disassociate_route_table(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        assoc_id = str(common.required(params, "AssociationId"))
        async with self.cloud.sessions() as session, session.begin():
            assoc = await self._association(session, account, ctx.region, assoc_id)
            if assoc.main:
                raise AwsError(f"cannot disassociate the main route table association "
                               f"{assoc_id}", code="InvalidParameterValue")
            await session.delete(assoc)
            await common.bump(session)
        self.changed()
        return {}

    @operation("ReplaceRouteTableAssociation")
    async def replace_route_table_association(self, ctx: RequestContext,
                                              params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        assoc_id = str(common.required(params, "AssociationId"))
        async with self.cloud.sessions() as session, session.begin():
            assoc = await self._association(session, account, ctx.region, assoc_id)
            table = await self._route_table(session, account, ctx.region,
                                      common.required(params, "RouteTableId"))
            if table.vpc_id != assoc.vpc_id:
                raise AwsError(f"Route table {table.route_table_id} belongs to another "
                               "network", code="InvalidParameterValue")
            new = RouteTableAssociationRow(
                association_id=ids.resource_id("rtbassoc"),
                route_table_id=table.route_table_id, vpc_id=table.vpc_id,
                subnet_id=assoc.subnet_id, main=assoc.main)
            if assoc.main:
                old = await session.get(RouteTableRow, assoc.route_table_id)
                if old is not None:
                    old.main = False
                table.main = True
            await session.delete(assoc)
            await session.flush()
            session.add(new)
            await common.bump(session)
        self.changed()
        return {"NewAssociationId": new.association_id,
                "AssociationState": {"State": "associated"}}

    @operation("CreateRoute")
    async def create_route(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        destination = _destination(params)
        async with self.cloud.sessions() as session, session.begin():
            table = await self._route_table(session, account, ctx.region,
                                      common.required(params, "RouteTableId"))
            kind, target = await _target(session, table, params)
            if await session.get(RouteRow, (table.route_table_id, destination)) is not None:
                raise AwsError(f"The route identified by {destination} already exists.",
                               code="RouteAlreadyExists")
            session.add(RouteRow(route_table_id=table.route_table_id, destination=destination,
                                 target_kind=kind, target_id=target, origin="CreateRoute"))
            await common.bump(session)
        self.changed()
        return {"Return": True}

    async def _route(self, session: AsyncSession, table: RouteTableRow, destination: str) -> RouteRow:
        row = await session.get(RouteRow, (table.route_table_id, destination))
        if row is None:
            raise AwsError(f"no route with destination-cidr-block {destination} in route "
                           f"table {table.route_table_id}", code="InvalidRoute.NotFound")
        if row.target_kind == "local":
            raise AwsError(f"cannot remove local route {destination} in route table "
                           f"{table.route_table_id}", code="InvalidParameterValue")
        return row

    @operation("ReplaceRoute")
    async def replace_route(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        destination = _destination(params)
        async with self.cloud.sessions() as session, session.begin():
            table = await self._route_table(session, account, ctx.region,
                                      common.required(params, "RouteTableId"))
            row = await self._route(session, table, destination)
            row.target_kind, row.target_id = await _target(session, table, params)
            row.origin = "CreateRoute"
            await common.bump(session)
        self.changed()
        return {}

    @operation("DeleteRoute")
    async def delete_route(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        destination = _destination(params)
        async with self.cloud.sessions() as session, session.begin():
            table = await self._route_table(session, account, ctx.region,
                                      common.required(params, "RouteTableId"))
            row = await self._route(session, table, destination)
            await session.delete(row)
            await common.bump(session)
        self.changed()
        return {}
