"""A forced detach is intent in the database: served by either worker, done by the
controller wherever it runs, and kept across a restart.

Two API workers share the port; the instance controller runs in one of them. The
instance lives on a ``nodectl agent --driver fake`` in its own process, registered
as a remote node; killing that agent makes the node unreachable, which is when
``DetachVolume --force`` matters: the controller marks the volume detached without
the node. Several volumes are detached so that, with the kernel spreading
connections over both workers, some requests land on the worker without the
controller (the chance that none does is 1 in 2**6).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudctl.pki import CertPaths, issue
from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.infra.node_agent import agent_argv, start_agent
from tests.infra.postgres import free_port
from tests.support import LiveCloud, new_cloud


class FakeAgent:
    """``nodectl agent --driver fake`` in its own process."""

    def __init__(self, root: Path, ca: CertPaths, name: str = "node1") -> None:
        self.root, self.port, self.name = root, free_port(), name
        self.certs = issue(ca, root / "pki", name, ["127.0.0.1"])
        self.ca = ca.cert
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        state = self.root / "state"
        state.mkdir(parents=True, exist_ok=True)
        self.process = start_agent(
            agent_argv(f"127.0.0.1:{self.port}", state, self.ca, self.certs, self.name),
            self.root / "agent.log")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveCloud, FakeAgent]]:
    monkeypatch.setenv("CLOUDCTL_LOCAL_NODE", "none")
    monkeypatch.setenv("CLOUDCTL_DEMO_IMAGE", "0")
    root = Path(tempfile.mkdtemp(prefix="force-detach-"))
    cloud = new_cloud()
    agent: FakeAgent | None = None
    try:
        cloud.start(workers=2)
        agent = FakeAgent(root, CertPaths(cloud.data_dir / "ca" / "ca.pem",
                                          cloud.data_dir / "ca" / "ca.key"))
        agent.start()
        zone = cloud.client("ec2").describe_availability_zones()[
            "AvailabilityZones"][0]["ZoneName"]
        cloud.cli("node", "register", "node1", "--zone", zone, "--address", agent.address)
        cloud.set_properties("cloud.vmstate.reconcile_interval_sec=1")

        def node_up() -> bool:
            nodes = json.loads(cloud.cli("--output", "json", "node", "list").stdout)
            return any(n["name"] == "node1" and n["last_heartbeat"] for n in nodes)

        wait_for(node_up, 60)
        yield cloud, agent
    finally:
        cloud.stop()
        if agent is not None:
            agent.kill()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def _volume(ec2: Any, vid: str) -> dict[str, Any]:
    out: dict[str, Any] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
    return out


def _attached_volumes(cloud: LiveCloud, iid: str, zone: str, devices: str) -> list[str]:
    ec2 = cloud.client("ec2")
    vids = [str(ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"])
            for _ in devices]
    wait_for(lambda: all(_volume(ec2, v)["State"] == "available" for v in vids))
    for letter, vid in zip(devices, vids, strict=True):
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device=f"/dev/sd{letter}")
    wait_for(lambda: all(_volume(ec2, v)["Attachments"][0]["State"] == "attached"
                         for v in vids), 60)
    return vids


def test_forced_detach_by_any_worker_happens_and_survives_restart(
        two_workers: tuple[LiveCloud, FakeAgent], tmp_path: Path) -> None:
    cloud, agent = two_workers
    ec2 = cloud.client("ec2")
    zone = str(ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"])
    images = register_image_set(cloud, tmp_path / "fd")
    iid = str(ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                                InstanceType="t1.micro")["Instances"][0]["InstanceId"])
    wait_for(lambda: states(cloud, [iid])[iid] == "running", 60)
    now = _attached_volumes(cloud, iid, zone, "fghijk")
    later = _attached_volumes(cloud, iid, zone, "lmnopq")
    agent.kill()  # the node is gone: only a forced detach can complete

    for vid in now:  # each on a new connection: spread over both workers
        assert cloud.client("ec2").detach_volume(VolumeId=vid, Force=True)["State"] == "detaching"
    wait_for(lambda: all(_volume(ec2, v)["State"] == "available" for v in now), 60)

    # the controller resyncs once an hour from here: what the workers' wake-ups did not
    # reach before the stop must be done from the database after the restart
    cloud.set_properties("cloud.vmstate.reconcile_interval_sec=3600")
    for vid in later:
        cloud.client("ec2").detach_volume(VolumeId=vid, Force=True)
    cloud.stop()
    cloud.start(workers=2)
    ec2 = cloud.client("ec2")
    wait_for(lambda: all(_volume(ec2, v)["State"] == "available" for v in later), 60)
    assert all(_volume(ec2, v)["Attachments"] == [] for v in now + later)
