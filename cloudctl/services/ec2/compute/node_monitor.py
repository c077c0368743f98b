"""The node monitor: heartbeat and observation of every registered node.

A controller on the shared reconcile base whose keys are node names. One sync asks
the node for its size (``node_info``, recorded as the heartbeat with the capacity the
scheduler offers) and for the guests it holds (``list_instances``), and keeps that
observation, stamped with the time the question was asked, for the instance
controller. A node that does not answer has its error recorded and its observation
dropped (the instance controller then leaves its instances alone) and backs off on
its own. The resync on ``cloud.vmstate.reconcile_interval_sec`` asks every node again;
a node registered, changed or deregistered (``cloudctl node``, a process of its own) is
woken by name (``wake``) and asked at once.

Elected with the compute controller (``kind``): the host that leads it observes the
nodes for it (the observations live in its process).

Must not: change instance rows; act on a node's guests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cloudctl.core import wakes
from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.db.base import utcnow
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.services.ec2.compute import nodes as nodes_mod
from cloudctl.services.ec2.compute.node_runtime import NodePool, local_cache_dirs, local_capacity
from nodectl.client import InstanceStatus, NodeClient

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.compute.nodes")

RECONCILE_INTERVAL = registry.define(PropertyDef(
    "cloud.vmstate.reconcile_interval_sec", PropertyType.INTEGER, "10",
    "Seconds between full resyncs of the instance controller (API calls wake it earlier).",
    minimum=1, maximum=3600,
))


def wake(node: str) -> None:
    """Ask the monitor, wherever it runs, to look at ``node`` now: just registered (its
    first heartbeat; otherwise it waits for the next resync, up to an interval), moved
    to another address or deregistered (its observation dropped). Sent through the
    process's wake channel (``cloudctl.core.wakes``: an admin command installs one with
    ``wakes.sending``), a hint the resync backs up."""
    wakes.forward(NodeMonitor.name, node)


class NodeUnreachable(Exception):
    """The node did not answer its heartbeat."""


@dataclass
class Observation:
    """What one node held when it was last asked (``at``: when the question was asked)."""

    client: NodeClient
    at: datetime
    statuses: dict[str, InstanceStatus] = field(default_factory=dict)
    staged: list[str] = field(default_factory=list)


class NodeMonitor(Reconciler):
    """Keys: node names. ``observed`` holds the healthy nodes' last observations."""

    name = "node-monitor"
    kind = "compute-controller"  # the compute controller's eyes: led (and fenced) with it
    base_backoff = 1.0
    max_backoff = 60.0

    def __init__(self, cloud: Cloud, pool: NodePool, *, leader: Leadership = always_leader,
                 on_observed: Callable[[str], None] | None = None) -> None:
        super().__init__(leader=leader)
        self.cloud, self.pool = cloud, pool
        self.on_observed = on_observed
        self.observed: dict[str, Observation] = {}

    def interval(self) -> float:
        return float(self.cloud.properties.get(RECONCILE_INTERVAL))

    def clients(self) -> dict[str, NodeClient]:
        """The nodes that answered their last heartbeat."""
        return {name: obs.client for name, obs in self.observed.items()}

    async def list_keys(self) -> list[str]:
        async with self.cloud.sessions() as session:
            names = [n.name for n in await nodes_mod.list_nodes(session)]
        for gone in set(self.observed) - set(names):
            del self.observed[gone]
        return names

    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session:
            node = await session.get(nodes_mod.Node, key)
        client = self.pool.client(node.name, node.address) if node is not None else None
        if node is None or client is None:
            self.observed.pop(key, None)
            return
        at = utcnow()
        try:
            info = await client.node_info()
            statuses = await client.list_instances()
        except Exception as exc:  # NodeError, connection errors: the node is unreachable
            self.observed.pop(key, None)
            async with self.cloud.sessions() as session, session.begin():
                await nodes_mod.record_failure(session, key, str(exc))
            raise NodeUnreachable(f"node {key}: {exc}") from exc
        cores, memory = info.cores, info.memory_mib
        if node.address == nodes_mod.LOCAL_ADDRESS or node.address.startswith("fake://"):
            cores, memory = local_capacity(client, cores, memory)
        async with self.cloud.sessions() as session, session.begin():
            await nodes_mod.record_heartbeat(session, key, cores=cores, memory_mib=memory,
                                             virt_type=info.virt_type)
        self.observed[key] = Observation(client, at, {s.instance_id: s for s in statuses},
                                         local_cache_dirs(client))
        if self.on_observed is not None:
            self.on_observed(key)
