"""The instance controller: converges nodes to the ``ec2_instances`` table.

On the shared reconcile base (``cloudctl.core.reconcile``), run by the leader, beside
the node monitor (``node_monitor``: heartbeats and what every node holds). Keys:

- an instance id: read the row, and the node's last observation if it was taken
  after the row last changed (an older one says nothing about the current intent);
  pending -> ``ensure_instance``, then running once the node says so; running ->
  ``ensure_instance`` again if the node lost the guest, a guest that powered itself
  off follows its shutdown behaviour, a requested reboot is done; stopping ->
  ``stop_instance``, then stopped; stopped -> stopped on the node; shutting-down ->
  ``delete_instance``, then terminated;
- ``orphan:NODE:ID``: a guest (or staged directory) a node holds with no live row
  there; the row is read again at sync time, after the observation, so a launch acted
  on meanwhile is never taken for an orphan; then it is deleted;
- ``volume:ID``: an attachment still to do on a node (``instance_volumes``);
- ``purge``: terminated rows past ``cloud.vmstate.terminated_time`` (minutes: listed
  once a ``PURGE_EVERY``, not at every resync).

State changes are compare-and-set on the prior state, so an API call racing the
controller wins. A failing key backs off exponentially on its own; a launch the
node refuses for good is terminated with ``Server.InternalError``. A full resync
runs at start and after a node observation (every
``cloud.vmstate.reconcile_interval_sec``) while the controller has work or when what
the node holds changed (its own timer, a little longer, is the backstop for when no
node answers; with nothing to do, once a minute); an API call in this process
``wake``s the rows in transition at once (no heartbeat first: the launch path's
latency), one in another process is forwarded here (``cloudctl.core.wakes``). Each state it sets is told to the
process's watchers (``shared.settled``: a stack waiting for the instance to run). Every step is safe to repeat after
kill -9.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from cloudctl.core import wakes
from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.db.base import utcnow
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.services.ec2.compute import instance_volumes
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.compute.instance_view import USER_SHUTDOWN
from cloudctl.services.ec2.compute.node_monitor import RECONCILE_INTERVAL, NodeMonitor
from cloudctl.services.ec2.compute.node_runtime import NodePool
from cloudctl.services.ec2.network import instance_network
from cloudctl.services.ec2.shared import settled, tags
from cloudctl.services.ec2.vpc import publisher as vpc_publisher
from nodectl.client import InstanceStatus, NodeClient, NodeError

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.compute.controller")

__all__ = ["RECONCILE_INTERVAL", "TERMINATED_TIME", "ComputeController", "controller", "wake",
           "wake_volumes"]

TERMINATED_TIME = registry.define(PropertyDef(
    "cloud.vmstate.terminated_time", PropertyType.INTEGER, "60",
    "Minutes a terminated instance stays visible in DescribeInstances.", minimum=0,
    maximum=100000,
))
PURGE = "purge"
PURGE_EVERY = 60.0  # seconds between looks for terminated rows to purge (kept minutes)
IN_TRANSITION = ("pending", "stopping", "shutting-down")

_controllers: list[ComputeController] = []


def wake(instance_ids: Iterable[str] | None = None) -> None:
    """Ask the controller of this process (if any) to act now.

    It syncs the rows in transition (pending, stopping, shutting-down, reboot asked;
    only ``instance_ids`` when given) at once, from the rows and the last observation:
    no heartbeat or list round first. The periodic resync does the rest.
    """
    keys = None if instance_ids is None else list(instance_ids)
    if not _controllers:  # an API host or worker: the leading process acts
        for key in [None] if keys is None else keys:
            wakes.forward(ComputeController.name, key)
    for found in _controllers:
        found.act_now(keys)


def wake_volumes(volume_ids: Iterable[str]) -> None:
    """Ask the controller of this process (if any) to converge these attachments now
    (an attach or detach just recorded), not at the next periodic resync."""
    if not _controllers:
        for vid in volume_ids:
            wakes.forward(ComputeController.name, f"volume:{vid}")
    for found in _controllers:
        for vid in volume_ids:
            found.wake(f"volume:{vid}")


def controller() -> ComputeController | None:
    return _controllers[0] if _controllers else None


class ComputeController(Reconciler):
    name = "compute-controller"
    workers = 16  # launches are slow on a node: many at once, as the node allows
    base_backoff = 1.0
    max_backoff = 300.0

    def __init__(self, cloud: Cloud, pool: NodePool, *,
                 leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud, self.pool = cloud, pool
        self.monitor = NodeMonitor(cloud, pool, leader=leader,
                                   on_observed=self._observed)
        self._tasks: set[asyncio.Task[None]] = set()
        # what each node held at the observation last handed to a resync
        self._seen: dict[str, tuple[dict[str, InstanceStatus], list[str]]] = {}
        self._purge_listed = -PURGE_EVERY  # the loop's clock when PURGE was last listed

    def interval(self) -> float:
        return float(self.cloud.properties.get(RECONCILE_INTERVAL))

    # with nothing to do (no row in transition, nothing waiting) and nodes holding what
    # they held, a resync a minute: API calls wake their rows, a node's change resyncs
    idle_interval = 60.0

    def next_interval(self) -> float:
        """While it has work, the node monitor's observation, every ``interval()``,
        resyncs this controller (``_observed``); its own timer is the backstop for when
        no node answers, set past the next observation (the two timers, due together,
        resynced it twice per interval, both reading every live row)."""
        return max(super().next_interval(), self.interval() * 1.5)

    def _observed(self, node: str) -> None:
        """A node was observed: resync while there is work (a transition waits for a
        fresh observation), or when what the node holds changed (a guest stopped, went,
        appeared); an idle controller and an unchanged node have nothing a resync could
        find."""
        obs = self.monitor.observed.get(node)
        if obs is None:
            return
        seen = (obs.statuses, obs.staged)
        if self.has_work() or self._seen.get(node) != seen:
            self.resync_now()
        self._seen[node] = seen

    # -- acting on woken keys -------------------------------------------------------------
    def act_now(self, instance_ids: list[str] | None = None) -> None:
        """Wake the rows in transition now (same loop, no resync around them)."""
        task = asyncio.get_running_loop().create_task(self._act(instance_ids))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def woken(self, key: str | None) -> None:
        """A wake from another process: the rows in transition, as ``wake`` here."""
        if self.term() is None:
            return
        if key is not None and key.startswith("volume:"):
            super().woken(key)
        else:
            self.act_now(None if key is None else [key])

    async def _act(self, instance_ids: list[str] | None) -> None:
        try:
            query = select(Instance.instance_id).where(
                Instance.state.in_(IN_TRANSITION)
                | ((Instance.state == "running") & Instance.reboot_requested.is_(True)))
            if instance_ids is not None:
                query = query.where(Instance.instance_id.in_(instance_ids))
            async with self.cloud.sessions() as session:
                keys = list((await session.execute(query)).scalars().all())
            for key in keys:
                self.wake(key)
        except Exception:
            log.exception("acting on woken rows failed")
            self.resync_now()

    async def run(self) -> None:
        _controllers.append(self)
        try:
            await asyncio.gather(self.monitor.run(), super().run())
        finally:
            _controllers.remove(self)
            for task in self._tasks:
                task.cancel()

    # -- keys -----------------------------------------------------------------------------
    async def list_keys(self) -> list[str]:
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(
                Instance.instance_id, Instance.node, Instance.state,
                Instance.reboot_requested).where(Instance.state != "terminated"))).all()
        live = {iid: node for iid, node, _, _ in rows}
        keys = [iid for iid, node, state, reboot in rows
                if not self._settled(iid, node, state, bool(reboot))]
        for name, obs in list(self.monitor.observed.items()):
            for iid in sorted(set(obs.statuses) | set(obs.staged)):
                if live.get(iid, "\0") != name:
                    keys.append(f"orphan:{name}:{iid}")
        keys += [f"volume:{vid}" for vid in await instance_volumes.pending_attachments(
            self.cloud)]
        now = asyncio.get_running_loop().time()
        if now - self._purge_listed >= PURGE_EVERY - 1:  # a resync on the same grid
            self._purge_listed = now  # (a failed purge retries on its own timer)
            keys.append(PURGE)
        return keys

    def _settled(self, iid: str, node: str | None, state: str, reboot: bool) -> bool:
        """Whether a row and its node's last observation agree, so a sync would do
        nothing (a running guest seen running, a stopped one seen stopped or gone, no
        reboot asked): a resync (after every node observation) skips it, instead of
        reading every live row again."""
        if reboot or state not in ("running", "stopped"):
            return False
        obs = self.monitor.observed.get(node or "")
        status = obs.statuses.get(iid) if obs is not None else None
        power = status.power if status is not None else "missing"
        return power == "running" if state == "running" else power in ("stopped", "missing")

    async def sync(self, key: str) -> None:
        if key == PURGE:
            await self._purge_terminated()
        elif key.startswith("orphan:"):
            _, node, iid = key.split(":", 2)
            await self._orphan(node, iid)
        elif key.startswith("volume:"):
            await instance_volumes.converge_one(self.cloud, key[len("volume:"):],
                                                self.monitor.clients())
        else:
            await self._instance(key)

    async def _instance(self, iid: str) -> None:
        async with self.cloud.sessions() as session:
            row = await session.get(Instance, iid)
        if row is None or row.state == "terminated":
            return
        obs = self.monitor.observed.get(row.node or "")
        if obs is None:  # node not seen healthy: the next observation resyncs
            return
        fresh = obs.at > row.updated_at
        status = obs.statuses.get(iid) if fresh else None
        if not fresh and row.state in ("running", "stopped"):
            step = self._reboot_step(row, obs.client)  # the rest needs a fresh observation
        else:
            step = self._step(row, obs.client, status)
        if step is not None:
            await step()

    def _reboot_step(self, row: Instance,
                     client: NodeClient) -> Callable[[], Awaitable[Any]] | None:
        if row.state == "running" and row.reboot_requested:
            return lambda: self._reboot(row, client)
        return None

    async def _orphan(self, node: str, iid: str) -> None:
        async with self.cloud.sessions() as session:
            row = await session.get(Instance, iid)
        if row is not None and row.node == node and row.state != "terminated":
            return  # launched there since the observation
        obs = self.monitor.observed.get(node)
        if obs is not None:
            await obs.client.delete_instance(iid)

    async def on_failure(self, key: str, count: int, exc: Exception) -> None:
        if (isinstance(exc, NodeError) and not exc.retryable and key.startswith("i-")):
            await self._fail(key, str(exc))

    def _step(self, row: Instance, client: NodeClient,
              status: InstanceStatus | None) -> Callable[[], Awaitable[Any]] | None:
        power = status.power if status else "missing"
        if row.state == "pending" or (row.state == "running" and power in ("missing",)):
            return lambda: self._ensure(row, client)
        if row.state == "running":
            if power in ("stopped", "crashed"):
                return lambda: self._guest_powered_off(row)
            if row.reboot_requested:
                return lambda: self._reboot(row, client)
            return None
        if row.state == "stopping" or (row.state == "stopped" and power not in (
                "stopped", "missing")):
            return lambda: self._stop(row, client)
        if row.state == "shutting-down":
            return lambda: self._delete(row, client)
        return None

    # -- steps ----------------------------------------------------------------------------
    async def _cas(self, iid: str, expected: tuple[str, ...], **values: Any) -> bool:
        values.setdefault("updated_at", utcnow())
        async with self.cloud.sessions() as session, session.begin():
            result = await session.execute(update(Instance).where(
                Instance.instance_id == iid, Instance.state.in_(expected)).values(**values))
        done = bool(getattr(result, "rowcount", 0))
        if done and "state" in values:
            settled.changed(self.cloud, iid, str(values["state"]))
        return done

    async def _ensure(self, row: Instance, client: NodeClient) -> None:
        await instance_network.network_ready(self.cloud, row)  # br-cloud, lease, metadata
        await vpc_publisher.host_applied(self.cloud, row.node)  # VPC: its interfaces, lease
        spec = await instance_volumes.launch_spec(self.cloud, row)  # EBS volumes, bundles
        if spec is None:  # the root volume is still being created
            return
        status = await client.ensure_instance(spec)
        if status.power == "running":
            await self._cas(row.instance_id, ("pending", "running"), state="running",
                            state_reason_code="", state_reason_message="",
                            observed_power="running", last_error="")

    async def _reboot(self, row: Instance, client: NodeClient) -> None:
        await client.reboot_instance(row.instance_id)
        await self._cas(row.instance_id, ("running",), reboot_requested=False)

    async def _guest_powered_off(self, row: Instance) -> None:
        reason = ("Client.InstanceInitiatedShutdown",
                  "Client.InstanceInitiatedShutdown: Instance initiated shutdown")
        if row.root_device_type == "ebs" and row.shutdown_behavior == "stop":
            await self._cas(row.instance_id, ("running",), state="stopped",
                            state_reason_code=reason[0], state_reason_message=reason[1],
                            observed_power="stopped")
        else:
            await self._cas(row.instance_id, ("running",), state="shutting-down",
                            state_reason_code=reason[0], state_reason_message=reason[1])
            self.wake(row.instance_id)

    async def _stop(self, row: Instance, client: NodeClient) -> None:
        status = await client.stop_instance(row.instance_id)
        if status.power in ("stopped", "missing", "crashed"):
            await self._cas(row.instance_id, ("stopping",), state="stopped",
                            state_reason_code=USER_SHUTDOWN[0],
                            state_reason_message=USER_SHUTDOWN[1], observed_power="stopped")

    async def _delete(self, row: Instance, client: NodeClient) -> None:
        await client.delete_instance(row.instance_id)
        await instance_volumes.release(self.cloud, row.instance_id)  # DeleteOnTermination
        async with self.cloud.sessions() as session, session.begin():
            await session.execute(update(Instance).where(
                Instance.instance_id == row.instance_id,
                Instance.state == "shutting-down").values(
                state="terminated", terminated_at=utcnow(), observed_power="missing",
                updated_at=utcnow()))
            await instance_network.release(session, row.instance_id)
            from cloudctl.services.ec2.vpc import launch as vpc_launch

            await vpc_launch.release(session, row.instance_id)  # its VPC interfaces
        instance_network.notify()

    async def _fail(self, iid: str, error: str) -> None:
        """A launch the node refuses for good: terminated with AWS's Server.InternalError."""
        await self._cas(iid, ("pending",), state="shutting-down",
                        state_reason_code="Server.InternalError",
                        state_reason_message="Server.InternalError: Internal error on launch",
                        last_error=error[:500])
        self.wake(iid)

    async def _purge_terminated(self) -> None:
        minutes = int(self.cloud.properties.get(TERMINATED_TIME))
        cutoff = utcnow() - timedelta(minutes=minutes)
        async with self.cloud.sessions() as session, session.begin():
            old = (await session.execute(select(
                Instance.instance_id, Instance.account_id, Instance.region).where(
                Instance.state == "terminated", Instance.terminated_at < cutoff))).all()
            for iid, account, region in old:
                await tags.delete_resource_tags(session, account, region, [iid])
            if old:
                await session.execute(delete(Instance).where(
                    Instance.instance_id.in_([o[0] for o in old])))
