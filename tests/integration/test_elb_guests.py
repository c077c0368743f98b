"""A load balancer over two REAL guests (QEMU TCG on the private libvirtd) serving HTTP
with busybox httpd started from their user data, driven with boto3: the load balancer's
uplink is the EDGE host's instance bridge (``br-cloud`` in the libvirtd's namespace),
where netd's anti-spoofing drops every frame from a port the network view does not
name; ELB's view feed names it (its veth, MAC and address) and its source security
group, which the guests' group admits (a rule naming ``default_elb_<id>``, no address),
so its health checks and requests reach the guests. Requests from an outside namespace alternate between the
guests, both go InService; a terminated guest (an instance-store guest cannot be
stopped) goes OutOfService and all traffic goes to the other. One test (CI runs it once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from netd import netns
from tests.integration.elb_lab import ElbLab
from tests.support import LiveCloud, console_text, wait_for

pytestmark = pytest.mark.integration

if shutil.which("libvirtd") is None or os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.fail("needs libvirtd, haproxy and root: run scripts/install-deps.sh",
                pytrace=False)

SERVE = """#!/bin/sh
mkdir -p /www
wget -q -O /www/index.html http://169.254.169.254/latest/meta-data/instance-id
busybox httpd -p 8080 -h /www
echo "httpd-started" > /dev/console
"""


def _console(ec2: Any, iid: str) -> str:
    return console_text(ec2.get_console_output(InstanceId=iid))


def _health(elb: Any, name: str) -> dict[str, str]:
    return {s["InstanceId"]: s["State"] for s in elb.describe_instance_health(
        LoadBalancerName=name)["InstanceStates"]}


def test_load_balancer_over_two_real_guests(libvirt_cloud: LiveCloud, tiny_image: Any,
                                            private_libvirtd: Any, tmp_path: Path) -> None:
    cloud = libvirt_cloud
    ec2, elb = cloud.client("ec2"), cloud.client("elb")
    eki = ec2.register_image(Name="lb-k", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="lb-r", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="lb-m", ImageLocation=str(tiny_image.rootfs), KernelId=eki,
                             RamdiskId=eri)["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=emi, MinCount=2, MaxCount=2, InstanceType="t1.micro",
        UserData=SERVE)["Instances"]]
    for iid in ids:
        try:
            wait_for(lambda iid=iid: "httpd-started" in _console(ec2, iid), 180,
                     f"httpd on {iid}")
        except AssertionError:
            print(_console(ec2, iid)[-3000:])
            raise
    with ElbLab(tmp_path) as lab:
        outside = lab.add_outside()
        conf = {"uplink_netns": private_libvirtd.netns, "uplink_bridge": "br-cloud",
                "addresses": "10.111.255.8/29", "prefix_len": 16,
                "public_netns": lab.uplink, "public_bridge": "br-pub",
                "public_addresses": "198.51.100.8/29", "public_prefix_len": 24,
                "state_dir": str(tmp_path / "netd")}
        cloud.set_properties("loadbalancing.supervise_interval_sec=1")
        cloud.set_properties(f"loadbalancing.dataplane={json.dumps(conf)}")
        try:
            name = f"real-{uuid.uuid4().hex[:6]}"
            zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
            elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=[zone],
                                     Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80,
                                                 "InstancePort": 8080}])
            # the guests admit the load balancer only, by its source security group
            source = elb.describe_load_balancers(LoadBalancerNames=[name])[
                "LoadBalancerDescriptions"][0]["SourceSecurityGroup"]
            ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                 "UserIdGroupPairs": [{"GroupName": source["GroupName"],
                                       "UserId": source["OwnerAlias"]}]}])
            elb.configure_health_check(LoadBalancerName=name, HealthCheck={
                "Target": "HTTP:8080/index.html", "Interval": 5, "Timeout": 3,
                "UnhealthyThreshold": 2, "HealthyThreshold": 2})
            elb.register_instances_with_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": i} for i in ids])
            try:
                wait_for(lambda: set(_health(elb, name).values()) == {"InService"}, 90,
                         "both guests InService")
            except AssertionError:
                print(_health(elb, name), cloud.cli("elb", "show").stdout)
                from netd.lb import runtime_command
                for lb in json.loads(cloud.cli("--output", "json", "elb",
                                               "show").stdout)["load_balancers"]:
                    sock = tmp_path / "netd" / "elb" / lb["id"] / "stats.sock"
                    print(runtime_command(sock, "show stat"))
                    print(subprocess.run(["ip", "netns", "exec", f"elb-{lb['id']}", "python3",
                                          "-c", "import socket; s=socket.create_connection("
                                          "('10.111.0.2', 8080), 3); print('connected')"],
                                         capture_output=True, text=True))
                print(_console(ec2, ids[0])[-2500:])
                raise
            shown = json.loads(cloud.cli("--output", "json", "elb", "show").stdout)
            mine = next(lb for lb in shown["load_balancers"] if lb["name"] == name)
            public = mine["public_address"]
            served = [lab.get(public, 80, timeout=10, ns=outside)[1].strip()
                      for _ in range(4)]
            assert set(served) == set(ids) and served[0] != served[1], served

            # an instance-store guest cannot be stopped (UnsupportedOperation, as on AWS):
            # terminating it takes it out of service the same way
            ec2.terminate_instances(InstanceIds=[ids[0]])
            wait_for(lambda: _health(elb, name) == {ids[0]: "OutOfService",
                                                    ids[1]: "InService"}, 90,
                     "the terminated guest OutOfService")
            # ... and out of haproxy's servers (the data plane runs running instances only)
            wait_for(lambda: f"{ids[0]}: UP" not in cloud.cli("elb", "show").stdout, 30,
                     "the terminated guest out of haproxy")
            served = [lab.get(public, 80, timeout=10, ns=outside)[1].strip()
                      for _ in range(4)]
            assert served == [ids[1]] * 4, served
            elb.delete_load_balancer(LoadBalancerName=name)
            # its haproxy and namespace go before the data plane is switched off
            wait_for(lambda: not netns.exists(f"elb-{mine['id']}"), 30,
                     "the deleted load balancer's namespace gone")
        finally:
            cloud.set_properties("loadbalancing.dataplane={}")
            cloud.set_properties("loadbalancing.supervise_interval_sec=5")
    ec2.terminate_instances(InstanceIds=ids)
