"""NAT gateways: Create/Delete/DescribeNatGateways and the controller that moves them
pending -> available and deleting -> deleted.

A public NAT gateway takes an elastic IP of the account (``AllocationId``; one already
in use answers ``Resource.AlreadyAssociated``) and a requester-managed interface with an
address of its subnet. The API records intent (``pending``/``deleting``); the
``NatController`` (on the reconcile base, leader only) completes each transition: it
makes a pending gateway available and, for a deleting one, frees its interface, its
address and its elastic IP before marking it deleted. Deleted gateways stay visible.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import ELASTIC_IP, NAT_GATEWAY, SUBNET
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import (
    NatGatewayRow,
    NetworkInterfaceRow,
    PrivateIpRow,
    SubnetRow,
    VpcAddressRow,
)
from cloudctl.services.network.models import AddressRow

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

tags.register_resource("nat", common.exists_check(NatGatewayRow, NatGatewayRow.nat_id))
CONNECTIVITY = ("public", "private")


def nat_shape(n: NatGatewayRow, tag_list: tags.Tags) -> dict[str, Any]:
    out: dict[str, Any] = {"NatGatewayId": n.nat_id, "SubnetId": n.subnet_id,
                           "VpcId": n.vpc_id, "State": n.state, "CreateTime": n.created_at,
                           "ConnectivityType": n.connectivity, "Tags": tag_list}
    address: dict[str, Any] = {}
    if n.allocation_id:
        address.update(AllocationId=n.allocation_id, PublicIp=n.public_ip)
    if n.eni_id:
        address.update(NetworkInterfaceId=n.eni_id, PrivateIp=n.private_ip)
    if address:
        address.update(IsPrimary=True, Status="succeeded" if n.state != "deleted"
                       else "disassociated")
        out["NatGatewayAddresses"] = [address]
    if n.deleted_at is not None:
        out["DeleteTime"] = n.deleted_at
    if n.failure_code:
        out.update(FailureCode=n.failure_code, FailureMessage=n.failure_message)
    return out


async def release_nat(session: Any, nat: NatGatewayRow) -> None:
    """Free what a deleting gateway holds (idempotent) and mark it deleted."""
    if nat.eni_id:
        await session.execute(delete(PrivateIpRow).where(PrivateIpRow.eni_id == nat.eni_id))
        await session.execute(delete(NetworkInterfaceRow).where(
            NetworkInterfaceRow.eni_id == nat.eni_id))
    if nat.allocation_id:
        await session.execute(delete(VpcAddressRow).where(
            VpcAddressRow.allocation_id == nat.allocation_id,
            VpcAddressRow.eni_id == nat.eni_id))
    nat.state = "deleted"
    nat.deleted_at = utcnow()
    await common.bump(session)


class NatController(Reconciler):
    """Completes NAT gateway transitions recorded by the API."""

    name = "vpc-nat-controller"
    workers = 2
    idle_interval = 60.0  # CreateNatGateway and DeleteNatGateway wake it (common.changed)

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud

    def interval(self) -> float:
        return 2.0

    async def list_keys(self) -> Iterable[str]:
        async with self.cloud.sessions() as session:
            rows = await session.execute(select(NatGatewayRow.nat_id).where(
                NatGatewayRow.state.in_(("pending", "deleting"))))
            return [r[0] for r in rows]

    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session, session.begin():
            nat = await session.get(NatGatewayRow, key)
            if nat is None:
                return
            if nat.state == "pending":
                nat.state = "available"
                await common.bump(session)
            elif nat.state == "deleting":
                await release_nat(session, nat)


class NatGatewaysProvider(VpcProvider):

    async def start(self) -> None:
        if not self.cloud.runs_controllers:
            return
        from cloudctl.services.ec2.vpc.publisher import start_publisher

        controller = NatController(self.cloud, leader=lambda: self.cloud.runs_controllers)
        self.cloud.runtime.setdefault(common.WAKERS, list).append(controller)
        self.cloud.spawn(controller.run(), controller.name)
        await start_publisher(self.cloud)

    async def stop(self) -> None:
        from cloudctl.services.ec2.vpc.publisher import PUBLISHER

        publisher = self.cloud.runtime.get(PUBLISHER)
        if publisher is not None:
            await publisher.stop()

    @operation("CreateNatGateway")
    async def create_nat_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        connectivity = params.get("ConnectivityType") or "public"
        if connectivity not in CONNECTIVITY:
            raise AwsError(f"Value ({connectivity}) for parameter connectivityType is invalid.",
                           code="InvalidParameterValue")
        tags.check_tag_specifications(params.get("TagSpecifications"), ["natgateway"])
        token = params.get("ClientToken")
        async with self.cloud.sessions() as session, session.begin():
            if token:
                same = (await session.execute(select(NatGatewayRow).where(
                    NatGatewayRow.account_id == account, NatGatewayRow.region == ctx.region,
                    NatGatewayRow.client_token == str(token)))).scalar_one_or_none()
                if same is not None:
                    found = await tags.tags_for(session, account, ctx.region, [same.nat_id])
                    return {"NatGateway": nat_shape(same, found.get(same.nat_id, [])),
                            "ClientToken": token}
            subnet = await common.owned(session, SubnetRow, SUBNET, account, ctx.region,
                                        common.required(params, "SubnetId"))
            nat = NatGatewayRow(nat_id=ids.resource_id("nat"), account_id=account,
                                region=ctx.region, vpc_id=subnet.vpc_id,
                                subnet_id=subnet.subnet_id, connectivity=connectivity,
                                state="pending", client_token=str(token) if token else None,
                                created_at=utcnow())
            if connectivity == "public":
                alloc = ELASTIC_IP.check(common.required(params, "AllocationId"))
                address = (await session.execute(select(AddressRow).where(
                    AddressRow.allocation_id == alloc))).scalar_one_or_none()
                if address is None or address.account_id != account:
                    raise AwsError(f"The allocation ID '{alloc}' does not exist",
                                   code="InvalidAllocationID.NotFound")
                if address.instance_id is not None \
                        or await session.get(VpcAddressRow, alloc) is not None:
                    raise AwsError(f"Elastic IP address [{alloc}] is already associated",
                                   code="Resource.AlreadyAssociated")
                nat.allocation_id, nat.public_ip = alloc, address.public_ip
            (private_ip,) = await common.allocate_ips(
                session, subnet, 0 if params.get("PrivateIpAddress") else 1,
                [str(params["PrivateIpAddress"])] if params.get("PrivateIpAddress") else [])
            eni = NetworkInterfaceRow(
                eni_id=ids.resource_id("eni"), account_id=account, region=ctx.region,
                vpc_id=subnet.vpc_id, subnet_id=subnet.subnet_id, zone=subnet.zone,
                mac=common.new_mac(), description=f"Interface for NAT Gateway {nat.nat_id}",
                interface_type="nat_gateway", requester_managed=True,
                source_dest_check=False, groups=[])
            session.add(eni)
            session.add(PrivateIpRow(eni_id=eni.eni_id, private_ip=private_ip,
                                     subnet_id=subnet.subnet_id, primary=True))
            nat.eni_id, nat.private_ip = eni.eni_id, private_ip
            session.add(nat)
            if nat.allocation_id:
                session.add(VpcAddressRow(allocation_id=nat.allocation_id,
                                          association_id=ids.resource_id("eipassoc"),
                                          eni_id=eni.eni_id, private_ip=private_ip))
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "natgateway", [nat.nat_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            await common.bump(session)
            found = await tags.tags_for(session, account, ctx.region, [nat.nat_id])
        self.changed()
        result: dict[str, Any] = {"NatGateway": nat_shape(nat, found.get(nat.nat_id, []))}
        if token:
            result["ClientToken"] = token
        return result

    @operation("DescribeNatGateways")
    async def describe_nat_gateways(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(NatGatewayRow).where(
                NatGatewayRow.account_id == account, NatGatewayRow.region == ctx.region
            ).order_by(NatGatewayRow.nat_id))).scalars())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.nat_id for r in rows])
        query = {**params, "Filters": params.get("Filter")}  # this call names it Filter
        page, token = common.describe("DescribeNatGateways", query, rows, {
            "nat-gateway-id": lambda n: [n.nat_id],
            "state": lambda n: [n.state],
            "subnet-id": lambda n: [n.subnet_id],
            "vpc-id": lambda n: [n.vpc_id],
        }, tag_map, lambda n: n.nat_id, "NatGatewayIds", NAT_GATEWAY)
        return common.paged({"NatGateways": [
            nat_shape(n, tag_map.get(n.nat_id, [])) for n in page]}, token)

    @operation("DeleteNatGateway")
    async def delete_nat_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            nat = await common.owned(session, NatGatewayRow, NAT_GATEWAY, account, ctx.region,
                                     common.required(params, "NatGatewayId"))
            if nat.state == "deleted":
                raise common.not_found(NAT_GATEWAY, nat.nat_id, "NAT gateway")
            if nat.state != "deleting":
                nat.state = "deleting"
                await common.bump(session)
        self.changed()
        return {"NatGatewayId": nat.nat_id}
