"""EC2's share of the network view (a ``cloudctl.services.network.feed.ViewFeed``).

The security groups with their rules, each instance's groups and the public address
mapped to each instance, read from EC2's security group and address tables and handed
to the data plane as plain records. Registered by EC2's install.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.network.feed import FeedGroup, FeedPort, FeedRule
from cloudctl.services.network.models import (
    AddressRow,
    InstanceGroupRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)


class Ec2ViewFeed:
    """Security groups, memberships and public addresses of EC2 instances."""

    async def groups(self, session: AsyncSession) -> list[FeedGroup]:
        groups = list((await session.execute(select(SecurityGroupRow))).scalars())
        rules: dict[str, list[FeedRule]] = {g.id: [] for g in groups}
        for r in (await session.execute(select(SecurityGroupRuleRow).order_by(
                SecurityGroupRuleRow.id))).scalars():
            if r.group_id in rules:
                rules[r.group_id].append(FeedRule(
                    egress=bool(r.egress), protocol=r.protocol, from_port=r.from_port,
                    to_port=r.to_port, cidr=r.cidr, peer_group_id=r.peer_group_id))
        return [FeedGroup(id=g.id, owner=g.account_id, rules=tuple(rules[g.id]))
                for g in groups]

    async def memberships(self, session: AsyncSession) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for m in (await session.execute(select(InstanceGroupRow).order_by(
                InstanceGroupRow.instance_id, InstanceGroupRow.position))).scalars():
            members.setdefault(m.instance_id, []).append(m.group_id)
        return members

    async def public_ips(self, session: AsyncSession) -> dict[str, str]:
        return {a.instance_id: a.public_ip for a in (await session.execute(
            select(AddressRow).where(AddressRow.instance_id.is_not(None)))).scalars()
            if a.instance_id is not None}

    async def ports(self, session: AsyncSession) -> list[FeedPort]:
        return []  # instances' NICs come from the network service's own table
