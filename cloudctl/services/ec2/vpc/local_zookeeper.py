"""The cloud's own ZooKeeper when none is configured: VPC mode without
``cloud.network.zookeeper`` runs one standalone server under the data directory
(``netd.zookeeper.LocalZooKeeper``: Debian's package, loopback only).

Its port is chosen once (a free loopback port) and kept in ``<data>/zookeeper/port`` so
a restarted cloud adopts the same server (and its data: hosts resync from it).
"""

from __future__ import annotations

import socket
from pathlib import Path

from netd.zookeeper import LocalZooKeeper, available


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server(data_dir: Path) -> LocalZooKeeper:
    root = Path(data_dir) / "zookeeper"
    root.mkdir(parents=True, exist_ok=True)
    record = root / "port"
    try:
        port = int(record.read_text().strip())
    except (OSError, ValueError):
        port = _free_port()
        record.write_text(f"{port}\n")
    return LocalZooKeeper(root, port=port)


def start(data_dir: Path) -> str | None:
    """Start (or adopt) the local server; its connect string, None when not installed."""
    if not available():
        return None
    zk = server(data_dir)
    zk.start()
    return zk.connect


def running(data_dir: Path) -> str | None:
    """The connect string of the local server when it runs (for ``network show``)."""
    root = Path(data_dir) / "zookeeper"
    if not (root / "port").exists():
        return None
    zk = server(data_dir)
    return zk.connect if zk.running_pid() is not None else None


def stop(data_dir: Path) -> None:
    root = Path(data_dir) / "zookeeper"
    if (root / "port").exists():
        server(data_dir).stop()
