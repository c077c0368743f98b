"""Placement of new instances: zone first, then node, honouring cores and memory.

Pure functions over a capacity snapshot (nodes and what their live instances
use); the caller takes the snapshot inside the RunInstances transaction and
records the placements there, under ``placements_of`` and ``lock_placements`` so that
concurrent launches (in one process, or on PostgreSQL in any) see each other's. Policies (``cloud.scheduler.policy``):

- ROUNDROBIN (Eucalyptus' default): the next node after the last one used, per zone;
- GREEDY: fill the first node that fits before using the next (POWERSAVE = GREEDY).

A request that does not fit entirely answers ``InsufficientInstanceCapacity``
(MinCount is what must fit; up to MaxCount are placed).

CPU is overcommitted as Eucalyptus' node controllers did (``CPU_OVERCOMMIT``): a node
offers ``cores x cloud.scheduler.cpu_overcommit_ratio`` vCPUs (``offered_cores``);
memory is never overcommitted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

POLICY = registry.define(PropertyDef(
    "cloud.scheduler.policy", PropertyType.STRING, "ROUNDROBIN",
    "How the scheduler picks a node in a zone: ROUNDROBIN or GREEDY (POWERSAVE = GREEDY).",
    choices=("ROUNDROBIN", "GREEDY", "POWERSAVE"),
))

CPU_OVERCOMMIT_RATIO = registry.define(PropertyDef(
    "cloud.scheduler.cpu_overcommit_ratio", PropertyType.FLOAT, "4",
    "vCPUs a node offers per physical core (Eucalyptus' CPU_OVERCOMMIT): a 2-core node "
    "runs up to 8 one-vCPU instances at 4. Memory is not overcommitted.",
    minimum=1, maximum=64,
))


def offered_cores(cores: int, ratio: float) -> int:
    """The vCPUs a node with ``cores`` physical cores offers at overcommit ``ratio``."""
    return int(cores * max(ratio, 1.0) + 1e-9)


@dataclass
class NodeCapacity:
    name: str
    zone: str
    cores: int
    memory_mib: int
    used_cores: int = 0
    used_memory_mib: int = 0

    def fits(self, cores: int, memory_mib: int) -> int:
        """How many instances of that size still fit."""
        if cores <= 0 or memory_mib <= 0:
            return 0
        return max(0, min((self.cores - self.used_cores) // cores,
                          (self.memory_mib - self.used_memory_mib) // memory_mib))

    def total(self, cores: int, memory_mib: int) -> int:
        if cores <= 0 or memory_mib <= 0:
            return 0
        return max(0, min(self.cores // cores, self.memory_mib // memory_mib))


@dataclass
class RoundRobinState:
    """The last node used per zone (kept per process; a restart starts at the first)."""

    last: dict[str, str] = field(default_factory=dict)


def insufficient(type_name: str, zone: str | None) -> AwsError:
    where = f" in the Availability Zone ({zone})" if zone else ""
    return AwsError(f"We currently do not have sufficient {type_name} capacity{where}. "
                    "Our system will be working on provisioning additional capacity.",
                    code="InsufficientInstanceCapacity", status=500, sender_fault=False)


def choose_zone(nodes: list[NodeCapacity], zones: list[str], cores: int, memory_mib: int,
                min_count: int, type_name: str) -> str:
    """The zone with the most room for this type (ties: name order)."""
    best, best_room = None, -1
    for zone in zones:
        room = sum(n.fits(cores, memory_mib) for n in nodes if n.zone == zone)
        if room > best_room:
            best, best_room = zone, room
    if best is None or best_room < min_count:
        raise insufficient(type_name, None)
    return best


def place(nodes: list[NodeCapacity], zone: str, cores: int, memory_mib: int, min_count: int,
          max_count: int, policy: str, state: RoundRobinState, type_name: str) -> list[str]:
    """Node names for up to ``max_count`` instances (at least ``min_count``), in order.

    Mutates the capacities it places on (so a caller can place several batches)."""
    candidates = sorted((n for n in nodes if n.zone == zone), key=lambda n: n.name)
    room = sum(n.fits(cores, memory_mib) for n in candidates)
    if room < min_count:
        raise insufficient(type_name, zone)
    count = min(max_count, room)
    out: list[str] = []
    if policy in ("GREEDY", "POWERSAVE"):
        for node in candidates:
            take = min(node.fits(cores, memory_mib), count - len(out))
            node.used_cores += take * cores
            node.used_memory_mib += take * memory_mib
            out.extend([node.name] * take)
            if len(out) == count:
                break
        return out
    start = 0
    last = state.last.get(zone)
    if last is not None:
        start = next((i for i, n in enumerate(candidates) if n.name > last), 0)
    index = start
    while len(out) < count:
        node = candidates[index % len(candidates)]
        index += 1
        if node.fits(cores, memory_mib) > 0:
            node.used_cores += cores
            node.used_memory_mib += memory_mib
            out.append(node.name)
            state.last[zone] = node.name
    return out


_ADVISORY_KEY = 0x636C6F7564  # "cloud": the PostgreSQL advisory lock of placements


PLACEMENTS = RuntimeKey[asyncio.Lock]("ec2.placements")


def placements_of(cloud: Cloud) -> asyncio.Lock:
    """The lock of this process's placements (one per API process and event loop)."""
    return cloud.runtime.setdefault(PLACEMENTS, asyncio.Lock)


async def lock_placements(session: AsyncSession) -> None:
    """Inside a RunInstances transaction, before its capacity snapshot: wait for the
    placements of every other API process (PostgreSQL: a transaction-scoped advisory
    lock, released by the commit or rollback; SQLite: its write lock). The caller holds ``placements_of`` its
    cloud around the whole transaction for this process's own, so two launches never
    both take the last room on a node."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
    elif dialect == "sqlite":
        # a write that changes nothing takes SQLite's write lock now (as BEGIN IMMEDIATE
        # would), so another process's launch waits here instead of failing later to
        # upgrade a read snapshot its own commit made stale
        await session.execute(text("DELETE FROM ec2_instances WHERE 0"))
