"""A load balancer in a VPC: its subnets (one a zone, one VPC) and security groups
checked as AWS checks them, and its interfaces: one requester-managed ENI a subnet,
described ``ELB <name>``, in the load balancer's groups (EC2 keeps them; this module
asks through ``cloudctl.services.ec2.api``, in the API call's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cloudctl.services.elb.common import (
    InvalidConfigurationRequest,
    InvalidSecurityGroup,
    SubnetNotFound,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cloudctl.services.ec2.api import ServiceInterface, SubnetFacts
    from cloudctl.services.elb.models import ElbLoadBalancer


def description(name: str) -> str:
    """The description AWS gives a load balancer's interfaces."""
    return f"ELB {name}"


async def check_subnets(session: AsyncSession, account: str, region: str,
                        subnet_ids: Sequence[str]) -> tuple[str, list[SubnetFacts]]:
    """(the VPC, the subnets in order) of ``subnet_ids``: the account's, in one VPC,
    at most one a zone."""
    from cloudctl.services.ec2.api import service_subnets

    found = await service_subnets(session, account, region, subnet_ids)
    for sid in subnet_ids:
        if sid not in found:
            raise SubnetNotFound(f"One or more subnets could not be found: {sid}")
    facts = [found[s] for s in dict.fromkeys(subnet_ids)]
    if len({f.vpc_id for f in facts}) > 1:
        raise InvalidConfigurationRequest(
            "All subnets of a load balancer must belong to the same VPC")
    zones = [f.zone for f in facts]
    for zone in zones:
        if zones.count(zone) > 1:
            raise InvalidConfigurationRequest(
                f"LoadBalancer attached to multiple subnets in AZ {zone}")
    return facts[0].vpc_id, facts


async def check_groups(session: AsyncSession, account: str, region: str, vpc_id: str,
                       group_ids: Sequence[str]) -> list[str]:
    """The groups of a load balancer in ``vpc_id``: those named (the account's, in that
    VPC), else the VPC's default group."""
    from cloudctl.services.ec2.api import service_groups, vpc_default_group

    if not group_ids:
        default = await vpc_default_group(session, vpc_id)
        return [default] if default else []
    found = await service_groups(session, account, region, group_ids)
    for gid in group_ids:
        if found.get(gid) != vpc_id:
            raise InvalidSecurityGroup(
                f"One or more security groups are invalid: {gid} is not a group of "
                f"{vpc_id}")
    return list(dict.fromkeys(group_ids))


async def vpc_of(session: AsyncSession, lb: ElbLoadBalancer) -> str | None:
    """The VPC of a load balancer in subnets (None outside a VPC or when its subnets
    are gone)."""
    from cloudctl.services.ec2.api import service_subnets

    if not lb.subnets:
        return None
    found = await service_subnets(session, lb.account_id, lb.region, list(lb.subnets))
    return next((f.vpc_id for f in found.values()), None)


async def sync(session: AsyncSession, lb: ElbLoadBalancer,
               deleted: bool = False) -> list[ServiceInterface]:
    """Make the load balancer's interfaces match its subnets and groups."""
    from cloudctl.services.ec2.api import sync_service_interfaces

    return await sync_service_interfaces(
        session, lb.account_id, lb.region, description(lb.name),
        [] if deleted else list(lb.subnets), list(lb.security_groups),
        public=lb.scheme != "internal")


async def interfaces(session: AsyncSession, lb: ElbLoadBalancer) -> list[ServiceInterface]:
    from cloudctl.services.ec2.api import service_interfaces

    if not lb.subnets:
        return []
    return await service_interfaces(session, lb.account_id, lb.region,
                                    description(lb.name))


async def group_names(session: AsyncSession, group_ids: Sequence[str]) -> dict[str, str]:
    from cloudctl.services.ec2.api import security_group_names

    return await security_group_names(session, group_ids) if group_ids else {}
