"""Network interfaces attached to or detached from an instance after launch, in its guest.

The database says which interfaces an instance has (``vpc_network_interfaces``, written
by Attach/DetachNetworkInterface); this controller makes the guest match: the
instance's launch spec (``Instance.spec["nics"]``, what a start or a relaunch defines)
is rewritten to its interfaces in device-index order, and a running guest's node is
asked to hot-plug the missing virtio NICs and hot-unplug the others
(``NodeClient.ensure_nics``, by MAC; libvirt live and persistent). Each NIC plugs into
its interface's guest bridge, which the VPC host agent makes once the topology carries
the attachment: until then the node refuses the plug and the key backs off.

Every step is idempotent, and what was done lives only in the guest and the spec: a
controller killed at any point finds the difference again (the first resync after a
start checks every running VPC instance once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from cloudctl.core import wakes
from cloudctl.core.reconcile import Leadership, Reconciler, Retry, always_leader
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.vpc import interfaces
from cloudctl.services.ec2.vpc.models import NetworkInterfaceRow
from netd.vpc.names import guest_bridge_name, guest_tap_name
from nodectl.client import NicSpec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cloudctl.server.cloud import Cloud

__all__ = ["HOTPLUG", "NicHotplug", "guest_nics", "wake"]

log = logging.getLogger("cloudctl.ec2.vpc.hotplug")

HOTPLUG = RuntimeKey["NicHotplug"]("vpc.nic_hotplug")
LIVE_STATES = ("pending", "running", "stopping", "stopped")


async def guest_nics(session: AsyncSession, instance_id: str) -> tuple[NicSpec, ...]:
    """The guest NICs of an instance: its interfaces, in device-index order."""
    rows = list((await session.execute(select(NetworkInterfaceRow).where(
        NetworkInterfaceRow.instance_id == instance_id).order_by(
        NetworkInterfaceRow.device_index))).scalars())
    ips = await interfaces.addresses_of(session, [e.eni_id for e in rows])
    return tuple(NicSpec(mac=e.mac, bridge=guest_bridge_name(e.eni_id),
                         target_dev=guest_tap_name(e.eni_id),
                         private_ip=ips[e.eni_id][0].private_ip if ips.get(e.eni_id) else "")
                 for e in rows)


def _as_json(nics: tuple[NicSpec, ...]) -> list[dict[str, Any]]:
    return [asdict(n) for n in nics]


def wake(cloud: Cloud, instance_id: str) -> None:
    """After an attach or detach committed: converge that instance now, here if this
    process runs the controller, else in the one that leads it (``cloudctl.core.wakes``;
    a lost wake is found by the leader's resync)."""
    controller = cloud.runtime.get(HOTPLUG)
    if controller is not None:
        controller.wake(instance_id)
    else:
        wakes.forward(NicHotplug.name, instance_id)


class NicHotplug(Reconciler):
    """Keeps each VPC instance's guest NICs equal to its attached interfaces."""

    name = "vpc-nic-hotplug"
    kind = "compute-controller"  # it reaches nodes through that leader's node monitor
    workers = 2
    # Attach/DetachNetworkInterface wake their instance (``wake``, forwarded from any
    # process); an instance that is not running stays listed: with none, once a minute
    idle_interval = 60.0

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self._applied: dict[str, list[dict[str, Any]]] = {}  # instance -> NICs in its guest

    def interval(self) -> float:
        return 10.0

    async def list_keys(self) -> Iterable[str]:
        async with self.cloud.sessions() as session:
            attached = select(NetworkInterfaceRow.instance_id).where(
                NetworkInterfaceRow.instance_id.is_not(None))
            rows = (await session.execute(select(
                Instance.instance_id, Instance.state, Instance.spec).where(
                Instance.state.in_(LIVE_STATES), Instance.instance_id.in_(attached)))).all()
        live = {iid for iid, _, _ in rows}
        for gone in set(self._applied) - live:
            del self._applied[gone]
        # every instance not yet seen converged; a converged one only when its spec
        # moved (an attach or detach the wake of another worker could not deliver)
        return [iid for iid, state, spec in rows
                if iid not in self._applied or (spec or {}).get("nics") != self._applied[iid]
                or state != "running"]

    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(Instance, key)
            if row is None or row.state not in LIVE_STATES:
                self._applied.pop(key, None)
                return
            wanted = _as_json(await guest_nics(session, key))
            if not wanted:
                return  # not a VPC instance
            spec = dict(row.spec or {})
            if spec.get("nics") != wanted:
                spec["nics"] = wanted
                await session.execute(update(Instance).where(
                    Instance.instance_id == key).values(spec=spec))
            state, node = row.state, row.node or ""
        if state != "running":
            return  # a start defines the domain from the spec; pending: the launch does
        client = _node_client(node)
        if client is None:
            raise Retry(5.0)  # the node has not answered a heartbeat yet
        await client.ensure_nics(key, tuple(NicSpec(**n) for n in wanted))
        self._applied[key] = wanted


def _node_client(node: str) -> Any:
    from cloudctl.services.ec2.compute import controller as compute

    found = compute.controller()
    return found.monitor.clients().get(node) if found is not None else None


async def start(cloud: Cloud) -> None:
    """Run the controller in the leader process (worker 0)."""
    if cloud.worker_index != 0 or HOTPLUG in cloud.runtime:
        return
    controller = NicHotplug(cloud, leader=lambda: cloud.worker_index == 0)
    cloud.runtime[HOTPLUG] = controller
    cloud.spawn(controller.run(), controller.name)
