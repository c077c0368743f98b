"""Interfaces a service places in a customer's subnets (a load balancer's), as AWS does:
requester-managed, one a subnet, described by the service (``ELB <name>``), in the
security groups the service names, with a public address from the pool when the
service faces the internet (the VPC's internet gateway maps it, as an elastic IP; it is
no account's: DescribeAddresses does not list it); the VPC data plane realises them on
the gateway host (``topology_view``) like any other interface, groups enforced.

Everything here runs in the caller's session and transaction (the service records its
own state in the same one); ``cloudctl.services.ec2.api`` exposes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services import ids
from cloudctl.services.ec2.vpc import common, groups
from cloudctl.services.ec2.vpc.interfaces import new_interface, public_ips
from cloudctl.services.ec2.vpc.models import (
    NetworkInterfaceRow,
    PrivateIpRow,
    SubnetRow,
    VpcAddressRow,
)
from cloudctl.services.network import config
from cloudctl.services.network.models import AddressRow, SecurityGroupRow

REQUESTER = "amazon-elb"
SERVICE_KIND = "service"  # a public address of a service's interface (no account's EIP)


@dataclass(frozen=True)
class SubnetFacts:
    subnet_id: str
    vpc_id: str
    zone: str
    cidr: str


@dataclass(frozen=True)
class ServiceInterface:
    eni_id: str
    subnet_id: str
    vpc_id: str
    zone: str
    cidr: str
    mac: str
    private_ip: str
    groups: tuple[str, ...]
    public_ip: str | None = None


async def subnets(session: AsyncSession, account: str, region: str,
                  subnet_ids: list[str]) -> dict[str, SubnetFacts]:
    """The account's subnets among ``subnet_ids``."""
    if not subnet_ids:
        return {}
    rows = (await session.execute(select(SubnetRow).where(
        SubnetRow.subnet_id.in_(subnet_ids), SubnetRow.account_id == account,
        SubnetRow.region == region))).scalars()
    return {r.subnet_id: SubnetFacts(r.subnet_id, r.vpc_id, r.zone, r.cidr) for r in rows}


async def security_groups(session: AsyncSession, account: str, region: str,
                          group_ids: list[str]) -> dict[str, str]:
    """Group id -> VPC id ("" for an EDGE group) of the account's groups among
    ``group_ids``."""
    if not group_ids:
        return {}
    return {r[0]: r[1] for r in await session.execute(select(
        SecurityGroupRow.id, SecurityGroupRow.vpc_id).where(
        SecurityGroupRow.id.in_(group_ids), SecurityGroupRow.account_id == account,
        SecurityGroupRow.region == region))}


async def default_group(session: AsyncSession, vpc_id: str) -> str | None:
    """The VPC's ``default`` group."""
    return await groups.default_group(session, vpc_id)


async def interfaces(session: AsyncSession, account: str, region: str,
                     description: str) -> list[ServiceInterface]:
    """The requester-managed interfaces of the account described ``description``."""
    rows = list((await session.execute(select(NetworkInterfaceRow).where(
        NetworkInterfaceRow.account_id == account, NetworkInterfaceRow.region == region,
        NetworkInterfaceRow.requester_managed.is_(True),
        NetworkInterfaceRow.description == description).order_by(
        NetworkInterfaceRow.created_at, NetworkInterfaceRow.eni_id))).scalars())
    if not rows:
        return []
    ips = {r[0]: r[1] for r in await session.execute(select(
        PrivateIpRow.eni_id, PrivateIpRow.private_ip).where(
        PrivateIpRow.eni_id.in_([r.eni_id for r in rows]), PrivateIpRow.primary.is_(True)))}
    cidrs = {r[0]: r[1] for r in await session.execute(select(
        SubnetRow.subnet_id, SubnetRow.cidr).where(
        SubnetRow.subnet_id.in_([r.subnet_id for r in rows])))}
    publics = {eni: found[0] for (eni, _ip), found in (await public_ips(
        session, [r.eni_id for r in rows])).items()}
    return [ServiceInterface(r.eni_id, r.subnet_id, r.vpc_id, r.zone,
                             cidrs.get(r.subnet_id, ""), r.mac, ips.get(r.eni_id, ""),
                             tuple(r.groups), publics.get(r.eni_id)) for r in rows]


