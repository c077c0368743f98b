"""Elastic IPs in the VPC domain: associated with a network interface and one of its
private addresses (``ec2_vpc_address_associations``).

The EDGE address provider (``cloudctl.services.ec2.network.addresses``) keeps the pool and the
Allocate/Release/Describe calls; it hands an AssociateAddress naming a
``NetworkInterfaceId`` (or an instance with VPC interfaces) to ``associate`` here, a
DisassociateAddress of a VPC association to ``disassociate``, and asks ``in_use`` /
``associations`` for Release and Describe.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services import ids
from cloudctl.services.ec2.shared.resources import INSTANCE, NETWORK_INTERFACE
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.models import NetworkInterfaceRow, PrivateIpRow, VpcAddressRow
from cloudctl.services.network.models import AddressRow


async def target_interface(session: AsyncSession, account: str, region: str,
                           params: dict[str, Any]) -> NetworkInterfaceRow | None:
    """The interface an AssociateAddress call means (None: an EDGE association)."""
    if params.get("NetworkInterfaceId"):
        return await common.owned(session, NetworkInterfaceRow, NETWORK_INTERFACE, account,
                                  region, params["NetworkInterfaceId"])
    if params.get("InstanceId"):
        iid = INSTANCE.check(params["InstanceId"])
        return (await session.execute(select(NetworkInterfaceRow).where(
            NetworkInterfaceRow.instance_id == iid, NetworkInterfaceRow.device_index == 0,
            NetworkInterfaceRow.account_id == account))).scalar_one_or_none()
    return None


async def associate(session: AsyncSession, address: AddressRow, eni: NetworkInterfaceRow,
                    params: dict[str, Any]) -> str:
    """Map ``address`` to ``eni`` (its primary address unless ``PrivateIpAddress``)."""
    ips = {r.private_ip: r.primary for r in (await session.execute(select(PrivateIpRow).where(
        PrivateIpRow.eni_id == eni.eni_id))).scalars()}
    private_ip = str(params.get("PrivateIpAddress") or next(
        (ip for ip, primary in ips.items() if primary), ""))
    if private_ip not in ips:
        raise AwsError(f"The private IP address {private_ip} is not assigned to the network "
                       f"interface {eni.eni_id}", code="InvalidParameterValue")
    current = await session.get(VpcAddressRow, address.allocation_id)
    if (current is not None or address.instance_id is not None) \
            and not params.get("AllowReassociation"):
        raise AwsError(f"The address {address.public_ip} is already associated; set "
                       "AllowReassociation to move it.", code="Resource.AlreadyAssociated")
    if current is not None:
        await session.delete(current)
    address.instance_id, address.association_id = None, None
    await session.execute(delete(VpcAddressRow).where(  # one address per private IP
        VpcAddressRow.eni_id == eni.eni_id, VpcAddressRow.private_ip == private_ip))
    if eni.instance_id and eni.device_index == 0 and ips.get(private_ip):
        await session.execute(delete(AddressRow).where(  # the launch-time public IP goes
            AddressRow.instance_id == eni.instance_id, AddressRow.kind == "auto"))
    await session.flush()
    association = ids.resource_id("eipassoc")
    session.add(VpcAddressRow(allocation_id=address.allocation_id,
                              association_id=association, eni_id=eni.eni_id,
                              private_ip=private_ip))
    await common.bump(session)
    return association


async def disassociate(session: AsyncSession, account: str, association_id: str | None,
                       public_ip: str | None) -> bool:
    """Drop a VPC association (True), or False when it is not one."""
    query = select(VpcAddressRow, AddressRow).join(
        AddressRow, AddressRow.allocation_id == VpcAddressRow.allocation_id).where(
        AddressRow.account_id == account)
    if association_id:
        query = query.where(VpcAddressRow.association_id == association_id)
    else:
        query = query.where(AddressRow.public_ip == (public_ip or ""))
    found = (await session.execute(query)).first()
    if found is None:
        return False
    await session.delete(found[0])
    await common.bump(session)
    return True


async def associations(session: AsyncSession, allocation_ids: list[str]
                       ) -> dict[str, dict[str, Any]]:
    """Allocation id -> what DescribeAddresses shows of its VPC association."""
    if not allocation_ids:
        return {}
    rows = await session.execute(select(VpcAddressRow, NetworkInterfaceRow).join(
        NetworkInterfaceRow, NetworkInterfaceRow.eni_id == VpcAddressRow.eni_id).where(
        VpcAddressRow.allocation_id.in_(allocation_ids)))
    out: dict[str, dict[str, Any]] = {}
    for a, eni in rows:
        item: dict[str, Any] = {"Domain": "vpc", "AssociationId": a.association_id,
                                "NetworkInterfaceId": a.eni_id,
                                "NetworkInterfaceOwnerId": eni.account_id,
                                "PrivateIpAddress": a.private_ip}
        if eni.instance_id:
            item["InstanceId"] = eni.instance_id
        out[a.allocation_id] = item
    return out
