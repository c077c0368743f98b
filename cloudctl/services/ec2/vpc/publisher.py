"""The topology publisher: the database's VPC topology, written into ZooKeeper.

On the reconcile base, run by the leader, one key (``topology``). The resync (every
``POLL_SECONDS``) lists the key when the database's topology version is ahead of the
version last published, or when a full republication is due
(``cloud.network.topology_resync_seconds``: it repairs anything changed in ZooKeeper
behind our back). A sync reads one snapshot of the database (``topology_view``) and
makes ZooKeeper hold exactly it (``TopologyWriter.replace_all``: the differing objects,
the deletions and the version bump in one multi-operation transaction), then records
the database version it published. Security groups live in EDGE's tables and bump the
network view version (``cloud.network`` state), not the topology's: a view version
other than the one last published is a change too, and the EDGE wake (``notify``)
wakes the publisher. Nothing lives only in memory: after kill -9 the
next leader republishes from the database.

``host_applied`` is what the compute controller asks before it starts a guest: it
returns once the guest's host agent reports (``hosts/<host>`` in ZooKeeper) a version at
least the one published for the database's current topology, which holds the guest's
interfaces; so a guest boots with its DHCP lease, routes, groups and metadata path in
place, as on AWS (a guest asking for its lease before the agent applied it would give
up DHCP on a loaded host).

Nothing is published while ``cloud.network.zookeeper`` is empty, except in VPC mode:
then the cloud runs its own server under the data directory (``local_zookeeper``) and
publishes there. While nothing is published the resync runs every ``IDLE_SECONDS``
only: a change of the mode or of the ensemble (the property hooks ``start_publisher``
installs) resyncs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.ec2.vpc import common, local_zookeeper, properties, topology_view
from cloudctl.services.ec2.vpc.models import VpcStateRow
from cloudctl.services.network import config as net_config
from cloudctl.services.network import state as view_state
from netd.vpc import topology as topo

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)
KEY = "topology"
POLL_SECONDS = 0.2
IDLE_SECONDS = 60.0  # not publishing (EDGE without an ensemble): nothing to look at
APPLY_TIMEOUT = 15.0  # then the launch step fails and is retried with backoff
_APPLY_POLL = 0.1
PUBLISHER = RuntimeKey["TopologyPublisher"]("vpc.publisher")


class TopologyNotApplied(RuntimeError):
    """A host agent has not applied the topology a guest needs yet (the step is retried)."""


def connect(hosts: str, timeout: float = 10.0) -> Any:
    """A started kazoo client (blocking: call from a thread)."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts, timeout=timeout)
    client.start(timeout=timeout)
    return client


