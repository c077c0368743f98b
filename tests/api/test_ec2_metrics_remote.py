"""Metrics from a remote node agent (``nodectl agent --driver fake`` in its own process,
mutual TLS): the collector reads ``GET /v1/stats`` as the controller; when the agent
dies, its instances' system status check fails (DescribeInstanceStatus ``impaired``,
``StatusCheckFailed_System`` 1) while the instances stay running."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudctl.pki import CertPaths
from tests.api.test_compute_force_detach import FakeAgent
from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.api.test_ec2_metrics import _names, _stats
from tests.support import LiveCloud, new_cloud


@pytest.fixture
def remote_node(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveCloud, FakeAgent]]:
    monkeypatch.setenv("CLOUDCTL_LOCAL_NODE", "none")
    monkeypatch.setenv("CLOUDCTL_DEMO_IMAGE", "0")
    root = Path(tempfile.mkdtemp(prefix="cw-remote-"))
    cloud = new_cloud()
    agent: FakeAgent | None = None
    try:
        cloud.start()
        agent = FakeAgent(root, CertPaths(cloud.data_dir / "ca" / "ca.pem",
                                          cloud.data_dir / "ca" / "ca.key"))
        agent.start()
        zone = cloud.client("ec2").describe_availability_zones()[
            "AvailabilityZones"][0]["ZoneName"]
        cloud.cli("node", "register", "node1", "--zone", zone, "--address", agent.address)
        cloud.set_properties("cloud.vmstate.reconcile_interval_sec=1",
                             "cloud.monitoring.detailed_period_sec=2")

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


def test_remote_node_metrics_and_system_check(remote_node: tuple[LiveCloud, FakeAgent],
                                             tmp_path: Path) -> None:
    cloud, agent = remote_node
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    images = register_image_set(cloud, tmp_path / "rn")
    iid = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                            InstanceType="t1.micro",
                            Monitoring={"Enabled": True})["Instances"][0]["InstanceId"]
    wait_for(lambda: states(cloud, [iid])[iid] == "running", 60)
    mine = [{"Name": "InstanceId", "Value": iid}]
    wait_for(lambda: "NetworkIn" in _names(cw, "AWS/EC2", mine), 60)
    assert _stats(cw, "CPUUtilization", mine)["Average"] == pytest.approx(2.0, abs=0.5)
    assert _stats(cw, "StatusCheckFailed_System", mine)["Maximum"] == 0.0

    def status() -> dict[str, str]:
        got = ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"][0]
        return {"system": got["SystemStatus"]["Status"],
                "instance": got["InstanceStatus"]["Status"]}

    assert status() == {"system": "ok", "instance": "ok"}
    agent.kill()
    wait_for(lambda: status()["system"] == "impaired", 60)
    got = ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"][0]
    assert got["SystemStatus"]["Details"][0]["Status"] == "failed"
    assert states(cloud, [iid])[iid] == "running"
    wait_for(lambda: _stats(cw, "StatusCheckFailed_System", mine)["Maximum"] == 1.0, 30)
    assert _stats(cw, "StatusCheckFailed", mine)["Maximum"] == 1.0
