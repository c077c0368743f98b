"""A private ZooKeeper server for the test suite (Debian's `zookeeper`, no systemd).

``start_zookeeper`` runs QuorumPeerMain through `netd.zookeeper.LocalZooKeeper`
(the same starter `cloudctl up` uses) under a temp directory on a free
loopback port; ``ZooKeeperServer.kill``/``restart`` serve the crash tests and
``stop`` stops exactly that server and removes its directory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from netd.zookeeper import LocalZooKeeper
from tests.infra.postgres import free_port


class ZooKeeperServer(LocalZooKeeper):
    def restart(self) -> None:
        self.kill()
        self.proc = None
        self.start()

    def client(self) -> object:
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=self.connect, timeout=5.0)
        zk.start(timeout=15)
        return zk

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_zookeeper() -> ZooKeeperServer:
    root = Path(tempfile.mkdtemp(prefix="cloudctl-zk-"))
    server = ZooKeeperServer(root, port=free_port())
    server.start()
    return server


def zookeeper_session() -> Iterator[ZooKeeperServer]:
    server = start_zookeeper()
    try:
        yield server
    finally:
        server.remove()