class TopologyPublisher(Reconciler):
    """Publishes the desired VPC topology into ZooKeeper."""

    name = "vpc-topology-publisher"
    workers = 1
    base_backoff = 0.5
    max_backoff = 10.0

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self._client: Any = None
        self._hosts = ""
        self._last_full = 0.0
        self.zk_version: int | None = None
        self._reader: Any = None  # applied_by's own ZooKeeper client
        self._reader_hosts = ""
        self._reader_lock = threading.Lock()
        self._local: str | None = None  # the local server's connect string, once started
        self._starting: asyncio.Future[str | None] | None = None  # its start, in a thread
        self._view_version = -1  # the network view version (groups) last published

    def view_changed(self) -> None:
        """The EDGE network view moved on (a security group): wake when publishing."""
        if common.network_mode(self.cloud) == "VPC" or self.cloud.properties.get(
                properties.ZOOKEEPER):
            self.resync_now()

    def publishing(self) -> bool:
        """Whether there is an ensemble to publish to (configured, or VPC mode's own)."""
        return bool(self.cloud.properties.get(properties.ZOOKEEPER)) \
            or common.network_mode(self.cloud) == "VPC"

    def interval(self) -> float:
        return POLL_SECONDS if self.publishing() else IDLE_SECONDS

    async def _connect_string(self) -> str:
        """The configured ensemble; in VPC mode without one, the local server (started
        on first need, in a thread: the JVM takes seconds)."""
        configured = str(self.cloud.properties.get(properties.ZOOKEEPER) or "")
        if configured or common.network_mode(self.cloud) != "VPC":
            return configured
        if self._local is None:
            if self._starting is None:
                self._starting = asyncio.ensure_future(asyncio.to_thread(
                    local_zookeeper.start, self.cloud.settings.data_dir))
            # shielded: a shutdown cancelling this pass still lets ``stop`` see the start
            self._local = await asyncio.shield(self._starting) or ""
        return self._local

    async def list_keys(self) -> Iterable[str]:
        if not await self._connect_string():
            return []
        full = float(self.cloud.properties.get(properties.PUBLISH_RESYNC_SECONDS))
        if time.monotonic() - self._last_full >= full:
            return [KEY]
        async with self.cloud.sessions() as session:
            row = await session.get(VpcStateRow, 1)
            view = await view_state.current_version(session)
        if row is not None and row.version != row.published or view != self._view_version:
            return [KEY]
        return []

    def _client_for(self, hosts: str) -> Any:
        if self._client is not None and self._hosts != hosts:
            self._close()
        if self._client is None:
            self._client = connect(hosts)
            self._hosts = hosts
        return self._client

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.stop()
                client.close()
            except Exception:  # a dead connection: nothing left to release
                log.debug("closing the ZooKeeper client failed", exc_info=True)

    def _publish(self, hosts: str, wanted: topo.Topology) -> int:
        try:
            return topo.TopologyWriter(self._client_for(hosts)).replace_all(wanted)
        except Exception:
            self._close()  # reconnect on the next try
            raise

    async def sync(self, key: str) -> None:
        hosts = await self._connect_string()
        if not hosts:
            return
        async with self.cloud.sessions() as session, session.begin():
            view = await view_state.current_version(session)
            version, wanted = await topology_view.snapshot(
                session, str(self.cloud.properties.get(properties.GATEWAY_HOST) or ""))
        self.zk_version = await asyncio.to_thread(self._publish, hosts, wanted)
        self._last_full = time.monotonic()
        self._view_version = view
        async with self.cloud.sessions() as session, session.begin():
            await session.execute(update(VpcStateRow).where(
                VpcStateRow.id == 1, VpcStateRow.published < version).values(
                published=version))

    async def applied_by(self, host: str, timeout: float = APPLY_TIMEOUT) -> None:
        """Return once ``host``'s agent applied the database's current topology (see the
        module docstring); at once when nothing is published or ``host`` runs no agent
        (no status in ZooKeeper: a fake node). Works in any controller process, the
        publishing leader or not (the database says what was published, ZooKeeper what
        each host applied). ``TopologyNotApplied`` after ``timeout`` seconds."""
        if not self.publishing():
            return
        hosts = await self._connect_string()
        if not hosts:
            return
        reader = topo.TopologyReader(await asyncio.to_thread(self._reader_for, hosts))
        if await asyncio.to_thread(reader.host, host) is None:
            return
        async with self.cloud.sessions() as session:
            row = await session.get(VpcStateRow, 1)
        want = row.version if row is not None else 0
        deadline = time.monotonic() + timeout
        while True:
            async with self.cloud.sessions() as session:
                row = await session.get(VpcStateRow, 1)
            if row is None or row.published >= want:
                break
            if time.monotonic() >= deadline:
                raise TopologyNotApplied(f"topology version {want} is not published yet")
            self.resync_now()
            await asyncio.sleep(_APPLY_POLL)
        published = await asyncio.to_thread(reader.version)  # holds ``want`` or later
        while True:
            found = await asyncio.to_thread(reader.host, host)
            if found is None or found.version >= published:
                return
            if time.monotonic() >= deadline:
                raise TopologyNotApplied(
                    f"host {host} applied topology {found.version}, not yet {published}"
                    + (f" ({found.error})" if found.error else ""))
            await asyncio.sleep(_APPLY_POLL)

    def _reader_for(self, hosts: str) -> Any:
        """A ZooKeeper client of its own for ``applied_by`` (the publisher's is the
        leader's, reconnected by its syncs); in a thread."""
        with self._reader_lock:
            if self._reader is not None and self._reader_hosts != hosts:
                self._close_reader()
            if self._reader is None:
                self._reader = connect(hosts, timeout=5.0)
                self._reader_hosts = hosts
            return self._reader

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.stop()
                reader.close()

    def _stop_reader(self) -> None:
        """In a thread: the lock is taken there, never on the event loop."""
        with self._reader_lock:
            self._close_reader()

    async def stop(self) -> None:
        view_state.remove_waker(self.view_changed)
        await asyncio.to_thread(self._close)
        await asyncio.to_thread(self._stop_reader)
        if self._starting is not None:  # started, or starting: wait, then stop it
            with contextlib.suppress(Exception):
                await self._starting
            await asyncio.to_thread(local_zookeeper.stop, self.cloud.settings.data_dir)


async def host_applied(cloud: Cloud, host: str | None) -> None:
    """Before a guest starts on ``host``: its VPC host agent applied the topology holding
    the guest's interfaces (``TopologyPublisher.applied_by``); no-op where this process
    publishes nothing."""
    publisher = cloud.runtime.get(PUBLISHER)
    if publisher is not None and host:
        await publisher.applied_by(host)


async def start_publisher(cloud: Cloud) -> None:
    """Run the publisher in this (leader) process; API changes wake it."""
    if PUBLISHER in cloud.runtime:
        return
    publisher = TopologyPublisher(cloud, leader=lambda: cloud.runs_controllers)
    cloud.runtime[PUBLISHER] = publisher
    cloud.runtime.setdefault(common.WAKERS, list).append(publisher)
    view_state.add_waker(publisher.view_changed)  # group changes (EDGE's tables)

    def publish_changed(name: str, value: Any) -> None:
        del name, value
        publisher.resync_now()

    for prop in (properties.ZOOKEEPER, net_config.NETWORK_CONFIGURATION):
        cloud.properties.on_change(prop.name, publish_changed)
    cloud.spawn(publisher.run(), publisher.name)
