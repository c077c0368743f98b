"""RunInstances in a VPC: which subnet an instance lands in, its launch-time interfaces,
what DescribeInstances shows of them, and what terminating it releases.

A launch is a VPC launch when it names ``SubnetId`` or ``NetworkInterfaces``, or when
the cloud is in VPC mode (then, without a subnet, the default subnet of the zone: the
default VPC). The instance gets its primary interface at device index 0 (created in the
subnet, or an existing one named by ``NetworkInterfaceId``) and any further
``NetworkInterfaces`` entries; interfaces created at launch are deleted on termination
unless ``DeleteOnTermination`` is false. The public address follows the subnet's
``MapPublicIpOnLaunch`` unless ``AssociatePublicIpAddress`` says otherwise.

The guest's NICs are its interfaces (``launch_nics``): one per interface by device
index, with the interface's MAC, plugged into the per-interface guest bridge the VPC
host agent makes (``netd.vpc.plan.guest_bridge_name``); no EDGE NIC is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services.ec2.network import addresses
from cloudctl.services.ec2.network.instance_network import LaunchedNic
from cloudctl.services.ec2.shared.resources import NETWORK_INTERFACE, SUBNET
from cloudctl.services.ec2.vpc import common, hotplug, interfaces
from cloudctl.services.ec2.vpc.models import (
    NetworkInterfaceRow,
    PrivateIpRow,
    SubnetRow,
    VpcAddressRow,
    VpcRow,
)
from nodectl.client import NicSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


@dataclass
class Card:
    """One launch-time interface: an existing one, or one to create in ``subnet``."""

    index: int
    subnet: SubnetRow
    eni_id: str | None = None
    private_ip: str | None = None
    secondary_count: int = 0
    groups: list[str] = field(default_factory=list)
    description: str = ""
    delete_on_termination: bool = True


@dataclass
class VpcLaunch:
    subnet: SubnetRow
    cards: list[Card]
    public_ip: bool
    groups: list[str]


def wants_vpc(cloud: Cloud, params: dict[str, Any]) -> bool:
    """Whether RunInstances launches into a VPC (``plan`` says where)."""
    cards = params.get("NetworkInterfaces") or []
    return bool(params.get("SubnetId") or common.network_mode(cloud) == "VPC"
                or any(c.get("SubnetId") or c.get("NetworkInterfaceId") for c in cards))


async def _subnet(session: AsyncSession, account: str, region: str, value: Any) -> SubnetRow:
    return await common.owned(session, SubnetRow, SUBNET, account, region, value)


async def plan(cloud: Cloud, session: AsyncSession, account: str, region: str,
               params: dict[str, Any], zone: str | None) -> VpcLaunch | None:
    """The VPC side of a RunInstances call (None: an EDGE launch)."""
    cards_in = list(params.get("NetworkInterfaces") or [])
    if not wants_vpc(cloud, params):
        return None
    if len(cards_in) > 0 and int(params.get("MaxCount", 1)) > 1 and any(
            c.get("NetworkInterfaceId") or c.get("PrivateIpAddress") for c in cards_in):
        raise AwsError("Cannot specify an existing interface or a private IP address when "
                       "launching more than one instance", code="InvalidParameterCombination")
    if params.get("SubnetId") and cards_in:
        raise AwsError("Network interfaces and an instance-level subnet ID may not be "
                       "specified on the same request", code="InvalidParameterCombination")
    cards: list[Card] = []
    for item in sorted(cards_in, key=lambda c: int(c.get("DeviceIndex") or 0)):
        index = int(item.get("DeviceIndex") or 0)
        if item.get("NetworkInterfaceId"):
            eni = await common.owned(session, NetworkInterfaceRow, NETWORK_INTERFACE, account,
                                     region, item["NetworkInterfaceId"])
            if eni.instance_id is not None:
                raise AwsError(f"Interface: [{eni.eni_id}] in use.",
                               code="InvalidNetworkInterface.InUse")
            subnet = await _subnet(session, account, region, eni.subnet_id)
            cards.append(Card(index, subnet, eni_id=eni.eni_id, delete_on_termination=bool(
                item.get("DeleteOnTermination", False))))
            continue
        subnet = await _subnet(session, account, region, item.get("SubnetId"))
        cards.append(Card(
            index, subnet, private_ip=item.get("PrivateIpAddress"),
            secondary_count=int(item.get("SecondaryPrivateIpAddressCount") or 0),
            groups=list(item.get("Groups") or []), description=str(
                item.get("Description") or ""),
            delete_on_termination=bool(item.get("DeleteOnTermination", True))))
    if cards and cards[0].index != 0:
        raise AwsError("A network interface at device index 0 is required.",
                       code="InvalidParameterValue")
    if not cards:
        if params.get("SubnetId"):
            subnet = await _subnet(session, account, region, params["SubnetId"])
        else:
            subnet = await _default_subnet(session, account, region, zone)
        cards.append(Card(0, subnet, private_ip=params.get("PrivateIpAddress"),
                          groups=list(params.get("SecurityGroupIds") or [])))
    elif params.get("SecurityGroupIds"):
        raise AwsError("Network interfaces and an instance-level security groups may not be "
                       "specified on the same request", code="InvalidParameterCombination")
    primary = cards[0].subnet
    if zone and zone != primary.zone:
        raise AwsError(f"Subnet {primary.subnet_id} is in {primary.zone}, not {zone}.",
                       code="InvalidParameterValue")
    if any(c.subnet.zone != primary.zone for c in cards):
        raise AwsError("All the network interfaces of an instance must be in one "
                       "availability zone.", code="InvalidParameterValue")
    if params.get("SecurityGroups"):
        raise AwsError("The parameter groupName cannot be used with the parameter subnet",
                       code="InvalidParameterCombination")
    for card in cards:
        if card.eni_id is None:
            card.groups = await interfaces.check_groups(session, account, region,
                                                        card.subnet.vpc_id, card.groups)
    first = cards_in[0] if cards_in else {}
    public = first.get("AssociatePublicIpAddress")
    return VpcLaunch(subnet=primary, cards=cards, groups=cards[0].groups,
                     public_ip=primary.map_public_ip if public is None else bool(public))


async def _default_subnet(session: AsyncSession, account: str, region: str,
                          zone: str | None) -> SubnetRow:
    query = select(SubnetRow).join(VpcRow, VpcRow.vpc_id == SubnetRow.vpc_id).where(
        VpcRow.account_id == account, VpcRow.region == region, VpcRow.is_default.is_(True),
        SubnetRow.default_for_az.is_(True)).order_by(SubnetRow.zone)
    if zone:
        query = query.where(SubnetRow.zone == zone)
    found = (await session.execute(query.limit(1))).scalar_one_or_none()
    if found is None:
        raise AwsError("No default VPC for this user. GroupName is only supported for "
                       "EC2-Classic and default VPC.", code="VPCIdNotSpecified")
    return found


async def attach_launch(session: AsyncSession, launch: VpcLaunch, account: str,
                        instance_id: str) -> str:
    """Create and attach the instance's interfaces; the primary private IP."""
    primary_ip = ""
    for card in launch.cards:
        if card.eni_id is not None:
            eni = await session.get(NetworkInterfaceRow, card.eni_id)
            assert eni is not None
        else:
            eni = await interfaces.new_interface(
                session, account, card.subnet, primary_ip=card.private_ip, secondary=[],
                secondary_count=card.secondary_count, groups=card.groups,
                description=card.description)
        await interfaces.attach(session, eni, instance_id, account, card.index,
                                card.delete_on_termination)
        if card.index == 0:
            primary_ip = (await session.execute(select(PrivateIpRow.private_ip).where(
                PrivateIpRow.eni_id == eni.eni_id, PrivateIpRow.primary.is_(True)))).scalar_one()
    return primary_ip


