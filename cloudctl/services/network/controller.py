"""The network controller: render the view, push it to every host's netd, record status.

A level-triggered loop run by worker 0 (`cloud.spawn`): it polls the view
version (one-row read, every `POLL_SECONDS`; hosts that failed are retried every
`RETRY_SECONDS`, not on every poll), is woken at once by changes
made in its own process (`state.notify`), renders the whole view when the
version moved, and applies it to every host in parallel (threads; netd calls
block). A full resync re-applies the view to every host on start and every
`cloud.network.resync_seconds`, repairing drift and hosts that were down.
Each host's applied version (or its error) is written to `net_host_status`.
Nothing is kept that a restart could lose: the database holds the intent,
netd converges idempotently from any state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.services.network import config, state
from cloudctl.services.network.models import HostStatusRow
from cloudctl.services.network.render import render_view
from netd.client import HostSpec, LocalNetd, NetworkView

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
RETRY_SECONDS = 3.0


class NetworkController:
    """Drives the in-process netd agents of the configured hosts."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._wake = asyncio.Event()
        self._clients: dict[str, LocalNetd] = {}
        self._client_key: Any = None
        self._status: dict[str, tuple[int | None, str | None]] = {}
        self.last_view: NetworkView | None = None

    def wake(self) -> None:
        self._wake.set()

    def hosts(self) -> list[config.HostEntry]:
        entries = config.parse_hosts(self.cloud.properties.get(config.HOSTS))
        if entries:
            return entries
        netns = self.cloud.services.get("node.netns")
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
        return await render_view(session, value, self.hosts(), upstream)

    async def run(self) -> None:
        state.add_waker(self.wake)
        rendered: int | None = None
        last_full = 0.0
        last_attempt = 0.0
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                except TimeoutError:
                    pass
                self._wake.clear()
                try:
                    full = time.monotonic() - last_full >= float(
                        self.cloud.properties.get(config.RESYNC_SECONDS))
                    async with self.cloud.sessions() as session:
                        version = await state.current_version(session)
                        retry = (self._failing()
                                 and time.monotonic() - last_attempt >= RETRY_SECONDS)
                        if version == rendered and not full and not retry:
                            continue
                        view = await self.render(session)
                    if full:
                        last_full = time.monotonic()
                    last_attempt = time.monotonic()
                    await self.push(view)
                    rendered = view.version
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("network controller pass failed")
                    await asyncio.sleep(1.0)
        finally:
            state.remove_waker(self.wake)

    def _failing(self) -> bool:
        return any(err is not None for _, err in self._status.values())

    async def push(self, view: NetworkView) -> None:
        hosts = self.hosts()
        self._sync_clients(hosts)
        self.last_view = view
        results = await asyncio.gather(
            *(asyncio.to_thread(self._apply_one, c, view) for c in self._clients.values()))
        changed = {}
        for name, res in zip(self._clients, results, strict=True):
            if self._status.get(name) != res:
                changed[name] = res
            self._status[name] = res
        for h in hosts:
            if h.name not in self._clients and self._status.get(h.name) != (None, "no netns"):
                self._status[h.name] = changed[h.name] = (None, "no netns")
        if changed:
            await self._record(view.version, changed)

    def _apply_one(self, client: LocalNetd, view: NetworkView) -> tuple[int | None, str | None]:
        if not client.netns_exists():
            return (None, f"network namespace {client.spec.netns} does not exist")
        try:
            return (client.apply(view), None)
        except Exception as exc:
            log.warning("netd apply on %s failed: %s", client.spec.name, exc)
            return (None, f"{type(exc).__name__}: {exc}")

    async def _record(self, desired: int, changed: dict[str, tuple[int | None, str | None]]
                      ) -> None:
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
