"""EBS on Ceph RBD, restores across zones whose storage differs, and convergence after
kill -9 during a snapshot (file and RBD).

The module's one cloud has two zones: the first (the flows' zone) keeps volumes on RBD,
its property selecting ``ceph-rbd`` with the ``ceph_cluster`` fixture's connection, the
second in files; the flows are the API tests' own. The kill -9 tests restart it on
its data directory, as they restarted clouds of their own; on RBD the restarted cloud
fences the killed one's RADOS client and finishes the snapshot well within the OSDs'
watch timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from storagectl.blocks import GIB, open_block_backend
from tests.api.test_ebs_flows import (
    FAST,
    flow_share_snapshot,
    flow_snapshot_restore_grow_copy,
    flow_volume_lifecycle,
    new_volume,
    wait_gone,
    wait_snapshot_gone,
    zone_of,
)
from tests.support import LiveCloud, new_cloud

pytestmark = pytest.mark.integration

ZONES = ("eucalyptus-1a", "eucalyptus-1b")  # volumes on RBD, volumes in files
WATCH_TIMEOUT = 30  # osd_client_watch_timeout, the test cluster's default


def use_rbd(cloud: LiveCloud, rbd: dict[str, Any], prefix: str, zone: str | None = None) -> None:
    zone = zone or zone_of(cloud)
    settings = {"blockstoragemanager": "ceph-rbd", "ceph.conf": rbd["conffile"],
                "ceph.keyring": rbd["keyring"], "ceph.user": rbd["client_name"],
                "ceph.pool": rbd["pool"], "ceph.prefix": prefix}
    cloud.set_properties(*[f"{zone}.storage.{k}={v}" for k, v in settings.items()])
    time.sleep(1.5)  # property poll


@pytest.fixture(scope="module")
def rbd_cloud(ceph_cluster: Any) -> Iterator[tuple[LiveCloud, dict[str, Any]]]:
    cloud = new_cloud()
    cloud.init("--zone", ZONES[0], "--zone", ZONES[1])
    cloud.start()
    rbd = {**ceph_cluster.rbd_config(), "prefix": f"t{uuid.uuid4().hex[:8]}."}
    try:
        use_rbd(cloud, rbd, rbd["prefix"], zone=ZONES[0])
        assert zone_of(cloud) == ZONES[0]
        yield cloud, rbd
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _backend_lists(kind: str, config: dict[str, Any]) -> tuple[list[str], list[str]]:
    async def run() -> tuple[list[str], list[str]]:
        backend = open_block_backend(kind, **config)  # type: ignore[arg-type]
        try:
            return await backend.list_volumes(), await backend.list_snapshots()
        finally:
            await backend.close()

    return asyncio.run(run())


def _write(kind: str, config: dict[str, Any], volume_id: str, mib: int) -> None:
    async def run() -> None:
        backend = open_block_backend(kind, **config)  # type: ignore[arg-type]
        try:
            chunk = os.urandom(1 << 20)
            for i in range(mib):
                await backend.write(volume_id, i << 20, chunk)
        finally:
            await backend.close()

    asyncio.run(run())


def test_rbd_volume_lifecycle(rbd_cloud: tuple[LiveCloud, dict[str, Any]]) -> None:
    cloud, rbd = rbd_cloud
    volume_id = new_volume(cloud, 1)
    assert volume_id in _backend_lists("ceph-rbd", rbd)[0]  # really on RBD
    cloud.client("ec2").delete_volume(VolumeId=volume_id)
    flow_volume_lifecycle(cloud)


def test_rbd_snapshot_restore_grow_copy(rbd_cloud: tuple[LiveCloud, dict[str, Any]]) -> None:
    flow_snapshot_restore_grow_copy(rbd_cloud[0])


def test_rbd_share_snapshot(rbd_cloud: tuple[LiveCloud, dict[str, Any]]) -> None:
    flow_share_snapshot(rbd_cloud[0], "ebs-share-rbd")


def _rados_clients(cloud: LiveCloud) -> list[str]:
    """The addresses of the cloud's RADOS clients on record (storagectl.clientrecords)."""
    records = Path(cloud.data_dir) / "run" / "rados-clients"
    return sorted(json.loads(path.read_text())["addr"] for path in records.glob("*.json"))


class Crash(NamedTuple):
    clients: list[str]  # the killed cloud's RADOS clients on record
    completed_in: float  # seconds from the restarted cloud's start to the snapshot's end
    said: str  # the server's log from the kill to the snapshot's end


