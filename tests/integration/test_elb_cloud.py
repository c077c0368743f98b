"""ELB end to end through the API: boto3 and the AWS CLI against a live cloud whose
data plane (`loadbalancing.dataplane`) attaches load balancers to a lab bridge where
each registered instance's private address is served by an HTTP server in its own
namespace. DescribeInstanceHealth comes from haproxy: OutOfService first, InService
after HealthyThreshold passes (the boto3 waiters), OutOfService when the server stops;
traffic from an outside namespace alternates; deleting the load balancer leaves no
namespace or process."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netd import netns
from tests.api.test_compute_instances import register_image_set
from tests.integration.elb_lab import ElbLab, wait_for
from tests.support import LiveCloud

pytestmark = pytest.mark.integration
DNS = "10.111.255.53"

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.fail("needs root and haproxy: run scripts/install-deps.sh", pytrace=False)


@pytest.fixture
def plane(sqlite_cloud: LiveCloud, tmp_path: Path) -> Iterator[tuple[LiveCloud, ElbLab]]:
    with ElbLab(tmp_path, client="10.111.255.100/16") as lab:
        lab.add_outside()
        conf = {"uplink_netns": lab.uplink, "uplink_bridge": lab.bridge,
                "addresses": "10.111.255.8/29", "prefix_len": 16,
                "public_netns": lab.uplink, "public_bridge": "br-pub",
                "public_addresses": "198.51.100.8/29", "public_prefix_len": 24,
                "state_dir": str(tmp_path / "netd")}
        subprocess.run(["ip", "-n", lab.uplink, "addr", "add", f"{DNS}/16", "dev",
                        lab.bridge], check=True)
        sqlite_cloud.set_properties(f"cloud.dns.netns={lab.uplink}")
        sqlite_cloud.set_properties(f"cloud.dns.listen_address={DNS}")
        sqlite_cloud.set_properties("loadbalancing.supervise_interval_sec=1")
        sqlite_cloud.set_properties("loadbalancing.metrics_interval_sec=1")
        sqlite_cloud.set_properties(
                                    "loadbalancing.access_log_interval_override_sec=2")
        sqlite_cloud.set_properties(f"loadbalancing.dataplane={json.dumps(conf)}")
        try:
            yield sqlite_cloud, lab
        finally:
            sqlite_cloud.set_properties("cloud.dns.netns=")
            sqlite_cloud.set_properties("cloud.dns.listen_address=")
            pidfile = tmp_path / "netd" / "dns" / "dnsmasq.pid"
            assert wait_for(lambda: not pidfile.exists(), 30), "the resolver still runs"
            sqlite_cloud.set_properties("loadbalancing.dataplane={}")
            sqlite_cloud.set_properties("loadbalancing.supervise_interval_sec=5")
            sqlite_cloud.set_properties("loadbalancing.metrics_interval_sec=60")
            sqlite_cloud.set_properties(
                                        "loadbalancing.access_log_interval_override_sec=0")


def test_health_from_haproxy_traffic_and_delete(plane: tuple[LiveCloud, ElbLab],
                                                tmp_path: Path) -> None:
    cloud, lab = plane
    elb, ec2 = cloud.client("elb"), cloud.client("ec2")
    images = register_image_set(cloud, tmp_path)
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=images["emi"], MinCount=2, MaxCount=2)["Instances"]]

    def running() -> dict[str, str]:
        found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        insts = [i for r in found for i in r["Instances"]]
        ok = all(i["State"]["Name"] == "running" and i.get("PrivateIpAddress")
                 for i in insts)
        return {i["InstanceId"]: i["PrivateIpAddress"] for i in insts} if ok else {}

    addresses = wait_for(running, 30)
    assert addresses
    for n, iid in enumerate(ids, start=1):
        lab.add_backend(iid, n, port=8080, address=addresses[iid], prefix_len=16)
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=[zone], Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}])
    elb.configure_health_check(LoadBalancerName=name, HealthCheck={
        "Target": "HTTP:8080/health", "Interval": 5, "Timeout": 2,
        "UnhealthyThreshold": 2, "HealthyThreshold": 2})
    t0 = time.monotonic()
    elb.register_instances_with_load_balancer(LoadBalancerName=name,
                                              Instances=[{"InstanceId": i} for i in ids])
    first = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
    assert {s["State"] for s in first} == {"OutOfService"}
    elb.get_waiter("instance_in_service").wait(
        LoadBalancerName=name, Instances=[{"InstanceId": i} for i in ids],
        WaiterConfig={"Delay": 1, "MaxAttempts": 40})
    assert time.monotonic() - t0 >= 2 * 1  # at least HealthyThreshold passes
    lb_id = elb.describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"][0]["DNSName"].split(".")[0].rsplit("-", 1)[1]
    address = _address(lab, lb_id)
    dns_name = elb.describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"][0]["DNSName"]
    public = mine_of(cloud, name)["public_address"]
    assert public and public.startswith("198.51.100.")
    dig = subprocess.run(["ip", "netns", "exec", lab.client, "dig", "+short", "+time=2",
                          f"@{DNS}", dns_name], capture_output=True, text=True)
    assert dig.stdout.split() == [public], dig
    assert lab.get(public, 80, ns=lab.outside)[0] == 200  # internet-facing: from outside
    _internal(cloud, lab, zone)
    served = [lab.get(address, 80)[1].split()[0] for _ in range(4)]
    assert set(served) == set(ids) and served[0] != served[1]
    _access_logs(cloud, lab, name, address)

    lab.stop_backend(ids[0])

    def out_of_service() -> bool:
        states = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
        mine = {s["InstanceId"]: s for s in states}
        return bool(mine[ids[0]]["State"] == "OutOfService"
                    and mine[ids[0]]["ReasonCode"] == "Instance")

    assert wait_for(out_of_service, 5 * 2 + 20)
    elb.get_waiter("any_instance_in_service").wait(LoadBalancerName=name,
                                                   WaiterConfig={"Delay": 1,
                                                                 "MaxAttempts": 5})
    assert {lab.get(address, 80)[1].split()[0] for _ in range(3)} == {ids[1]}

    mine = mine_of(cloud, name)
    assert mine["haproxy_pid"] and mine["address"] == address
    assert mine["instances"][ids[1]].startswith("UP")
    assert mine["instances"][ids[0]].startswith("DOWN")

    # kill -9 haproxy: the supervisor brings it back with the latest configuration
    os.kill(int(mine["haproxy_pid"]), signal.SIGKILL)

    def restarted() -> bool:
        now = json.loads(cloud.cli("--output", "json", "elb", "show").stdout)
        lb = next(x for x in now["load_balancers"] if x["name"] == name)
        return bool(lb["haproxy_pid"] and lb["haproxy_pid"] != mine["haproxy_pid"]
                    and lb["instances"][ids[1]].startswith("UP"))

    assert wait_for(restarted, 30)
    assert {lab.get(address, 80)[1].split()[0] for _ in range(3)} == {ids[1]}

    cw = cloud.client("cloudwatch")

    def metric(metric_name: str, stat: str) -> float:
        now = datetime.now(UTC)
        points = cw.get_metric_statistics(
            Namespace="AWS/ELB", MetricName=metric_name, StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1), Period=60, Statistics=[stat],
            Dimensions=[{"Name": "LoadBalancerName", "Value": name}])["Datapoints"]
        return float(sum(p[stat] for p in points)) if stat == "Sum" else float(
            max((p[stat] for p in points), default=-1))

    assert wait_for(lambda: metric("RequestCount", "Sum") >= 7, 45), metric(
        "RequestCount", "Sum")
    assert metric("HTTPCode_Backend_2XX", "Sum") >= 7
    assert wait_for(lambda: metric("UnHealthyHostCount", "Maximum") >= 1, 30)
    assert metric("HealthyHostCount", "Maximum") >= 1

    cli = json.loads(cloud.aws("elb", "describe-instance-health", "--load-balancer-name",
                               name).stdout)
    assert {s["InstanceId"] for s in cli["InstanceStates"]} == set(ids)
    elb.delete_load_balancer(LoadBalancerName=name)
    assert wait_for(lambda: not netns.exists(f"elb-{lb_id}"), 30)
    ec2.terminate_instances(InstanceIds=ids)


def _address(lab: ElbLab, lb_id: str) -> str:
    def find() -> str | None:
        if not netns.exists(f"elb-{lb_id}"):
            return None
        out = subprocess.run(["ip", "-n", f"elb-{lb_id}", "-4", "-o", "addr", "show", "dev",
                              "eth0"], capture_output=True, text=True).stdout.split()
        return out[3].split("/")[0] if len(out) > 3 else None

    found = wait_for(find, 30)
    assert found, "the load balancer's namespace has no address"
    return str(found)


LINE = re.compile(
    r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) (\S+):(\d+) (\S+):(\d+) '
    r'(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (\d{3}) (\d{3}) (\d+) (\d+) "([^"]*)" "([^"]*)" '
    r'(\S+) (\S+)$')


def _access_logs(cloud: LiveCloud, lab: ElbLab, name: str, address: str) -> None:
    """Logs go only to a bucket whose policy allows the ELB delivery principal, in the
    classic format under AWS's key layout."""
    elb, s3 = cloud.client("elb"), cloud.client("s3")
    account = cloud.client("sts").get_caller_identity()["Account"]
    closed, allowed = f"closed-{uuid.uuid4().hex[:8]}", f"logs-{uuid.uuid4().hex[:8]}"
    for bucket in (closed, allowed):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=allowed, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{allowed}/web/AWSLogs/{account}/*"}]}))

    def enable(bucket: str) -> None:
        elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
            "AccessLog": {"Enabled": True, "S3BucketName": bucket, "EmitInterval": 5,
                          "S3BucketPrefix": "web"}})

    def traffic() -> None:
        for _ in range(5):
            assert lab.get(address, 80, "/page?x=1", headers={"User-Agent": "probe/1.0"})[
                0] == 200

    def keys(bucket: str) -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]

    enable(closed)
    time.sleep(2.5)  # the reload with the log socket
    traffic()
    time.sleep(5)
    assert keys(closed) == []  # no policy for the delivery principal: nothing written
    enable(allowed)

    def delivered() -> list[str]:
        # traffic on every look: the first requests may precede the reload with the log
        # socket on a loaded machine
        traffic()
        return keys(allowed)

    found = wait_for(delivered, 60, interval=2.0)
    assert found, "no access log delivered"
    key = found[0]
    pattern = (rf"^web/AWSLogs/{account}/elasticloadbalancing/{cloud.region}/"
               rf"\d{{4}}/\d\d/\d\d/{account}_elasticloadbalancing_{cloud.region}_{name}_"
               rf"\d{{8}}T\d{{4}}Z_{re.escape(address)}_[0-9a-f]+\.log$")
    assert re.match(pattern, key), key
    body = s3.get_object(Bucket=allowed, Key=key)["Body"].read().decode()
    lines = [LINE.match(line) for line in body.splitlines()]
    assert lines and all(lines), body
    first = lines[0]
    assert first is not None
    assert first.group(2) == name and first.group(3) == "10.111.255.100"
    assert first.group(10) == "200" and first.group(11) == "200"
    assert first.group(14).startswith("GET http://") and first.group(14).endswith(
        "/page?x=1 HTTP/1.1")
    assert first.group(15) == "probe/1.0"
    elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
        "AccessLog": {"Enabled": False}})


def mine_of(cloud: LiveCloud, name: str) -> dict[str, Any]:
    shown = json.loads(cloud.cli("--output", "json", "elb", "show").stdout)
    return dict(next(lb for lb in shown["load_balancers"] if lb["name"] == name))


def _internal(cloud: LiveCloud, lab: ElbLab, zone: str) -> None:
    """An internal load balancer lives in a VPC subnet (as on AWS): its DNS name is
    internal-..., its interface has no public address, and it gets no public side. This
    cloud runs no VPC host agent, so its haproxy has no interface bridge to plug into:
    the plane keeps retrying it without holding the other load balancers back (the VPC
    data plane carrying one: tests/integration/test_elb_vpc_dataplane.py)."""
    ec2, elb = cloud.client("ec2"), cloud.client("elb")
    vpc = ec2.create_vpc(CidrBlock="10.66.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.66.1.0/24",
                               AvailabilityZone=zone)["Subnet"]["SubnetId"]
    name = f"in-{uuid.uuid4().hex[:6]}"
    dns = elb.create_load_balancer(LoadBalancerName=name, Scheme="internal",
                                   Subnets=[subnet], Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}])["DNSName"]
    assert dns.startswith(f"internal-{name}-")
    [eni] = ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": [f"ELB {name}"]}])["NetworkInterfaces"]
    assert "Association" not in eni

    def placed() -> dict[str, Any] | None:
        lb = mine_of(cloud, name)
        return lb if lb["address"] else None

    lb = wait_for(placed, 45)
    assert lb and lb["address"] == eni["PrivateIpAddress"] and lb["public_address"] is None
    elb.delete_load_balancer(LoadBalancerName=name)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_edge_load_balancer_one_haproxy_a_zone(tmp_path: Path) -> None:
    """Outside a VPC, a load balancer in two zones with cross-zone load balancing off
    (the API's default) runs one haproxy a zone, each at its own address sending only
    to its zone's instance;
    turning cross-zone on leaves one haproxy sending to both; clearing the data plane
    configuration stops them all."""
    from cloudctl.pki import CertPaths
    from tests.api.test_compute_force_detach import FakeAgent
    from tests.support import new_cloud

    cloud = new_cloud()
    cloud.init("--zone", "eucalyptus-1a", "--zone", "eucalyptus-1b")
    cloud.start()
    agent = FakeAgent(tmp_path / "node1", CertPaths(cloud.data_dir / "ca" / "ca.pem",
                                                   cloud.data_dir / "ca" / "ca.key"))
    try:
        agent.start()  # the local node serves the first zone, this one the second
        cloud.cli("node", "register", "node1", "--zone", "eucalyptus-1b", "--address",
                  agent.address)
        assert wait_for(lambda: any(n["name"] == "node1" and n["last_heartbeat"] for n in
                                    json.loads(cloud.cli("--output", "json", "node",
                                                         "list").stdout)), 60)
        with ElbLab(tmp_path, client="10.111.255.100/16") as lab:
            conf = {"uplink_netns": lab.uplink, "uplink_bridge": lab.bridge,
                    "addresses": "10.111.255.8/29", "prefix_len": 16,
                    "state_dir": str(tmp_path / "netd")}
            cloud.cli("property", "set", "loadbalancing.supervise_interval_sec=1")
            cloud.cli("property", "set", f"loadbalancing.dataplane={json.dumps(conf)}")
            _zones_through_the_cloud(cloud, lab, tmp_path, conf)
    finally:
        cloud.stop()
        agent.kill()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _zones_through_the_cloud(cloud: LiveCloud, lab: ElbLab, tmp_path: Path,
                             conf: dict[str, Any]) -> None:
    elb, ec2 = cloud.client("elb"), cloud.client("ec2")
    zones = ["eucalyptus-1a", "eucalyptus-1b"]
    images = register_image_set(cloud, tmp_path / "img")
    ids = [ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1, Placement={
        "AvailabilityZone": zone})["Instances"][0]["InstanceId"] for zone in zones]

    def running() -> dict[str, str]:
        insts = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                 for i in r["Instances"]]
        ok = all(i["State"]["Name"] == "running" and i.get("PrivateIpAddress")
                 for i in insts)
        return {i["InstanceId"]: i["PrivateIpAddress"] for i in insts} if ok else {}

    addresses = wait_for(running, 30)
    assert addresses
    for n, iid in enumerate(ids, start=1):
        lab.add_backend(iid, n, port=8080, address=addresses[iid], prefix_len=16)
    name = f"z-{uuid.uuid4().hex[:6]}"
    elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=zones, Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}])
    assert not elb.describe_load_balancer_attributes(LoadBalancerName=name)[
        "LoadBalancerAttributes"]["CrossZoneLoadBalancing"]["Enabled"]
    elb.configure_health_check(LoadBalancerName=name, HealthCheck={
        "Target": "HTTP:8080/health", "Interval": 5, "Timeout": 2,
        "UnhealthyThreshold": 2, "HealthyThreshold": 2})
    elb.register_instances_with_load_balancer(LoadBalancerName=name,
                                              Instances=[{"InstanceId": i} for i in ids])
    # each zone's haproxy checks its zone's instance: both InService
    elb.get_waiter("instance_in_service").wait(
        LoadBalancerName=name, Instances=[{"InstanceId": i} for i in ids],
        WaiterConfig={"Delay": 1, "MaxAttempts": 40})
    lb_id = elb.describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"][0]["DNSName"].split(".")[0].rsplit("-", 1)[1]
    first, second = _address(lab, lb_id), _address(lab, f"{lb_id}z1")
    assert first != second
    shown = mine_of(cloud, name)  # the admin view: both nodes, the second zone's address
    assert shown["nodes"] == [lb_id, f"{lb_id}z1"] and shown["address"] == first
    assert shown["zone_addresses"] == [[zones[1], second, None]]
    assert {lab.get(first, 80)[1].split()[0] for _ in range(4)} == {ids[0]}
    assert {lab.get(second, 80)[1].split()[0] for _ in range(4)} == {ids[1]}
    # cross-zone on: one haproxy (the first address) over both zones' instances
    elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
        "CrossZoneLoadBalancing": {"Enabled": True}})
    assert wait_for(lambda: not netns.exists(f"elb-{lb_id}z1"), 15)

    def both() -> bool:
        try:
            return {lab.get(first, 80)[1].split()[0] for _ in range(4)} == set(ids)
        except OSError:
            return False

    assert wait_for(both, 20), "the one haproxy does not send to both zones"
    # off again: the second zone's haproxy comes back
    elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
        "CrossZoneLoadBalancing": {"Enabled": False}})
    assert _address(lab, f"{lb_id}z1")
    nodes = (lb_id, f"{lb_id}z1")
    old = tmp_path / "netd" / "elb"
    pidfiles = [old / node / "haproxy.pid" for node in nodes]
    assert wait_for(lambda: all(f.exists() for f in pidfiles), 15)
    pids = [int(f.read_text()) for f in pidfiles]
    # the plane moved to another state directory: the old one's haproxy and state go,
    # the load balancer runs from the new one and still answers
    conf = {**conf, "state_dir": str(tmp_path / "netd2")}
    cloud.cli("property", "set", f"loadbalancing.dataplane={json.dumps(conf)}")
    planes = tmp_path / "netd2" / "elb"
    pidfiles = [planes / node / "haproxy.pid" for node in nodes]
    assert wait_for(lambda: all(f.exists() for f in pidfiles), 15), "no plane in the new place"
    assert wait_for(lambda: not [p for p in pids if Path(f"/proc/{p}").exists()], 10), \
        "the old state directory's haproxy runs on"
    assert wait_for(lambda: not list(old.iterdir()), 10), list(old.rglob("*"))
    assert wait_for(lambda: {lab.get(first, 80)[1].split()[0] for _ in range(4)} == {ids[0]},
                    20)
    pids = [int(f.read_text()) for f in pidfiles]
    # the data plane configuration cleared: none of its load balancers runs on (no
    # haproxy, namespace or state left behind), though the load balancer itself stays
    cloud.cli("property", "set", "loadbalancing.dataplane={}")
    assert wait_for(lambda: not netns.exists(f"elb-{lb_id}")
                    and not netns.exists(f"elb-{lb_id}z1"), 10), "cleared, the plane runs on"
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert wait_for(lambda: not list(planes.iterdir()), 10), list(planes.rglob("*"))
    assert elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"]
    elb.delete_load_balancer(LoadBalancerName=name)
    ec2.terminate_instances(InstanceIds=ids)
