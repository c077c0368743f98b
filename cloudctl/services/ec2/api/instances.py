"""EC2's public API: instances (run, read, terminate), the facts other services may read
of them in their own session, and the watch of instances' and volumes' state changes.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import ec2_call, not_found
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.shared import settled

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def watch_states(cloud: Cloud, watcher: settled.Watcher) -> None:
    """Have ``watcher(resource_id, state)`` called, on the event loop, each time this
    process moves an instance (``running``, ``stopped``...) or a volume (``available``,
    ``error``...) to a new state, once committed. A hint: changes made by another
    process are not told, so a waiter still looks now and then."""
    settled.watch(cloud, watcher)


async def run_instance(cloud: Cloud, caller: Caller, params: dict[str, Any],
                       token: str) -> str:
    """Run one instance (RunInstances' members) idempotently by ``token``."""
    request = dict(params, MinCount=1, MaxCount=1, ClientToken=token)
    found = await ec2_call(cloud, caller, "RunInstances", request)
    return str(found["Instances"][0]["InstanceId"])


async def instance(cloud: Cloud, caller: Caller, instance_id: str) -> dict[str, Any] | None:
    try:
        found = await ec2_call(cloud, caller, "DescribeInstances", {"InstanceIds": [instance_id]})
    except AwsError as error:
        if not_found(error):
            return None
        raise
    for reservation in found.get("Reservations") or []:
        for item in reservation.get("Instances") or []:
            return dict(item)
    return None


async def terminate_instance(cloud: Cloud, caller: Caller, instance_id: str) -> None:
    try:
        await ec2_call(cloud, caller, "TerminateInstances", {"InstanceIds": [instance_id]})
    except AwsError as error:
        if not not_found(error):
            raise


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
