"""Real guests in a VPC, end to end: a new cloud (``cloudctl up``, no mode asked) is in
VPC mode and runs ZooKeeper and the netd VPC host agent; RunInstances without a subnet
lands in the default VPC; each guest's NIC is its interface on the interface's guest
bridge; it gets its subnet address by DHCP and its own metadata at 169.254.169.254 (the
VPC proxy names its interface); ``cloudctl instance ssh`` reaches a guest through its
VPC's router namespace; two guests in two subnets of the VPC reach each other
while their group allows it and not after the revoke; a killed agent is restarted; an
interface attached to the running guest appears in its kernel (/sys/class/net) and goes
when detached; stopping the cloud leaves no namespace, agent or ZooKeeper behind.

One slow test (tiny TCG guests on the private libvirtd; the guests report through their
console: cloud-init's markers, and a ping loop from user data).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from netd.zookeeper import available as zookeeper_available
from tests.support import (
    LiveCloud,
    console_text,
    libvirt_env,
    new_cloud,
    teardown_local_network,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0
                       or shutil.which("dnsmasq") is None or not zookeeper_available(),
                       reason="needs root, libvirtd, dnsmasq and ZooKeeper"),
]

PROBE = """#!/bin/sh
( n=0; last=""
  while [ $n -lt 900 ]; do
    n=$((n+1))
    if ping -c 1 -W 1 {peer} >/dev/null 2>&1; then echo "probe $n ok"; else echo "probe $n fail"; fi
    now=$(ls /sys/class/net | tr '\\n' ' ')
    if [ "$now" != "$last" ]; then echo "nics: $now"; last=$now; fi
    sleep 1
  done ) >/dev/console 2>&1 &
"""


@pytest.fixture
def vpc_cloud_real(private_libvirtd: Any, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[LiveCloud]:
    """A new cloud with real guests in the mode ``cloudctl up`` chooses by default (VPC)."""
    for key, value in libvirt_env(private_libvirtd).items():
        monkeypatch.setenv(key, value)
    cloud = new_cloud()
    cloud.network_mode = None  # no --network-mode: a new cloud is VPC by default
    try:
        cloud.start(timeout=180)
        yield cloud
    finally:
        cloud.stop()
        teardown_local_network(cloud, private_libvirtd.netns)
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _console(ec2: Any, iid: str) -> str:
    return console_text(ec2.get_console_output(InstanceId=iid))


def _probes(console: str) -> list[str]:
    return [line.split()[-1] for line in console.splitlines() if line.startswith("probe ")]


def _nics(console: str) -> list[str]:
    """The guest's network devices as its probe loop last printed them (/sys/class/net)."""
    seen = [line.split(":", 1)[1].split() for line in console.splitlines()
            if line.startswith("nics: ")]
    return seen[-1] if seen else []