async def launch_nics(session: AsyncSession, launch: VpcLaunch, account: str, region: str,
                      instance_id: str) -> tuple[LaunchedNic, tuple[NicSpec, ...]]:
    """Attach the instance's interfaces and give it its public address when the launch
    maps one: its primary NIC and all its guest NICs (device index order)."""
    await attach_launch(session, launch, account, instance_id)
    await session.flush()
    specs = await hotplug.guest_nics(session, instance_id)
    public = await addresses.assign_public_ip(session, instance_id, region) \
        if launch.public_ip else None
    primary = specs[0]
    return LaunchedNic(spec=primary, mac=primary.mac, private_ip=primary.private_ip,
                       public_ip=public), specs


async def release(session: AsyncSession, instance_id: str) -> None:
    """A terminated instance: its DeleteOnTermination interfaces go, the others detach."""
    rows = list((await session.execute(select(NetworkInterfaceRow).where(
        NetworkInterfaceRow.instance_id == instance_id))).scalars())
    for eni in rows:
        if eni.delete_on_termination:
            await session.execute(delete(VpcAddressRow).where(
                VpcAddressRow.eni_id == eni.eni_id))
            await session.execute(delete(PrivateIpRow).where(
                PrivateIpRow.eni_id == eni.eni_id))
            await session.delete(eni)
        else:
            eni.instance_id = eni.instance_owner = eni.attachment_id = None
            eni.device_index = None
            eni.attach_status = None
    if rows:
        await common.bump(session)


