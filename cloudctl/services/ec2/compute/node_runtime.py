"""The controller's clients to registered nodes, and the all-in-one local node.

``NodePool`` maps a node name to a ``NodeClient``: the in-process
``LocalNodeClient`` (address ``local``) that ``cloudctl up`` creates in worker 0,
or a ``RemoteNodeClient`` for ``https://host:port`` agents (mutual TLS with the
cloud CA). ``start_local_node`` chooses the driver (``cloud.node.local`` or
``CLOUDCTL_LOCAL_NODE``, which ``cloudctl up`` sets: libvirt, fake, none) and registers
the node.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.ec2.compute import nodes as nodes_mod
from cloudctl.services.network.config import LOCAL_NETNS
from nodectl.client import NodeClient

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.compute.nodes")
LOCAL_NODE_NAME = "local"


class NodePool:
    """Clients per node name; remote clients are created on first use."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.local: NodeClient | None = None
        self._remote: dict[str, Any] = {}
        self._drivers: list[Any] = []

    def client(self, name: str, address: str) -> NodeClient | None:
        if address == nodes_mod.LOCAL_ADDRESS:
            return self.local if name == LOCAL_NODE_NAME else None
        if address.startswith("fake://"):
            return self._fake(address[len("fake://"):] or name)
        found = self._remote.get(address)
        if found is None:
            try:
                from nodectl.remote import RemoteNodeClient
            except ImportError:
                return None
            ca_dir = self.cloud.settings.ca_dir
            services = ca_dir / "services"
            found = RemoteNodeClient(address, ca_dir / "ca.pem", services / "cloudctl.pem",
                                     services / "cloudctl.key")
            self._remote[address] = found
        client: NodeClient = found
        return client

    def _fake(self, name: str) -> NodeClient:
        """An in-process node on its own fake driver (``fake://NAME``: scale tests)."""
        found = self._remote.get(f"fake://{name}")
        if found is None:
            from nodectl.driver.fake import FakeDriver
            from nodectl.imagecache import ImageCache
            from nodectl.local import LocalNodeClient

            root = self.cloud.settings.data_dir / "fake-nodes" / name
            driver = FakeDriver(ImageCache(root / "images"), state_dir=root / "state")
            self._drivers.append(driver)
            found = LocalNodeClient(driver, driver.images, name)
            self._remote[f"fake://{name}"] = found
        client: NodeClient = found
        return client

    async def close(self) -> None:
        for address, client in self._remote.items():
            close = getattr(client, "close", None) if not address.startswith("fake://") else None
            if close is not None:
                await close()
        for driver in self._drivers:
            await asyncio.to_thread(driver.close)


NODES = RuntimeKey[NodePool]("compute.nodes")


def _libvirt_uri(mode: str, uri: str) -> str | None:
    """The URI to drive, or None for the fake driver (only when asked for: no libvirt
    is an error, never a silent fallback to fake guests)."""
    if mode == "fake":
        return None
    import libvirt

    libvirt.open(uri).close()
    return uri


def local_capacity(client: NodeClient, cores: int, memory_mib: int) -> tuple[int, int]:
    """What the local node offers: the host's size, or a roomy 64 cores / 64 GiB for the fake
    (fake guests use nothing); CLOUDCTL_LOCAL_NODE_CORES / _MEMORY_MIB override both."""
    driver = getattr(client, "driver", None)
    if type(driver).__name__ == "FakeDriver":
        cores, memory_mib = max(cores, 64), max(memory_mib, 65536)
    return (int(os.environ.get("CLOUDCTL_LOCAL_NODE_CORES", cores)),
            int(os.environ.get("CLOUDCTL_LOCAL_NODE_MEMORY_MIB", memory_mib)))


async def start_local_node(cloud: Cloud, pool: NodePool) -> None:
    """Create the in-process node of ``cloudctl up`` and register it (worker 0 only)."""
    mode = os.environ.get("CLOUDCTL_LOCAL_NODE") or str(cloud.properties.get(nodes_mod.LOCAL_NODE))
    if mode == "none":
        return
    uri = os.environ.get("CLOUDCTL_LIBVIRT_URI") or str(cloud.properties.get(nodes_mod.LIBVIRT_URI))
    root = cloud.settings.data_dir / "node"
    root.mkdir(parents=True, exist_ok=True)
    from nodectl.imagecache import ImageCache
    from nodectl.local import LocalNodeClient

    def build() -> Any:
        chosen = _libvirt_uri(mode, uri)
        if chosen is None:
            from nodectl.driver.fake import FakeDriver

            return FakeDriver(ImageCache(root / "images"), state_dir=root / "fake")
        from nodectl.driver.libvirt_driver import LibvirtDriver

        return LibvirtDriver(chosen, ImageCache(root / "images"), "qemu")

    driver = await asyncio.to_thread(build)
    pool._drivers.append(driver)
    bundle_key = cloud.settings.ca_dir / "cloud-bundle.key"
    netns = ""
    if type(driver).__name__ != "FakeDriver":  # guests on br-cloud in the libvirtd's netns
        from cloudctl.services.ec2.network.instance_network import local_node_netns, notify

        netns = local_node_netns(uri) or ""
        if netns:
            cloud.runtime[LOCAL_NETNS] = netns
            notify()
    pool.local = LocalNodeClient(driver, driver.images, LOCAL_NODE_NAME, netns=netns,
                                 bundle_key=bundle_key if bundle_key.exists() else None,
                                 stop_grace=float(os.environ.get("CLOUDCTL_STOP_GRACE", "30")))
    info = await pool.local.node_info()
    cores, memory_mib = local_capacity(pool.local, info.cores, info.memory_mib)
    zones = [z for zs in cloud.region_zones.values() for z in zs]
    zone = os.environ.get("CLOUDCTL_LOCAL_NODE_ZONE") or (zones[0] if zones else "default")
    async with cloud.sessions() as session, session.begin():
        await nodes_mod.register_node(session, LOCAL_NODE_NAME, zone, nodes_mod.LOCAL_ADDRESS,
                                      cores=cores, memory_mib=memory_mib,
                                      virt_type=info.virt_type)
        await nodes_mod.record_heartbeat(session, LOCAL_NODE_NAME, cores=cores,
                                         memory_mib=memory_mib, virt_type=info.virt_type)
    log.info("local node %s: %s driver, %d cores, %d MiB", LOCAL_NODE_NAME,
             type(driver).__name__, cores, memory_mib)


def local_cache_dirs(client: NodeClient) -> list[str]:
    """Instance directories an in-process node holds (for orphan cleanup); [] if remote."""
    cache = getattr(client, "cache", None)
    staged = getattr(cache, "staged_instances", None)
    return list(staged()) if staged is not None else []
