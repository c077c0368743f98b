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


class EnsembleNode(LocalZooKeeper):
    """One server of a ZooKeeper ensemble, run inside a network namespace.

    ``peers`` maps each server id to its address (``server.N=addr:2888:3888``); this
    node is ``myid`` and listens for clients on ``peers[myid]:port`` inside ``netns``.
    ``start`` does not wait for the quorum (the first node alone has none): ``serving``
    says whether it answers clients as a leader or follower.
    """

    def __init__(self, root: Path, netns: str, myid: int, peers: dict[int, str],
                 port: int = 2181) -> None:
        super().__init__(root, port=port, host=peers[myid])
        self.netns, self.myid, self.peers = netns, myid, peers

    def _write_config(self) -> Path:
        cfg = super()._write_config()
        (self.root / "data" / "myid").write_text(f"{self.myid}\n")
        servers = "".join(f"server.{n}={addr}:2888:3888\n"
                          for n, addr in sorted(self.peers.items()))
        cfg.write_text(cfg.read_text() + "initLimit=10\nsyncLimit=4\n" + servers)
        return cfg

    def start(self, timeout: float = 30.0) -> None:
        import subprocess

        from netd.netns import exec_prefix
        from netd.zookeeper import MAIN, _java, classpath

        java = _java()
        assert java is not None
        cfg = self._write_config()
        with open(self.root / "stdout.log", "ab") as log:
            self.proc = subprocess.Popen(
                [*exec_prefix(self.netns), java, "-Xmx128m", "-XX:+UseSerialGC",
                 "-XX:TieredStopAtLevel=1",
                 f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}",
                 "-cp", classpath(), MAIN, str(cfg)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.root)
        self.pidfile.write_text(str(self.proc.pid))

    def mode(self) -> str | None:
        """``leader``/``follower`` when serving clients (``srvr``), else None."""
        import socket

        from netd.netns import run_in

        def ask() -> str | None:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    sock.settimeout(1)
                    sock.sendall(b"srvr")
                    data = b""
                    while chunk := sock.recv(4096):
                        data += chunk
            except OSError:
                return None
            for line in data.decode(errors="replace").splitlines():
                if line.startswith("Mode:"):
                    return line.split(":", 1)[1].strip()
            return None

        return run_in(self.netns, ask)

    def serving(self) -> bool:
        return self.mode() in ("leader", "follower")
