"""The local ZooKeeper starter `cloudctl up` uses in VPC mode (netd.zookeeper)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from netd.zookeeper import LocalZooKeeper, ruok
from tests.infra.postgres import free_port

pytestmark = pytest.mark.integration


def test_start_adopts_a_live_server_keeps_data_and_stops_only_its_own(tmp_path: Path):
    port = free_port()
    zk = LocalZooKeeper(tmp_path / "zk", port=port)
    zk.start()
    pid = zk.running_pid()
    assert pid is not None and ruok("127.0.0.1", port)
    client = KazooClient(hosts=zk.connect)
    client.start(timeout=15)
    client.create("/cloud/probe", b"kept", makepath=True)
    client.stop()
    client.close()
    # A second starter on the same directory (cloudctl up run again) adopts the server.
    again = LocalZooKeeper(tmp_path / "zk", port=port)
    again.start()
    assert again.running_pid() == pid
    again.stop()
    assert not os.path.exists(f"/proc/{pid}") or again.running_pid() is None
    assert not ruok("127.0.0.1", port)
    # Started anew: the data survived, under a new process.
    zk.start()
    assert zk.running_pid() not in (None, pid)
    client = KazooClient(hosts=zk.connect)
    client.start(timeout=15)
    assert client.get("/cloud/probe")[0] == b"kept"
    client.stop()
    client.close()
    zk.stop()
    assert zk.running_pid() is None
    # A pid file naming someone else's process is never signalled.
    (tmp_path / "zk" / "zookeeper.pid").write_text(str(os.getpid()))
    assert zk.running_pid() is None
    zk.stop()
