"""kill -9 the cloud (API + controller) during a burst of run/terminate on the fake
node, start it again on the same data directory: every instance converges to running
or terminated, and the node holds exactly the running ones (no orphan files)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.api.test_compute_instances import register_image_set, wait_for
from tests.support import LiveCloud


@pytest.fixture
def crash_cloud(crash_shared: LiveCloud) -> LiveCloud:
    """The shared kill -9 cloud (fake node, no demo image; tests/api/conftest.py): the
    tests before this one on it leave no instance, so every instance here is the
    burst's."""
    return crash_shared


def _instances_dir(cloud: LiveCloud) -> Path:
    return cloud.data_dir / "node" / "images" / "instances"


def test_kill_9_during_burst_converges_without_orphans(crash_cloud: LiveCloud) -> None:
    cloud = crash_cloud
    images = register_image_set(cloud, cloud.data_dir / "crash-imgs")
    stop = threading.Event()
    launched: list[str] = []

    def burst() -> None:
        ec2 = cloud.client("ec2")
        while not stop.is_set():
            try:
                res = ec2.run_instances(ImageId=images["emi"], MinCount=3, MaxCount=3,
                                        InstanceType="t1.micro")
                ids = [i["InstanceId"] for i in res["Instances"]]
                launched.extend(ids)
                ec2.terminate_instances(InstanceIds=ids[:1])
            except (ClientError, BotoCoreError):
                time.sleep(0.05)

    worker = threading.Thread(target=burst)
    worker.start()
    wait_for(lambda: len(launched) >= 12, timeout=60)
    cloud.stop(signal.SIGKILL)
    time.sleep(0.5)
    stop.set()
    worker.join()
    cloud.start()
    ec2 = cloud.client("ec2")

    def settled() -> dict[str, str] | None:
        res = ec2.describe_instances()
        found = {i["InstanceId"]: i["State"]["Name"] for r in res["Reservations"]
                 for i in r["Instances"]}
        if set(found.values()) <= {"running", "terminated"}:
            return found
        return None

    final = wait_for(settled, timeout=90)
    assert set(launched) <= set(final)
    running = {i for i, s in final.items() if s == "running"}
    assert running
    wait_for(lambda: set(os.listdir(_instances_dir(cloud))) == running, timeout=60)
    nodes = json.loads(cloud.cli("--data-dir", str(cloud.data_dir), "--output", "json",
                                 "node", "list").stdout)
    assert [n["name"] for n in nodes] == ["local"] and nodes[0]["last_heartbeat"]
    ec2.terminate_instances(InstanceIds=sorted(running))
    wait_for(lambda: not os.listdir(_instances_dir(cloud)), timeout=60)
