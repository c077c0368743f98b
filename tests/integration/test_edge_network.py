"""EDGE networking end to end: API calls through boto3 -> controller -> netd -> real packets.

A `netd.lab` topology stands in for the hypervisor host (namespace `h1` with
`ul0` on the underlay), the outside world (a router namespace holding
198.51.100.1) and the instances (namespaces plugged into `br-cloud` of `h1`
through taps named like libvirt's). The live cloud drives `h1` through
`cloud.network.hosts`; instances are recorded the way RunInstances will
(`tests.api.network_helpers.launch`). Everything is torn down at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

pytest.importorskip("nftables")
pytest.importorskip("pyroute2")
if os.geteuid() != 0 or shutil.which("dnsmasq") is None:
    pytest.fail("needs root and dnsmasq: run scripts/install-deps.sh", pytrace=False)

from netd import host as netd_host  # noqa: E402
from netd.lab import Lab, Listener, tcp_probe, wait_until  # noqa: E402
from tests.api.network_helpers import launch, terminate  # noqa: E402
from tests.support import LiveCloud, new_cloud  # noqa: E402

GATEWAY = "10.111.0.1"


class Edge:
    """The lab, the live cloud driving host h1, and instance namespaces."""

    def __init__(self, lab: Lab, cloud: LiveCloud) -> None:
        self.lab, self.cloud = lab, cloud
        self.out = lab.add_outside()
        self.h1 = lab.add_host("h1", "192.168.100.11/24")
        self.ns: dict[str, str] = {}

    def configure(self) -> None:
        hosts = [{"name": "h1", "netns": self.h1, "public_interface": "ul0"}]
        self.cloud.cli("property", "set", f"cloud.network.hosts={json.dumps(hosts)}")

    def show(self) -> dict[str, Any]:
        return dict(json.loads(self.cloud.cli("--output", "json", "network", "show").stdout))

    def in_sync(self) -> bool:
        s = self.show()
        return any(h["host"] == "h1" and h["in_sync"] for h in s["hosts"])

    def wait_sync(self, timeout: float = 20.0) -> None:
        assert wait_until(self.in_sync, timeout=timeout, interval=0.2), self.show()

    def instance(self, groups: list[str] | None, public: bool = False) -> dict[str, Any]:
        tap = f"vn-{secrets.token_hex(3)}"
        inst = launch(self.cloud, self.cloud.account_id, groups=groups, host="h1",
                      interface=tap, public=public)
        self.wait_sync()
        self.ns[inst["instance_id"]] = self.lab.add_instance(
            self.h1, tap, inst["mac"], f"{inst['private_ip']}/16", GATEWAY)
        inst["ns"] = self.ns[inst["instance_id"]]
        return inst

    def teardown(self) -> None:
        netd_host.teardown(netd_host.HostConfig(
            netns=self.h1, host="h1", state_dir=Path(self.cloud.data_dir) / "netd" / "h1",
            public_interface="ul0"))


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    cloud = new_cloud()
    with Lab() as lab:
        cloud.start()
        world = Edge(lab, cloud)
        try:
            world.configure()
            world.wait_sync()
            yield world
        finally:
            cloud.stop()
            world.teardown()
            shutil.rmtree(cloud.data_dir, ignore_errors=True)


def test_authorize_admits_revoke_refuses(edge: Edge) -> None:
    ec2 = edge.cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=f"ssh-{secrets.token_hex(3)}",
                                    Description="ssh")["GroupId"]
    server = edge.instance([gid])
    client = edge.instance(None)
    with Listener(server["ns"], 22):
        assert tcp_probe(client["ns"], server["private_ip"], 22, timeout=0.5) is None
        ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22,
                                             ToPort=22, CidrIp=f"{client['private_ip']}/32")
        assert wait_until(lambda: tcp_probe(client["ns"], server["private_ip"], 22,
                                            timeout=0.3) == client["private_ip"], timeout=5)
        ec2.revoke_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22,
                                          ToPort=22, CidrIp=f"{client['private_ip']}/32")
        assert wait_until(lambda: tcp_probe(client["ns"], server["private_ip"], 22,
                                            timeout=0.3) is None, timeout=5)
    # the default group: members talk to each other
    other = edge.instance(None)
    with Listener(other["ns"], 7000):
        assert wait_until(lambda: tcp_probe(client["ns"], other["private_ip"], 7000,
                                            timeout=0.3) == client["private_ip"], timeout=5)
    for inst in (server, client, other):
        terminate(edge.cloud, inst["instance_id"])


def test_elastic_ip_inbound_outbound_and_move(edge: Edge) -> None:
    ec2 = edge.cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=f"pub-{secrets.token_hex(3)}",
                                    Description="public ssh")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22, ToPort=22,
                                         CidrIp="0.0.0.0/0")
    a = edge.instance([gid])
    b = edge.instance([gid])
    eip = ec2.allocate_address(Domain="standard")
    ip = eip["PublicIp"]
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=a["instance_id"])
    with Listener(a["ns"], 22), Listener(b["ns"], 22), Listener(edge.out, 8080):
        assert wait_until(lambda: tcp_probe(edge.out, ip, 22, timeout=0.3) == "198.51.100.1",
                          timeout=5)
        assert tcp_probe(a["ns"], "198.51.100.1", 8080) == ip
        with pytest.raises(Exception) as exc:
            ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=b["instance_id"])
        assert "Resource.AlreadyAssociated" in str(exc.value)
        ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=b["instance_id"],
                              AllowReassociation=True)
        assert wait_until(lambda: tcp_probe(b["ns"], "198.51.100.1", 8080, timeout=0.3) == ip,
                          timeout=5)
        assert tcp_probe(edge.out, ip, 22) == "198.51.100.1"
        assert tcp_probe(a["ns"], "198.51.100.1", 8080) != ip
    ec2.disassociate_address(PublicIp=ip)
    ec2.release_address(AllocationId=eip["AllocationId"])
    for inst in (a, b):
        terminate(edge.cloud, inst["instance_id"])


def test_controller_killed_mid_change_converges(edge: Edge) -> None:
    ec2 = edge.cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=f"kill-{secrets.token_hex(3)}",
                                    Description="k")["GroupId"]
    server = edge.instance([gid])
    client = edge.instance(None)
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=80, ToPort=80,
                                         CidrIp="10.111.0.0/16")
    eip = ec2.allocate_address()
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=server["instance_id"])
    edge.wait_sync()
    # change, then kill -9 before the controller can have pushed everything
    ec2.revoke_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=80, ToPort=80,
                                      CidrIp="10.111.0.0/16")
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=81, ToPort=81,
                                         CidrIp="10.111.0.0/16")
    ec2.disassociate_address(PublicIp=eip["PublicIp"])
    ec2.release_address(AllocationId=eip["AllocationId"])
    edge.cloud.stop(signal.SIGKILL)
    edge.cloud.start()
    edge.wait_sync(timeout=30)
    version = edge.show()["version"]
    with Listener(server["ns"], 80), Listener(server["ns"], 81), Listener(edge.out, 8080):
        assert tcp_probe(client["ns"], server["private_ip"], 80, timeout=0.5) is None
        assert tcp_probe(client["ns"], server["private_ip"], 81) == client["private_ip"]
        assert tcp_probe(edge.out, eip["PublicIp"], 81, timeout=0.5) is None
        assert tcp_probe(server["ns"], "198.51.100.1", 8080, timeout=0.5) != eip["PublicIp"]
    saved = json.loads((Path(edge.cloud.data_dir) / "netd" / "h1" / "view.json").read_text())
    assert saved["version"] == version
    assert all(i["public_ip"] != eip["PublicIp"] for i in saved["instances"])
    for inst in (server, client):
        terminate(edge.cloud, inst["instance_id"])