async def decorate(session: AsyncSession, reservations: list[dict[str, Any]]) -> None:
    """VpcId, SubnetId, the primary private address and ``NetworkInterfaces`` of the
    instances launched into a VPC (in place, after ``instance_network.decorate``)."""
    items = [i for r in reservations for i in r["Instances"]]
    found = await interfaces.instance_interfaces(session, [i["InstanceId"] for i in items])
    for item in items:
        cards = found.get(item["InstanceId"])
        if not cards:
            continue
        primary = cards[0]
        public = item.get("PublicIpAddress")
        for card in cards:
            card["Attachment"].pop("InstanceId", None)
            card["Attachment"].pop("InstanceOwnerId", None)
            if card is primary and public and "Association" not in card:
                card["Association"] = {"PublicIp": public, "IpOwnerId": "amazon",
                                       "PublicDnsName": item.get("PublicDnsName", "")}
        item.update(VpcId=primary["VpcId"], SubnetId=primary["SubnetId"],
                    PrivateIpAddress=primary["PrivateIpAddress"],
                    PrivateDnsName=primary["PrivateDnsName"],
                    SourceDestCheck=primary["SourceDestCheck"], NetworkInterfaces=cards,
                    SecurityGroups=primary["Groups"])


_FILTERS = ("vpc-id", "subnet-id", "network-interface.", "private-ip-address",
            "association.public-ip")


async def filter_extractors(session: AsyncSession, params: dict[str, Any],
                            rows: list[Any]) -> dict[str, Callable[[Any], list[str]]]:
    """DescribeInstances filters on the instances' VPC interfaces (``vpc-id``,
    ``subnet-id``, ``network-interface.*``; ``private-ip-address`` also matches an
    interface's addresses). Nothing is read unless a filter asks."""
    if not common.filters_need(params, _FILTERS):
        return {}
    wanted = [r.instance_id for r in rows]
    query = select(NetworkInterfaceRow).where(NetworkInterfaceRow.instance_id.is_not(None))
    if len(wanted) <= 500:
        query = query.where(NetworkInterfaceRow.instance_id.in_(wanted))
    enis: dict[str, list[NetworkInterfaceRow]] = {}
    for eni in (await session.execute(query)).scalars():
        enis.setdefault(str(eni.instance_id), []).append(eni)
    addresses = await interfaces.addresses_of(
        session, [e.eni_id for group in enis.values() for e in group])

    def of(field: str) -> Callable[[Any], list[str]]:
        return lambda r: [str(getattr(e, field)) for e in enis.get(r.instance_id, [])]

    def ips(r: Any) -> list[str]:
        return [a.private_ip for e in enis.get(r.instance_id, [])
                for a in addresses.get(e.eni_id, [])]

    def primary(field: str) -> Callable[[Any], list[str]]:
        return lambda r: [str(getattr(e, field)) for e in enis.get(r.instance_id, [])
                          if e.device_index == 0]

    return {"vpc-id": primary("vpc_id"), "subnet-id": primary("subnet_id"),
            "network-interface.network-interface-id": of("eni_id"),
            "network-interface.vpc-id": of("vpc_id"),
            "network-interface.subnet-id": of("subnet_id"),
            "network-interface.mac-address": of("mac"),
            "network-interface.addresses.private-ip-address": ips,
            "private-ip-address": lambda r: ips(r) or (
                [r.private_ip] if r.private_ip and r.state != "terminated" else [])}