async def _release(session: AsyncSession, eni_ids: list[str]) -> None:
    """Return the public addresses of ``eni_ids`` to the pool."""
    allocations = list((await session.execute(select(VpcAddressRow.allocation_id).where(
        VpcAddressRow.eni_id.in_(eni_ids)))).scalars())
    await session.execute(delete(VpcAddressRow).where(VpcAddressRow.eni_id.in_(eni_ids)))
    if allocations:
        await session.execute(delete(AddressRow).where(
            AddressRow.allocation_id.in_(allocations), AddressRow.kind == SERVICE_KIND))


async def _give_public(session: AsyncSession, eni: ServiceInterface, region: str) -> bool:
    """A public address from the pool for ``eni``'s primary address (False: pool empty).
    Not the account's elastic IP: the service's, as AWS's load balancer addresses."""
    used = set((await session.execute(select(AddressRow.public_ip))).scalars())
    free = next((str(ip) for ip in config.current().public_ips if str(ip) not in used), None)
    if free is None:
        return False
    allocation = ids.resource_id("eipalloc")
    session.add(AddressRow(public_ip=free, region=region, kind=SERVICE_KIND,
                           account_id=None, allocation_id=allocation,
                           association_id=ids.resource_id("eipassoc")))
    session.add(VpcAddressRow(allocation_id=allocation,
                              association_id=ids.resource_id("eipassoc"),
                              eni_id=eni.eni_id, private_ip=eni.private_ip))
    return True


async def sync_interfaces(session: AsyncSession, account: str, region: str,
                          description: str, subnet_ids: list[str], group_ids: list[str],
                          public: bool = False) -> list[ServiceInterface]:
    """Make the interfaces described ``description`` exactly one in each of
    ``subnet_ids`` (the account's, checked by the caller), all in ``group_ids``, each
    with a public address from the pool when ``public`` (the internet gateway maps it);
    ``subnet_ids`` empty removes them all. Records a topology change."""
    have = await interfaces(session, account, region, description)
    keep = {i.subnet_id: i for i in have if i.subnet_id in subnet_ids}
    gone = [i.eni_id for i in have if keep.get(i.subnet_id) is not i]
    changed = bool(gone)
    if gone:
        await _release(session, gone)
        await session.execute(delete(PrivateIpRow).where(PrivateIpRow.eni_id.in_(gone)))
        await session.execute(delete(NetworkInterfaceRow).where(
            NetworkInterfaceRow.eni_id.in_(gone)))
    for eni_id in [i.eni_id for i in keep.values() if list(i.groups) != group_ids]:
        row = await session.get(NetworkInterfaceRow, eni_id)
        if row is not None:
            row.groups = list(group_ids)
            changed = True
    for subnet_id in subnet_ids:
        if subnet_id in keep:
            continue
        subnet = await session.get(SubnetRow, subnet_id)
        if subnet is None:
            continue
        row = await new_interface(session, account, subnet, primary_ip=None, secondary=[],
                                  secondary_count=0, groups=list(group_ids),
                                  description=description)
        row.requester_managed = True
        row.instance_owner = REQUESTER
        changed = True
    if changed:
        await session.flush()
    now = await interfaces(session, account, region, description)
    for found in now:
        if public and found.public_ip is None and await _give_public(session, found, region):
            changed = True
        elif not public and found.public_ip is not None:
            await _release(session, [found.eni_id])
            changed = True
    if changed:
        await session.flush()
        await common.bump(session)
        now = await interfaces(session, account, region, description)
    return now

