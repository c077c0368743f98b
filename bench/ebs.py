"""EBS create-volume-from-snapshot: through the API vs the bare backend call.

For each backend (file, and Ceph RBD on a single-node memstore cluster from
tests/infra/ceph.py) a live cloud (``cloudctl up``) makes a 1 GiB volume with
64 MiB of data and snapshots it; then N times:

* API: CreateVolume(SnapshotId) -> DescribeVolumes until ``available`` (boto3,
  polling every 20 ms), i.e. what a user waits for;
* bare: ``BlockBackend.create_volume_from_snapshot`` on the same snapshot.

Across zones (with Ceph): a cloud with zone a on files and zone b on RBD restores the
file snapshot in zone b (the data is copied), against ``rbd import`` of the same
snapshot file (the bare tool for the same copy).

Medians (and p90) are written to bench/results/ebs.md.
Run: ``python -m bench.ebs [-n 15] [--no-ceph]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from storagectl.blocks import open_block_backend
from tests.support import LiveCloud, new_cloud

RESULTS = Path(__file__).resolve().parent / "results" / "ebs.md"


def wait_state(ec2: Any, volume_id: str, state: str = "available") -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        vol = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        if vol["State"] == state:
            return
        if vol["State"] == "error":
            raise RuntimeError(f"{volume_id} in error")
        time.sleep(0.02)
    raise TimeoutError(volume_id)


def wait_snapshot(ec2: Any, snapshot_id: str) -> None:
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id],
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 300})


def set_rbd(cloud: LiveCloud, zone: str, rbd: dict[str, Any]) -> None:
    values = {"blockstoragemanager": "ceph-rbd", "ceph.conf": rbd["conffile"],
              "ceph.keyring": rbd["keyring"], "ceph.user": rbd["client_name"],
              "ceph.pool": rbd["pool"], "ceph.prefix": rbd["prefix"]}
    cloud.cli("property", "set", *[f"{zone}.storage.{k}={v}" for k, v in values.items()])
    time.sleep(1.5)


def measure(cloud: LiveCloud, kind: str, config: dict[str, Any], n: int) -> dict[str, float]:
    ec2 = cloud.client("ec2")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    if kind == "ceph-rbd":
        set_rbd(cloud, zone, config)
    vol = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    wait_state(ec2, vol)

    async def fill_and_bare(snapshot_id: str | None) -> list[float]:
        backend = open_block_backend(kind, **config)  # type: ignore[arg-type]
        try:
            if snapshot_id is None:
                chunk = os.urandom(1 << 20)
                for i in range(64):
                    await backend.write(vol, i << 20, chunk)
                return []
            times = []
            for _ in range(n):
                target = f"vol-bench{uuid.uuid4().hex[:9]}"
                start = time.perf_counter()
                await backend.create_volume_from_snapshot(target, snapshot_id, 1)
                times.append(time.perf_counter() - start)
                await backend.delete_volume(target)
            return times
        finally:
            await backend.close()

    asyncio.run(fill_and_bare(None))
    snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
    wait_snapshot(ec2, snap)
    api: list[float] = []
    made = []
    for _ in range(n):
        start = time.perf_counter()
        new = ec2.create_volume(AvailabilityZone=zone, SnapshotId=snap)["VolumeId"]
        wait_state(ec2, new)
        api.append(time.perf_counter() - start)
        made.append(new)
    bare = asyncio.run(fill_and_bare(snap))
    for volume_id in [*made, vol]:
        ec2.delete_volume(VolumeId=volume_id)
    ec2.delete_snapshot(SnapshotId=snap)

    def p90(xs: list[float]) -> float:
        return sorted(xs)[max(0, int(len(xs) * 0.9) - 1)]

    return {"api_median": statistics.median(api), "api_p90": p90(api),
            "bare_median": statistics.median(bare), "bare_p90": p90(bare)}


def measure_across(rbd: dict[str, Any], n: int) -> dict[str, float]:
    """Restore a zone-a (file) snapshot in zone b (RBD) vs ``rbd import`` of its file."""
    cloud = new_cloud()
    subprocess.run([sys.executable, "-m", "cloudctl", "init", "--zone", "eucalyptus-1a",
                    "--zone", "eucalyptus-1b"], env=cloud.env(), check=True,
                   capture_output=True)
    cloud.start()
    try:
        set_rbd(cloud, "eucalyptus-1b", rbd)
        ec2 = cloud.client("ec2")
        vol = ec2.create_volume(AvailabilityZone="eucalyptus-1a", Size=1)["VolumeId"]
        wait_state(ec2, vol)
        files = {"root": str(Path(cloud.data_dir) / "volumes")}

        async def fill() -> None:
            backend = open_block_backend("file", **files)  # type: ignore[arg-type]
            try:
                chunk = os.urandom(1 << 20)
                for i in range(64):
                    await backend.write(vol, i << 20, chunk)
            finally:
                await backend.close()

        asyncio.run(fill())
        snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        wait_snapshot(ec2, snap)
        api: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            new = ec2.create_volume(AvailabilityZone="eucalyptus-1b",
                                    SnapshotId=snap)["VolumeId"]
            wait_state(ec2, new)
            api.append(time.perf_counter() - start)
            ec2.delete_volume(VolumeId=new)
        snapshot_file = Path(files["root"]) / "snapshots" / f"{snap}.raw"
        bare: list[float] = []
        for _ in range(n):
            image = f"{rbd['prefix']}import.{uuid.uuid4().hex[:8]}"
            argv = ["rbd", "--conf", rbd["conffile"], "--keyring", rbd["keyring"],
                    "--id", rbd["client_name"].split(".", 1)[1], "--pool", rbd["pool"]]
            start = time.perf_counter()
            subprocess.run([*argv, "import", "--image-format", "2", str(snapshot_file),
                            image], check=True, capture_output=True)
            bare.append(time.perf_counter() - start)
            subprocess.run([*argv, "rm", image], check=True, capture_output=True)
        ec2.delete_volume(VolumeId=vol)
        ec2.delete_snapshot(SnapshotId=snap)
        return {"api_median": statistics.median(api), "api_p90": _p90(api),
                "bare_median": statistics.median(bare), "bare_p90": _p90(bare)}
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _p90(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.9) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=15)
    parser.add_argument("--no-ceph", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = []
    across: dict[str, float] | None = None
    cloud = new_cloud()
    cloud.start()
    try:
        rows.append(("file", measure(cloud, "file",
                                     {"root": str(Path(cloud.data_dir) / "volumes")}, args.n)))
        if not args.no_ceph:
            from tests.infra.ceph import start_cluster

            cluster = start_cluster()
            try:
                rbd = {**cluster.rbd_config(), "prefix": f"b{uuid.uuid4().hex[:6]}."}
                rows.append(("ceph-rbd", measure(cloud, "ceph-rbd", rbd, args.n)))
                across = measure_across({**rbd, "prefix": f"x{uuid.uuid4().hex[:6]}."},
                                        max(3, args.n // 3))
            finally:
                cluster.stop()
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
    lines = ["# EBS: create volume from snapshot (1 GiB, 64 MiB data)", "",
             f"N = {args.n} per backend; `python -m bench.ebs`; 2-core host, one API worker.",
             "API = CreateVolume(SnapshotId) until DescribeVolumes says `available` "
             "(20 ms polling); bare = `create_volume_from_snapshot` on the same snapshot.", "",
             "| backend | API median | API p90 | bare median | bare p90 |",
             "|---|---|---|---|---|"]
    for kind, r in rows:
        lines.append(f"| {kind} | {r['api_median'] * 1000:.0f} ms | {r['api_p90'] * 1000:.0f} ms"
                     f" | {r['bare_median'] * 1000:.1f} ms | {r['bare_p90'] * 1000:.1f} ms |")
    if across is not None:
        lines += ["", "## Restore in another zone (file snapshot -> RBD zone, data copied)", "",
                  "API = CreateVolume(SnapshotId) in zone b until `available`; bare = "
                  "`rbd import` of the same sparse snapshot file (64 MiB of data in 1 GiB).", "",
                  "| path | API median | API p90 | bare median | bare p90 |", "|---|---|---|---|---|",
                  f"| file -> ceph-rbd | {across['api_median'] * 1000:.0f} ms | "
                  f"{across['api_p90'] * 1000:.0f} ms | {across['bare_median'] * 1000:.0f} ms | "
                  f"{across['bare_p90'] * 1000:.0f} ms |"]
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
