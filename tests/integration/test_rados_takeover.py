"""A new RBD connection fences the dead RADOS clients of this host on record, and only
those (storagectl.clientrecords), on the single-node cluster of tests/infra/ceph.py.

A process holding an image's exclusive lock is killed; the next connection with the same
record directory blocklists its client and takes the lock over at once, not after the
OSDs' watch timeout (30 s). A live process's client, this process's earlier connection
and a client recorded by another host are left alone; a key without the blocklist cap
only loses the fast take-over.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from storagectl.blocks.rbd import RbdBlockBackend
from storagectl.cephconn import PoolConnection
from storagectl.clientrecords import ClientRecord, boot_id
from tests.infra.ceph import CephCluster

pytestmark = pytest.mark.integration

WATCH_TIMEOUT = 30  # osd_client_watch_timeout, the test cluster's default
VOLUME = "vol-takeover"

# Holds the volume's exclusive lock, recorded in the directory given, until killed.
_HOLDER = """
import asyncio, json, sys, time
import rbd
from storagectl.cephconn import PoolConnection

config, image = json.loads(sys.argv[1]), sys.argv[2]

def hold(io):
    img = rbd.Image(io, image)
    img.write(b"held" * 1024, 0)
    img.flush()
    print("holding", flush=True)
    time.sleep(600)

asyncio.run(PoolConnection(**config).call(hold))
"""


def _admin(cluster: CephCluster) -> Any:
    import rados

    admin = rados.Rados(conffile=str(cluster.conf_path), name="client.admin",
                        conf={"keyring": str(cluster.keyring_path)})
    admin.connect(timeout=30)
    return admin


def _blocklisted(cluster: CephCluster) -> set[str]:
    admin = _admin(cluster)
    try:
        ret, out, err = admin.mon_command(
            json.dumps({"prefix": "osd blocklist ls", "format": "json"}), b"")
        assert ret == 0, err
        # pacific prints the address list, then the (empty) range list: read the first
        entries, _ = json.JSONDecoder().raw_decode(out.decode())
        return {entry["addr"] for entry in entries}
    finally:
        admin.shutdown()


def _records(directory: Path) -> dict[int, str]:
    """pid -> client address of the records in ``directory``."""
    found = {}
    for path in directory.glob("*.json"):
        record = json.loads(path.read_text())
        found[record["pid"]] = record["addr"]
    return found


async def test_a_killed_holder_is_fenced_and_its_lock_taken_over(
        ceph_cluster: CephCluster, tmp_path: Path) -> None:
    records = tmp_path / "rados-clients"
    config = {**ceph_cluster.rbd_config(), "prefix": f"t{uuid.uuid4().hex[:8]}.",
              "client_records": str(records)}
    setup = RbdBlockBackend(**config)
    await setup.create_volume(VOLUME, 1)
    await setup.close()
    assert not _records(records)  # a closed connection leaves no record

    conn = {k: v for k, v in config.items() if k != "prefix"}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with subprocess.Popen(
            [sys.executable, "-c", _HOLDER, json.dumps(conn),
             f"{config['prefix']}volume.{VOLUME}"],
            stdout=subprocess.PIPE, env=env, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
            held_by = _records(records)[holder.pid]

            # the holder lives: a new connection leaves it alone
            alive = RbdBlockBackend(**config)
            assert await alive.volume_exists(VOLUME)
            assert held_by not in _blocklisted(ceph_cluster)
            await alive.close()

            holder.send_signal(signal.SIGKILL)
            # the restarted process: fences the dead holder, takes its lock over at once
            backend = RbdBlockBackend(**config)
            try:
                started = time.monotonic()
                await backend.write(VOLUME, 0, b"mine" * 1024)
                took = time.monotonic() - started
                # unfenced, librbd waits for the watch to time out (and then blocklists
                # the holder itself): the time tells the two apart
                assert took < WATCH_TIMEOUT / 2, f"took the lock over in {took:.1f} s"
                assert await backend.read(VOLUME, 0, 4) == b"mine"
                assert held_by in _blocklisted(ceph_cluster)
                assert holder.pid not in _records(records)  # fenced, forgotten
                assert list(_records(records)) == [os.getpid()]
                await backend.delete_volume(VOLUME)
            finally:
                await backend.close()
        finally:
            holder.kill()  # the with waits for it


async def test_live_own_and_other_hosts_clients_are_never_fenced(
        ceph_cluster: CephCluster, tmp_path: Path) -> None:
    records = tmp_path / "rados-clients"
    config = {**ceph_cluster.rbd_config(), "client_records": str(records)}
    first = PoolConnection(**config)
    bystander = PoolConnection(**ceph_cluster.rbd_config())  # not on record
    await first.call(lambda io: io.write_full("first", b"1"))
    await bystander.call(lambda io: io.write_full("bystander", b"1"))
    first_addr = next(iter(_records(records).values()))
    bystander_addr = str(bystander._cluster.get_addrs())
    # another host's record (its pid means nothing here) naming a live client's address
    foreign = ClientRecord(host=f"not-{socket.gethostname()}", boot_id="elsewhere",
                           pid=2 ** 22 + 1, started="1",
                           fsid=str(bystander._cluster.get_fsid()),
                           client_name="client.storagectl", addr=bystander_addr)
    (records / "foreign.json").write_text(json.dumps(asdict(foreign)))
    second = PoolConnection(**config)
    try:
        await second.call(lambda io: io.write_full("second", b"1"))
        fenced = _blocklisted(ceph_cluster)
        assert first_addr not in fenced and bystander_addr not in fenced
        # both still write: neither was cut off
        await first.call(lambda io: io.write_full("first", b"2"))
        await bystander.call(lambda io: io.write_full("bystander", b"2"))
        assert (records / "foreign.json").exists()
    finally:
        for conn in (first, second, bystander):
            await conn.close()
    assert list(records.glob("*.json")) == [records / "foreign.json"]


async def test_without_the_blocklist_cap_the_connection_still_opens(
        ceph_cluster: CephCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    admin = _admin(ceph_cluster)
    name = f"client.nofence{uuid.uuid4().hex[:6]}"
    try:
        ret, keyring, err = admin.mon_command(json.dumps({
            "prefix": "auth get-or-create", "entity": name,
            "caps": ["mon", "allow r", "osd", f"allow rwx pool={ceph_cluster.volumes_pool}"]}),
            b"")
        assert ret == 0, err
        fsid = str(admin.get_fsid())
    finally:
        admin.shutdown()
    (tmp_path / "nofence.keyring").write_bytes(keyring)
    records = tmp_path / "rados-clients"
    records.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = ClientRecord(host=socket.gethostname(), boot_id=boot_id(), pid=dead.pid,
                          started="1", fsid=fsid, client_name=name, addr="127.0.0.1:0/4242")
    (records / f"{dead.pid}.0.json").write_text(json.dumps(asdict(record)))
    config = {**ceph_cluster.rbd_config(), "client_name": name,
              "keyring": str(tmp_path / "nofence.keyring"), "client_records": str(records)}
    conn = PoolConnection(**config)
    try:
        with caplog.at_level(logging.WARNING, logger="storagectl.clientrecords"):
            await conn.call(lambda io: io.write_full("nofence", b"1"))
        assert any("could not blocklist dead RADOS client 127.0.0.1:0/4242" in r.message
                   for r in caplog.records)
        assert not (records / f"{dead.pid}.0.json").exists()  # tried once, not each time
    finally:
        await conn.close()

