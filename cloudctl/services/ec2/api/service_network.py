"""EC2's public API: the interfaces a service places in customer subnets (a load
balancer's), in the caller's session, its source groups in EDGE rules, and the default
subnets of zones.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.ec2.vpc import service_interfaces as service_interfaces_mod
from cloudctl.services.ec2.vpc.service_interfaces import ServiceInterface, SubnetFacts

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def service_subnets(session: AsyncSession, account_id: str, region: str,
                          subnet_ids: Sequence[str]) -> dict[str, SubnetFacts]:
    """Subnet id -> its VPC, zone and CIDR, for the account's subnets among ``subnet_ids``."""
    return await service_interfaces_mod.subnets(session, account_id, region, list(subnet_ids))


async def service_groups(session: AsyncSession, account_id: str, region: str,
                         group_ids: Sequence[str]) -> dict[str, str]:
    """Group id -> VPC id ("" outside a VPC), for the account's groups among ``group_ids``."""
    return await service_interfaces_mod.security_groups(session, account_id, region,
                                                        list(group_ids))


async def vpc_default_group(session: AsyncSession, vpc_id: str) -> str | None:
    return await service_interfaces_mod.default_group(session, vpc_id)


async def security_group_names(session: AsyncSession,
                               group_ids: Sequence[str]) -> dict[str, str]:
    """Group id -> name, for those of ``group_ids`` that exist."""
    from cloudctl.services.ec2.vpc.interfaces import group_names

    return await group_names(session, set(group_ids))


async def service_interfaces(session: AsyncSession, account_id: str, region: str,
                             description: str) -> list[ServiceInterface]:
    """The requester-managed interfaces of the account described ``description``."""
    return await service_interfaces_mod.interfaces(session, account_id, region, description)


async def sync_service_interfaces(session: AsyncSession, account_id: str, region: str,
                                  description: str, subnet_ids: Sequence[str],
                                  group_ids: Sequence[str], *,
                                  public: bool = False) -> list[ServiceInterface]:
    """One requester-managed interface described ``description`` in each subnet of
    ``subnet_ids`` (none: all removed), each in ``group_ids``, with a public address
    (mapped by the VPC's internet gateway) when ``public``."""
    return await service_interfaces_mod.sync_interfaces(
        session, account_id, region, description, list(subnet_ids), list(group_ids),
        public)


def vpc_changed(cloud: Cloud) -> None:
    """Wake the VPC topology publisher after a committed ``sync_service_interfaces``."""
    from cloudctl.services.ec2.vpc.common import changed

    changed(cloud)


def register_source_groups(resolver: Any) -> None:
    """A service's source security groups usable in EDGE group rules: ``resolver(session,
    region, group_name)`` answers the owning account of such a group, else None (ELB's
    ``default_elb_<id>``)."""
    from cloudctl.services.ec2.network.security_groups import SOURCE_GROUPS

    if resolver not in SOURCE_GROUPS:
        SOURCE_GROUPS.append(resolver)


async def default_subnets(cloud: Cloud, account_id: str, region: str,
                          zones: Sequence[str]) -> dict[str, str] | None:
    """Zone -> the account's default subnet there (its default VPC made first), for the
    zones of ``zones`` that have one; None when the cloud is not in VPC mode (no default
    VPC: EC2-Classic-like placement)."""
    from cloudctl.services.ec2.vpc.build import ensure_default_vpc, find_default_vpc
    from cloudctl.services.ec2.vpc.common import network_mode
    from cloudctl.services.ec2.vpc.models import SubnetRow

    if network_mode(cloud) != "VPC":
        return None
    await ensure_default_vpc(cloud, account_id, region)
    async with cloud.sessions() as session:
        vpc = await find_default_vpc(session, account_id, region)
        if vpc is None:
            return {}
        rows = (await session.execute(select(SubnetRow).where(
            SubnetRow.vpc_id == vpc.vpc_id, SubnetRow.default_for_az.is_(True),
            SubnetRow.zone.in_(list(zones))))).scalars()
        return {r.zone: r.subnet_id for r in rows}
