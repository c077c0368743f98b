"""EC2's public API: what other services may call (never EC2's tables or modules).

- ``instance_facts(session, account_id, region, ids)``: the account's instances among
  ``ids`` with what a load balancer needs of them (zone, state, addresses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.ec2.compute.instance_models import Instance

__all__ = ["InstanceFacts", "instance_facts"]


@dataclass(frozen=True)
class InstanceFacts:
    """What other services may know of an instance."""

    instance_id: str
    zone: str
    state: str
    private_ip: str | None
    public_ip: str | None


async def instance_facts(session: AsyncSession, account_id: str, region: str,
                         ids: Sequence[str]) -> dict[str, InstanceFacts]:
    """Instance id -> facts, for the instances of ``ids`` the account has in ``region``
    (terminated ones included: their state says so)."""
    if not ids:
        return {}
    rows = (await session.execute(select(Instance).where(
        Instance.instance_id.in_(list(ids)), Instance.account_id == account_id,
        Instance.region == region))).scalars().all()
    return {r.instance_id: InstanceFacts(r.instance_id, r.zone, r.state, r.private_ip,
                                         r.public_ip) for r in rows}
