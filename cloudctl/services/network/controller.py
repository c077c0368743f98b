"""The network controller: render the view, push it to every host's netd, record status.

On the shared reconcile base (``cloudctl.core.reconcile``), run by the leader: the
keys are the hosts. Every ``POLL_SECONDS`` the resync reads the view version (a
one-row read) and lists the hosts whose applied version differs; every
``cloud.network.resync_seconds`` it lists every host, re-applying the view to repair
drift and hosts that were down. A change made in this process (``state.notify``)
resyncs at once. While no host has a namespace there is nothing to apply: the resync
runs every ``IDLE_SECONDS`` only (a change of the hosts, of the configuration, or a
namespace appearing resyncs at once: ``service.start_network``, ``state.notify``). One sync renders the view of the current version (once per
version, shared by the hosts) and applies it to that host's netd in a thread (netd
calls block); a host that fails records its error and backs off on its own
(``RETRY_SECONDS``, doubling) without holding up the others. Each host's applied
version (or its error) is written to ``net_host_status``. Nothing is kept that a
restart could lose: the database holds the intent, netd converges idempotently
from any state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.db.base import utcnow
from cloudctl.services.network import config, state
from cloudctl.services.network.feed import feeds_of
from cloudctl.services.network.models import HostStatusRow
from cloudctl.services.network.render import render_view
from netd.client import HostSpec, LocalNetd, NetworkView

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
IDLE_SECONDS = 60.0
RETRY_SECONDS = 3.0
Status = tuple[int | None, str | None]
NO_NETNS: Status = (None, "no netns")


class ApplyFailed(Exception):
    """netd could not apply the view on a host (recorded in its status row)."""


class NetworkController(Reconciler):
    """Drives the in-process netd agents of the configured hosts."""

    name = "network-controller"
    base_backoff = RETRY_SECONDS
    max_backoff = 60.0

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self._clients: dict[str, LocalNetd] = {}
        self._client_key: object = None
        self._status: dict[str, Status] = {}
        self._render_lock = asyncio.Lock()
        self._last_full = 0.0
        self.last_view: NetworkView | None = None

    def interval(self) -> float:
        return POLL_SECONDS if self._clients else IDLE_SECONDS

    def hosts(self) -> list[config.HostEntry]:
        entries = config.parse_hosts(self.cloud.properties.get(config.HOSTS))
        if entries:
            return entries
        netns = self.cloud.runtime.get(config.LOCAL_NETNS)
        return [config.HostEntry(name=config.ALL_IN_ONE_HOST, netns=str(netns or ""))]

    def _sync_clients(self, hosts: list[config.HostEntry]) -> None:
        key = [(h.name, h.netns, h.public_interface, h.underlay_interface) for h in hosts]
        if key == self._client_key:
            return
        base = self.cloud.settings.data_dir / "netd"
        self._clients = {h.name: LocalNetd(HostSpec(
            name=h.name, netns=h.netns, state_dir=base / h.name,
            public_interface=h.public_interface, underlay_interface=h.underlay_interface))
            for h in hosts if h.netns}
        self._client_key = key

    async def render(self, session: AsyncSession) -> NetworkView:
        upstream = f"unix:{self.cloud.settings.metadata_socket}"
        value = self.cloud.properties.get(config.NETWORK_CONFIGURATION)
        return await render_view(session, value, self.hosts(), feeds_of(self.cloud), upstream)

    async def run(self) -> None:
        state.add_waker(self.resync_now)
        try:
            await super().run()
        finally:
            state.remove_waker(self.resync_now)

    async def list_keys(self) -> list[str]:
        """Hosts whose applied version is not the current one; every host when a full
        resync is due. Hosts without a namespace are recorded as such."""
        hosts = self.hosts()
        self._sync_clients(hosts)
        missing: dict[str, Status] = {h.name: NO_NETNS for h in hosts
                   if h.name not in self._clients and self._status.get(h.name) != NO_NETNS}
        if not missing and not self._clients:
            return []  # nothing to apply (no host has a namespace): no read every poll
        async with self.cloud.sessions() as session:
            version = await state.current_version(session)
        if missing:
            self._status.update(missing)
            await self._record(version, missing)
        now = time.monotonic()
        if now - self._last_full >= float(self.cloud.properties.get(config.RESYNC_SECONDS)):
            self._last_full = now
            return list(self._clients)
        return [name for name in self._clients if self._status.get(name, NO_NETNS)[0] != version]

    async def current_view(self) -> NetworkView:
        """The view of the current version, rendered once per version."""
        async with self._render_lock:
            async with self.cloud.sessions() as session:
                version = await state.current_version(session)
                if self.last_view is None or self.last_view.version != version:
                    self.last_view = await self.render(session)
            return self.last_view

    async def sync(self, key: str) -> None:
        client = self._clients.get(key)
        if client is None:
            return
        view = await self.current_view()
        result = await asyncio.to_thread(self._apply_one, client, view)
        if self._status.get(key) != result:
            self._status[key] = result
            await self._record(view.version, {key: result})
        if result[1] is not None:
            raise ApplyFailed(result[1])

    def _apply_one(self, client: LocalNetd, view: NetworkView) -> Status:
        if not client.netns_exists():
            return (None, f"network namespace {client.spec.netns} does not exist")
        try:
            return (client.apply(view), None)
        except Exception as exc:
            log.warning("netd apply on %s failed: %s", client.spec.name, exc)
            return (None, f"{type(exc).__name__}: {exc}")

    async def _record(self, desired: int, changed: dict[str, Status]) -> None:
        async with self.cloud.sessions() as session, session.begin():
            for name, (applied, error) in changed.items():
                row = await session.get(HostStatusRow, name)
                if row is None:
                    row = HostStatusRow(host=name)
                    session.add(row)
                row.desired_version = desired
                row.error = error
                if applied is not None:
                    row.applied_version = applied
                    row.applied_at = utcnow()
                    client = self._clients.get(name)
                    if client is not None:
                        row.seconds = json.dumps(client.status().get("last_seconds", {}))