def _agents(cloud: LiveCloud) -> set[int]:
    """Live VPC agents of this cloud (by their state directory on the command line)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[-1].split()[0] == "Z"
        except OSError:
            continue
        if b"netd.vpc.agent" in argv and str(cloud.data_dir).encode() in b" ".join(argv) \
                and not zombie:
            found.add(int(pid))
    return found


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def test_vpc_guests_dhcp_metadata_and_group_reachability(vpc_cloud_real: LiveCloud,
                                                         tiny_image: Any) -> None:
    from cloudctl.cli.vpc_host import prefix_for

    cloud = vpc_cloud_real
    record = json.loads((cloud.data_dir / "run" / "up.json").read_text())
    assert record["vpc_agent_pid"] and record["zookeeper"].startswith("127.0.0.1:")
    assert record["network_mode"] == "VPC"  # nobody asked: the default of a new cloud
    said = cloud.log_path.read_text()
    assert "network mode     VPC" in said and "VPC data plane   ZooKeeper" in said
    ec2 = cloud.client("ec2")

    def aws(*args: str) -> Any:
        return json.loads(cloud.aws("ec2", *args).stdout or "{}")

    eki = aws("register-image", "--name", "vpc-k", "--image-location",
              str(tiny_image.kernel))["ImageId"]
    eri = aws("register-image", "--name", "vpc-r", "--image-location",
              str(tiny_image.ramdisk))["ImageId"]
    emi = aws("register-image", "--name", "vpc-g", "--image-location", str(tiny_image.rootfs),
              "--kernel-id", eki, "--ramdisk-id", eri)["ImageId"]
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="pingers", Description="icmp",
                                      VpcId=vpc_id)["GroupId"]
    icmp = [{"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
             "IpRanges": [{"CidrIp": "172.31.0.0/16"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        *icmp, {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": "172.31.0.0/16"}]}])
    key = cloud.data_dir / "key.pem"
    key.write_text(ec2.create_key_pair(KeyName="vpc")["KeyMaterial"])
    key.chmod(0o600)
    # guest A: no subnet named, so the default subnet of the default VPC
    a = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                          SecurityGroupIds=[group], KeyName="vpc")["Instances"][0]
    assert a["VpcId"] == vpc_id and a["PrivateIpAddress"].startswith("172.31.")
    other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="172.31.200.0/24")["Subnet"]["SubnetId"]
    b = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                          SubnetId=other, SecurityGroupIds=[group],
                          UserData=PROBE.format(peer=a["PrivateIpAddress"]))["Instances"][0]
    assert b["PrivateIpAddress"] == "172.31.200.4"
    iid_a, iid_b = a["InstanceId"], b["InstanceId"]
    # each guest: its subnet address by DHCP, its own instance id from the metadata
    for iid, ip in ((iid_a, a["PrivateIpAddress"]), (iid_b, b["PrivateIpAddress"])):
        wait_for(lambda iid=iid: f"cloud-init: instance-id {iid}" in _console(ec2, iid), 240,
                 f"{iid}'s metadata (console: {_console(ec2, iid)[-1500:]})")
        assert f"cloud-init: eth0 {ip}/" in _console(ec2, iid)
    # A answers ssh from inside the cloud: `cloudctl instance ssh` goes through its
    # VPC's router namespace
    ssh = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(cloud.cli(
        "instance", "ssh", iid_a, "-i", str(key), "--", "cat", "/run/instance-id",
        check=False)), 90, "ssh to A through cloudctl instance ssh")
    assert ssh.stdout.strip() == iid_a, ssh.stderr
    # a load balancer (in B's subnet: its router carries the checks to A) works on this
    # fresh `up`: nobody configured its data plane, `up` pointed it at the agent's
    # namespace; its haproxy checks A's ssh port
    shown = json.loads(cloud.cli("--output", "json", "property", "get",
                                 "loadbalancing.dataplane").stdout)
    assert shown == {"loadbalancing.dataplane": {"vpc_netns": record["netns"]}}, shown
    elb = cloud.client("elb")
    elb.create_load_balancer(LoadBalancerName="vpc-ssh", Subnets=[other], Listeners=[
        {"Protocol": "TCP", "LoadBalancerPort": 2222, "InstanceProtocol": "TCP",
         "InstancePort": 22}])
    elb.configure_health_check(LoadBalancerName="vpc-ssh", HealthCheck={
        "Target": "TCP:22", "Interval": 5, "Timeout": 2, "UnhealthyThreshold": 2,
        "HealthyThreshold": 2})
    elb.register_instances_with_load_balancer(LoadBalancerName="vpc-ssh",
                                              Instances=[{"InstanceId": iid_a}])
    try:
        wait_for(lambda: elb.describe_instance_health(LoadBalancerName="vpc-ssh")[
            "InstanceStates"][0]["State"] == "InService", 90, "A InService behind the LB")
    except AssertionError:
        shown = cloud.cli("elb", "show", check=False).stdout
        lb_id = shown.split("(", 1)[1].split(",", 1)[0]
        for argv in (["ip", "-n", f"elb-{lb_id}", "addr"], ["ip", "-n", f"elb-{lb_id}", "route"],
                     ["ip", "-n", f"elb-{lb_id}", "neigh"],
                     ["ip", "-n", record["netns"], "-d", "link", "show", f"lb{lb_id}"],
                     ["ip", "-n", record["netns"], "-br", "link"],
                     ["ip", "netns", "exec", record["netns"], "nft", "list", "ruleset"],
                     ["ip", "netns", "exec", f"{prefix_for(cloud.data_dir)}r-{vpc_id}", "nft",
                      "list", "table", "bridge", "vpcs"]):
            ran = subprocess.run(argv, capture_output=True, text=True)
            shown += f"\n$ {' '.join(argv)}\n{ran.stdout}{ran.stderr}"
        said = [line for line in cloud.log_path.read_text().splitlines() if "elb" in line]
        elb.delete_load_balancer(LoadBalancerName="vpc-ssh")  # no namespace left behind
        wait_for(lambda: not os.path.exists(f"/run/netns/elb-{lb_id}"), 20, "LB removed")
        raise AssertionError(f"A not InService behind the VPC load balancer: {shown}\n"
                             + "\n".join(said[-30:])) from None
    elb.delete_load_balancer(LoadBalancerName="vpc-ssh")
    # B reaches A across subnets while the group allows ICMP, not after the revoke
    wait_for(lambda: _probes(_console(ec2, iid_b))[-1:] == ["ok"], 120, "B pinging A")
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=icmp)
    wait_for(lambda: _probes(_console(ec2, iid_b))[-3:] == ["fail"] * 3, 60,
             "B's pings refused after the revoke")
    # the agent killed: `up` restarts it, and the restarted one applies the next change
    os.kill(record["vpc_agent_pid"], signal.SIGKILL)
    wait_for(lambda: _agents(cloud) - {record["vpc_agent_pid"]}, 30, "the agent restarted")
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=icmp)
    wait_for(lambda: _probes(_console(ec2, iid_b))[-1:] == ["ok"], 60, "allowed again")
    # an interface attached to the running guest appears in its kernel; detached, it goes
    before = _nics(_console(ec2, iid_b))
    assert "eth0" in before and "eth1" not in before, before
    eni = ec2.create_network_interface(SubnetId=other, Groups=[group])["NetworkInterface"]
    attachment = ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"],
                                              InstanceId=iid_b, DeviceIndex=1)["AttachmentId"]
    wait_for(lambda: "eth1" in _nics(_console(ec2, iid_b)), 90,
             f"the hot-plugged NIC in B ({_console(ec2, iid_b)[-800:]})")
    ec2.detach_network_interface(AttachmentId=attachment)
    wait_for(lambda: _nics(_console(ec2, iid_b)) == before, 90,
             "the hot-unplugged NIC gone from B")
    ec2.terminate_instances(InstanceIds=[iid_a, iid_b])
    wait_for(lambda: {i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=[iid_a, iid_b])["Reservations"] for i in r["Instances"]} == {"terminated"},
        120, "terminated")
    # stopping the cloud takes the agent, its namespaces and ZooKeeper with it
    prefix = prefix_for(cloud.data_dir)
    assert any(ns.startswith(prefix) for ns in _netns())
    cloud.stop()
    assert not any(ns.startswith(prefix) for ns in _netns())
    assert not _agents(cloud)
    from cloudctl.services.ec2.vpc import local_zookeeper

    assert local_zookeeper.running(cloud.data_dir) is None  # its ZooKeeper stopped too
