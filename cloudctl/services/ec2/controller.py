"""The instance controller: converges nodes to the ``ec2_instances`` table.

A level-triggered loop in worker 0 (``cloud.spawn``): every pass reads the
desired state (rows), observes every node (``node_info`` as heartbeat,
``list_instances``), and applies idempotent steps through ``NodeClient``:

- pending -> ``ensure_instance``; running once the node says so;
- running -> ``ensure_instance`` again if the node lost the guest; a guest that
  powered itself off follows its shutdown behaviour; a requested reboot is done;
- stopping -> ``stop_instance``, then stopped; stopped -> stopped on the node;
- shutting-down -> ``delete_instance``, then terminated;
- anything on a node with no live row (orphans, terminated rows) is deleted.

State changes are compare-and-set on the prior state, so an API call racing the
controller wins. A failing key backs off exponentially (per instance). A full
pass runs at start and every ``cloud.vmstate.reconcile_interval_sec``; an API call
in this process ``wake``s it, which starts the steps of the rows in transition at
once from the rows alone (no heartbeat or list first: the launch path's latency).
Rows are read after the nodes are observed, so a launch acted on during a pass is
never taken for an orphan. Every step is safe to repeat after kill -9.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from cloudctl.db.base import utcnow
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.services.ec2 import instance_network, instance_volumes, tags
from cloudctl.services.ec2 import nodes as nodes_mod
from cloudctl.services.ec2.instance_models import Instance
from cloudctl.services.ec2.instance_view import USER_SHUTDOWN
from cloudctl.services.ec2.node_runtime import NodePool, local_cache_dirs, local_capacity
from nodectl.client import InstanceStatus, NodeClient, NodeError

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.compute.controller")

RECONCILE_INTERVAL = registry.define(PropertyDef(
    "cloud.vmstate.reconcile_interval_sec", PropertyType.INTEGER, "10",
    "Seconds between full resyncs of the instance controller (API calls wake it earlier).",
    minimum=1, maximum=3600,
))
TERMINATED_TIME = registry.define(PropertyDef(
    "cloud.vmstate.terminated_time", PropertyType.INTEGER, "60",
    "Minutes a terminated instance stays visible in DescribeInstances.", minimum=0,
    maximum=100000,
))

_controllers: list[ComputeController] = []


def wake(instance_ids: Iterable[str] | None = None) -> None:
    """Ask the controller of this process (if any) to act now.

    It starts the steps of the rows in transition (pending, stopping, shutting-down,
    reboot asked; only ``instance_ids`` when given) at once, from the rows alone: no
    heartbeat or list round first. The periodic full pass does the rest.
    """
    keys = None if instance_ids is None else list(instance_ids)
    for controller in _controllers:
        controller.act_now(keys)


def controller() -> ComputeController | None:
    return _controllers[0] if _controllers else None


def _deleter(client: NodeClient, instance_id: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await client.delete_instance(instance_id)
    return run


class ComputeController:
    def __init__(self, cloud: Cloud, pool: NodePool) -> None:
        self.cloud, self.pool = cloud, pool
        self.wakeup = asyncio.Event()
        self._backoff: dict[str, tuple[float, float]] = {}  # key -> (not before, delay)
        self._busy: set[str] = set()
        self._clients: dict[str, NodeClient] = {}  # healthy at the last pass
        self._tasks: set[asyncio.Task[None]] = set()
        self.passes = 0
        _controllers.append(self)

    # -- acting on woken keys -------------------------------------------------------------
    def act_now(self, instance_ids: list[str] | None = None) -> None:
        """Start the steps of rows in transition now (same loop, no pass around them)."""
        task = asyncio.get_running_loop().create_task(self._act(instance_ids))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, instance_ids: list[str] | None) -> None:
        try:
            query = select(Instance).where(
                Instance.state.in_(("pending", "stopping", "shutting-down"))
                | ((Instance.state == "running") & Instance.reboot_requested.is_(True)))
            if instance_ids is not None:
                query = query.where(Instance.instance_id.in_(instance_ids))
            async with self.cloud.sessions() as session:
                rows = list((await session.execute(query)).scalars().all())
            steps: list[Awaitable[None]] = []
            for row in rows:
                client = self._clients.get(row.node or "")
                if client is None:  # node not seen healthy yet: the full pass decides
                    self.wakeup.set()
                    continue
                if row.state == "running":
                    step: Callable[[], Awaitable[Any]] = partial(self._reboot, row, client)
                else:
                    found = self._step(row, client, None)
                    if found is None:
                        continue
                    step = found
                steps.append(self._guarded(row.instance_id, step))
            await asyncio.gather(*steps)
        except Exception:
            log.exception("acting on woken rows failed")
            self.wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                self.wakeup.clear()
                try:
                    await self.sync_once()
                except Exception:
                    log.exception("instance controller pass failed")
                interval = int(self.cloud.properties.get(RECONCILE_INTERVAL))
                try:
                    await asyncio.wait_for(self.wakeup.wait(), timeout=interval)
                except TimeoutError:
                    pass
        finally:
            _controllers.remove(self)

    # -- one pass ---------------------------------------------------------------------
    async def sync_once(self) -> None:
        self.passes += 1
        async with self.cloud.sessions() as session:
            nodes = await nodes_mod.list_nodes(session)
        observed: dict[str, dict[str, InstanceStatus]] = {}
        staged: dict[str, list[str]] = {}
        clients: dict[str, NodeClient] = {}
        for node in nodes:
            client = self.pool.client(node.name, node.address)
            if client is None:
                continue
            try:
                info = await client.node_info()
                statuses = await client.list_instances()
            except Exception as exc:  # NodeError, connection errors: the node is unreachable
                async with self.cloud.sessions() as session, session.begin():
                    await nodes_mod.record_failure(session, node.name, str(exc))
                continue
            cores, memory = info.cores, info.memory_mib
            if node.address == nodes_mod.LOCAL_ADDRESS or node.address.startswith("fake://"):
                cores, memory = local_capacity(client, cores, memory)
            async with self.cloud.sessions() as session, session.begin():
                await nodes_mod.record_heartbeat(session, node.name, cores=cores,
                                                 memory_mib=memory, virt_type=info.virt_type)
            clients[node.name] = client
            observed[node.name] = {s.instance_id: s for s in statuses}
            staged[node.name] = local_cache_dirs(client)
        self._clients = clients
        # Rows are read after the nodes were observed: anything a node held then was
        # committed before, so a launch acted on meanwhile is never taken for an orphan.
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(Instance).where(
                Instance.state != "terminated"))).scalars().all())
        live = {r.instance_id: r for r in rows}
        steps: list[Awaitable[None]] = []
        for row in rows:
            client = clients.get(row.node or "")
            if client is None:
                continue
            status = observed[row.node or ""].get(row.instance_id)
            step = self._step(row, client, status)
            if step is not None:
                steps.append(self._guarded(row.instance_id, step))
        for name, client in clients.items():
            present = set(observed[name]) | set(staged[name])
            for iid in sorted(present):
                owner = live.get(iid)
                if owner is None or owner.node != name:
                    steps.append(self._guarded(f"orphan:{name}:{iid}",
                                               _deleter(client, iid)))
        for key, step in await instance_volumes.converge(self.cloud, live, clients):
            steps.append(self._guarded(key, step))
        if steps:
            await asyncio.gather(*steps)
        await self._purge_terminated()

    def _step(self, row: Instance, client: NodeClient,
              status: InstanceStatus | None) -> Callable[[], Awaitable[Any]] | None:
        power = status.power if status else "missing"
        iid = row.instance_id
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
        del iid
        return None

    async def _guarded(self, key: str, step: Callable[[], Awaitable[Any]]) -> None:
        now = time.monotonic()
        not_before, delay = self._backoff.get(key, (0.0, 0.0))
        if now < not_before or key in self._busy:
            return
        self._busy.add(key)
        try:
            await step()
            self._backoff.pop(key, None)
        except Exception as exc:
            delay = min(max(delay * 2, 1.0), 300.0)
            self._backoff[key] = (time.monotonic() + delay, delay)
            log.warning("%s: %s (retry in %.0fs)", key, exc, delay)
            if isinstance(exc, NodeError) and not exc.retryable and not key.startswith("orphan"):
                await self._fail(key, str(exc))
        finally:
            self._busy.discard(key)

    # -- steps ----------------------------------------------------------------------------
    async def _cas(self, iid: str, expected: tuple[str, ...], **values: Any) -> bool:
        values.setdefault("updated_at", utcnow())
        async with self.cloud.sessions() as session, session.begin():
            result = await session.execute(update(Instance).where(
                Instance.instance_id == iid, Instance.state.in_(expected)).values(**values))
        return bool(getattr(result, "rowcount", 0))

    async def _ensure(self, row: Instance, client: NodeClient) -> None:
        await instance_network.network_ready(self.cloud, row)  # br-cloud, lease, metadata
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
            self.wakeup.set()

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
        instance_network.notify()

    async def _fail(self, iid: str, error: str) -> None:
        """A launch the node refuses for good: terminated with AWS's Server.InternalError."""
        await self._cas(iid, ("pending",), state="shutting-down",
                        state_reason_code="Server.InternalError",
                        state_reason_message="Server.InternalError: Internal error on launch",
                        last_error=error[:500])
        self.wakeup.set()

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
