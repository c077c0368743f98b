"""Registered hypervisor nodes: the ``cloud_nodes`` table, heartbeats and node health.

Owns which nodes exist (name, zone, agent address, cores, memory), their state
(``enabled``, ``disabled`` by an admin, ``unreachable`` when heartbeats stop) and
the clients that reach them. ``cloudctl node register|deregister|list`` edits the
table directly (admin tool on the controller host) and wakes the node monitor for the
node (``node_monitor.wake``; its resync backs the wake up). Nodes are cloud-wide (not
owned by an account).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow
from cloudctl.properties.registry import PropertyDef, PropertyType, registry

LOCAL_ADDRESS = "local"

HEARTBEAT_TIMEOUT = registry.define(PropertyDef(
    "cloud.node.heartbeat_timeout_sec", PropertyType.INTEGER, "60",
    "Seconds without a successful heartbeat after which a node is unreachable and "
    "gets no new instances.", minimum=5, maximum=86400,
))
LOCAL_NODE = registry.define(PropertyDef(
    "cloud.node.local", PropertyType.STRING, "private",
    "The all-in-one node `cloudctl up` runs in-process: private (QEMU guests on a private "
    "libvirtd it starts under the data dir), libvirt (an existing libvirtd at "
    "cloud.node.libvirt_uri), fake (fake guests) or none; auto is the old name of private. "
    "No libvirt is an error, never fake guests. `cloudctl up --node` and "
    "CLOUDCTL_LOCAL_NODE override it.",
    choices=("private", "libvirt", "fake", "none", "auto"),
))
LIBVIRT_URI = registry.define(PropertyDef(
    "cloud.node.libvirt_uri", PropertyType.STRING, "qemu:///system",
    "libvirt URI of the all-in-one node (CLOUDCTL_LIBVIRT_URI overrides it).",
))


class Node(Base):
    __tablename__ = "cloud_nodes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    zone: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(255))
    cores: Mapped[int] = mapped_column(Integer, default=0)
    memory_mib: Mapped[int] = mapped_column(Integer, default=0)
    disk_gib: Mapped[int] = mapped_column(Integer, default=0)
    virt_type: Mapped[str] = mapped_column(String(16), default="qemu")
    state: Mapped[str] = mapped_column(String(16), default="enabled")
    last_heartbeat: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


@dataclass(frozen=True)
class NodeView:
    """A node as the scheduler and DescribeInstanceTypes see it."""

    name: str
    zone: str
    cores: int
    memory_mib: int
    healthy: bool


def is_healthy(node: Node, timeout_sec: int, now: datetime | None = None) -> bool:
    if node.state != "enabled" or node.last_heartbeat is None:
        return False
    return (now or utcnow()) - node.last_heartbeat <= timedelta(seconds=timeout_sec)


async def list_nodes(session: AsyncSession) -> list[Node]:
    return list((await session.execute(select(Node).order_by(Node.name))).scalars().all())


async def node_views(session: AsyncSession, timeout_sec: int) -> list[NodeView]:
    now = utcnow()
    return [NodeView(n.name, n.zone, n.cores, n.memory_mib, is_healthy(n, timeout_sec, now))
            for n in await list_nodes(session)]


async def register_node(session: AsyncSession, name: str, zone: str, address: str, *,
                        cores: int = 0, memory_mib: int = 0, virt_type: str = "qemu") -> Node:
    """Create or update a node (idempotent); an existing node keeps its state."""
    node = await session.get(Node, name)
    if node is None:
        node = Node(name=name, zone=zone, address=address, cores=cores, memory_mib=memory_mib,
                    virt_type=virt_type, state="enabled", created_at=utcnow(), last_error="")
        session.add(node)
    else:
        node.zone, node.address = zone, address
        if cores:
            node.cores = cores
        if memory_mib:
            node.memory_mib = memory_mib
    return node


async def deregister_node(session: AsyncSession, name: str) -> bool:
    node = await session.get(Node, name)
    if node is None:
        return False
    await session.delete(node)
    return True


async def record_heartbeat(session: AsyncSession, name: str, *, cores: int, memory_mib: int,
                           virt_type: str) -> None:
    node = await session.get(Node, name)
    if node is not None:
        node.cores, node.memory_mib, node.virt_type = cores, memory_mib, virt_type
        node.last_heartbeat, node.last_error = utcnow(), ""


async def record_failure(session: AsyncSession, name: str, error: str) -> None:
    node = await session.get(Node, name)
    if node is not None:
        node.last_error = error[:500]