def _crash_during_snapshot(cloud: LiveCloud, kind: str, config: dict[str, Any],
                           zone: str) -> Crash:
    ec2 = cloud.client("ec2")
    volume_id = ec2.create_volume(AvailabilityZone=zone, Size=2)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    _write(kind, config, volume_id, 384)  # data, so the copy takes a while
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    deadline = time.time() + 30
    while time.time() < deadline:  # kill once the backend copy is under way
        snap = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
        if snap["State"] != "pending" or snap["Progress"] != "0%":
            break
        time.sleep(0.05)
    killed_in = (snap["State"], snap["Progress"])
    clients, logged = _rados_clients(cloud), cloud.log_path.stat().st_size
    cloud.stop(signal.SIGKILL)
    cloud.start()
    restarted = time.monotonic()
    ec2 = cloud.client("ec2")
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=FAST)
    with open(cloud.log_path, "rb") as log:
        log.seek(logged)
        crash = Crash(clients, time.monotonic() - restarted, log.read().decode(errors="replace"))
    restored = ec2.create_volume(AvailabilityZone=zone, SnapshotId=snapshot_id)
    ec2.get_waiter("volume_available").wait(VolumeIds=[restored["VolumeId"]],
                                            WaiterConfig=FAST)
    volumes, snapshots = _backend_lists(kind, config)
    described = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert set(volumes) <= described | {volume_id, restored["VolumeId"]}, killed_in
    assert snapshot_id in snapshots
    for vid in (volume_id, restored["VolumeId"]):
        ec2.delete_volume(VolumeId=vid)
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    # RBD answers "busy" while a clone is being flattened; the reconcile loop retries
    # with backoff, so give it a few rounds on a loaded 2-core machine
    deadline = time.time() + 240
    while time.time() < deadline:
        volumes, snapshots = _backend_lists(kind, config)
        if volume_id not in volumes and snapshot_id not in snapshots and \
                restored["VolumeId"] not in volumes:
            break
        time.sleep(0.5)
    else:
        lines = [line for line in cloud.log_path.read_text(errors="replace").splitlines()
                 if any(key in line for key in (*volumes, *snapshots))]
        raise AssertionError(f"left in the backend: {volumes} {snapshots}; the server said:\n"
                             + "\n".join(lines[-40:]))
    return crash


def test_kill_9_during_snapshot_file(rbd_cloud: tuple[LiveCloud, dict[str, Any]]) -> None:
    cloud = rbd_cloud[0]
    _crash_during_snapshot(cloud, "file", {"root": str(Path(cloud.data_dir) / "volumes")},
                           ZONES[1])


def test_kill_9_during_snapshot_rbd(rbd_cloud: tuple[LiveCloud, dict[str, Any]]) -> None:
    cloud, rbd = rbd_cloud
    crash = _crash_during_snapshot(cloud, "ceph-rbd", rbd, ZONES[0])
    assert GIB  # sizes are GiB throughout
    # The restarted cloud fenced the killed one's RADOS client, so its lock on the volume
    # was taken over at once: not after the OSDs' watch timeout (30 s), as before.
    assert crash.clients, "the killed cloud recorded no RADOS client"
    for addr in crash.clients:
        assert f"blocklisted dead RADOS client {addr}" in crash.said
    assert crash.completed_in < WATCH_TIMEOUT / 2, crash.completed_in
    # and it opened the backend with the zone's stored properties, not the defaults
    # (librados's "conf_read_file ... not found", then a backoff until the next poll)
    assert "conf_read_file" not in crash.said


def _read(kind: str, config: dict[str, Any], volume_id: str, offset: int, length: int) -> bytes:
    async def run() -> bytes:
        backend = open_block_backend(kind, **config)  # type: ignore[arg-type]
        try:
            return await backend.read(volume_id, offset, length)
        finally:
            await backend.close()

    return asyncio.run(run())


def test_restore_snapshot_in_a_zone_with_other_storage(
        rbd_cloud: tuple[LiveCloud, dict[str, Any]]) -> None:
    """Zone a keeps volumes on RBD, zone b in files: a snapshot of either restores in
    the other (its data is copied across; only what the snapshot holds is written), and
    a restore larger than the snapshot keeps the extra space empty."""
    cloud, rbd = rbd_cloud
    files = {"root": str(Path(cloud.data_dir) / "volumes")}
    ec2 = cloud.client("ec2")
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()
                   ["AvailabilityZones"])
    assert zones == list(ZONES)
    stores = {ZONES[0]: ("ceph-rbd", rbd), ZONES[1]: ("file", files)}
    head, tail = os.urandom(1 << 20), os.urandom(4096)
    for source_zone, target_zone in ((ZONES[1], ZONES[0]), (ZONES[0], ZONES[1])):
        kind, config = stores[source_zone]
        volume_id = ec2.create_volume(AvailabilityZone=source_zone, Size=1)["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
        _write_at(kind, config, volume_id, {0: head, GIB - 4096: tail})
        snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id],
                                                  WaiterConfig=FAST)
        restored = ec2.create_volume(AvailabilityZone=target_zone, SnapshotId=snapshot_id,
                                     Size=2)["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[restored], WaiterConfig=FAST)
        described = ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]
        assert (described["AvailabilityZone"], described["Size"]) == (target_zone, 2)
        assert described["SnapshotId"] == snapshot_id
        target_kind, target_config = stores[target_zone]
        assert restored in _backend_lists(target_kind, target_config)[0]
        read = _read(target_kind, target_config, restored, 0, len(head))
        assert read == head, (source_zone, target_zone)
        assert _read(target_kind, target_config, restored, GIB - 4096, 4096) == tail
        assert _read(target_kind, target_config, restored, GIB, 4096) == bytes(4096)
        for vid in (volume_id, restored):
            ec2.delete_volume(VolumeId=vid)
        ec2.delete_snapshot(SnapshotId=snapshot_id)
        # gone before the module's cloud stops: a stop during an RBD delete waits for it
        for vid in (volume_id, restored):
            wait_gone(ec2, vid)
        wait_snapshot_gone(ec2, snapshot_id)


def _write_at(kind: str, config: dict[str, Any], volume_id: str,
              pieces: dict[int, bytes]) -> None:
    async def run() -> None:
        backend = open_block_backend(kind, **config)  # type: ignore[arg-type]
        try:
            for offset, data in pieces.items():
                await backend.write(volume_id, offset, data)
        finally:
            await backend.close()

    asyncio.run(run())
