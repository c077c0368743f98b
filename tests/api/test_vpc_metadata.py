"""Instance metadata in a VPC: the instance is named by the interface netd's VPC proxy
puts in ``X-Cloud-Eni-Id`` (addresses overlap between VPCs), believed only on the
metadata Unix socket; a guest's forged ``X-Cloud-*`` headers never get through the
proxy, and VPC instances are never found by address. Also: the guest NICs of a VPC
instance are its interfaces, plugged into their guest bridges."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path

from tests.api.test_compute_instances import register_image_set, wait_for
from tests.api.test_compute_metadata import md
from tests.support import LiveCloud


def _launch(ec2: object, image: str, cidr: str) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]  # type: ignore[attr-defined]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace(  # type: ignore[attr-defined]
        "0.0/16", "1.0/24"))["Subnet"]["SubnetId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,  # type: ignore[attr-defined]
                             SubnetId=subnet)["Instances"][0]
    return {"X-Cloud-Eni-Id": inst["NetworkInterfaces"][0]["NetworkInterfaceId"],
            "X-Cloud-Instance-Id": inst["InstanceId"], "X-Cloud-Vpc-Id": vpc,
            "ip": inst["PrivateIpAddress"]}


def test_vpc_metadata_by_interface_only_through_the_proxy(vpc_cloud: LiveCloud,
                                                          tmp_path: Path) -> None:
    ec2 = vpc_cloud.client("ec2")
    image = register_image_set(vpc_cloud, vpc_cloud.data_dir / "vpcmd-imgs")["emi"]
    a, b = _launch(ec2, image, "10.61.0.0/16"), _launch(ec2, image, "10.61.0.0/16")
    assert a["ip"] == b["ip"] == "10.61.1.4"  # the same address in two VPCs

    def ident(who: dict[str, str], **over: str) -> dict[str, str]:
        return {k: v for k, v in {**who, **over}.items() if k.startswith("X-Cloud")}

    def instance_id(headers: dict[str, str], ip: str = "10.61.1.4") -> tuple[int, bytes]:
        return md(vpc_cloud, ip, "/latest/meta-data/instance-id", headers=headers)

    wait_for(lambda: instance_id(ident(a))[0] == 200)
    assert instance_id(ident(a)) == (200, a["X-Cloud-Instance-Id"].encode())
    assert instance_id(ident(b)) == (200, b["X-Cloud-Instance-Id"].encode())
    # the three must agree: another instance's interface or VPC answers nothing
    assert instance_id(ident(a, **{"X-Cloud-Instance-Id": b["X-Cloud-Instance-Id"]}))[0] == 404
    assert instance_id(ident(a, **{"X-Cloud-Vpc-Id": b["X-Cloud-Vpc-Id"]}))[0] == 404
    assert instance_id({"X-Cloud-Eni-Id": a["X-Cloud-Eni-Id"]})[0] == 404
    assert instance_id({})[0] == 404  # never by the (overlapping) address
    # the metadata MAC is the interface's (the guest NIC is the interface)
    mac = md(vpc_cloud, "", "/latest/meta-data/mac", headers=ident(a))[1].decode()
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[a["X-Cloud-Eni-Id"]])[
        "NetworkInterfaces"][0]
    assert mac == eni["MacAddress"]
    # a guest forging a's headers at the proxy: dropped, it gets its own (b's) identity
    identity = tmp_path / "identity.json"
    identity.write_text(json.dumps({"127.0.0.1": {
        "vpc": b["X-Cloud-Vpc-Id"], "eni": b["X-Cloud-Eni-Id"],
        "instance": b["X-Cloud-Instance-Id"]}}))
    from tests.infra.postgres import free_port

    port, pidfile = free_port(), tmp_path / "mdproxy.pid"
    proc = subprocess.Popen([sys.executable, "-m", "netd.mdproxy", "--listen",
                             f"127.0.0.1:{port}", "--upstream",
                             f"unix:{vpc_cloud.data_dir / 'run' / 'metadata.sock'}",
                             "--pidfile", str(pidfile), "--identity", str(identity)])
    try:
        wait_for(pidfile.exists, timeout=20)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/latest/meta-data/instance-id", headers=ident(a))
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b["X-Cloud-Instance-Id"].encode())
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
