"""The seed posts' CloudFormation scenario with REAL guests (QEMU TCG on the private
libvirtd), in a new VPC-mode cloud with two zones: the shipped template
(examples/cloudformation/seed-cluster.json, written with troposphere and clean under
cfn-lint) builds a VPC with a subnet in each zone, an internet gateway and its route, the
groups, a load balancer in both subnets and an Auto Scaling group of 3 guests behind it
whose user data serves the guest's instance id and signals the stack's wait condition
(a PUT of a cfn-signal document to the handle's URL, which the guests reach on the
cloud's outside network through the VPC's internet gateway). The stack completes only
once the 3 guests signalled; its outputs name the group and the load balancer's DNS
name; the 3 guests answer through the load balancer at its public address (from the
cloud's outside network, the guests' namespace); ClusterSize 3 -> 2 shrinks the group;
then the target scenario's last step: load through the load balancer (a request to a
guest's CGI that keeps its CPU busy) raises the group's average CPUUtilization, the
stack's alarm goes to ALARM and its step policy grows the group to 3, and the new guest
serves behind the load balancer; deleting the stack leaves no instance, load balancer,
group or VPC object.

The group spans both zones (``GroupZones=2``) on two hypervisor hosts
(``two_host_cloud``: the all-in-one node in the first zone, a second host with its own
libvirtd, node agent and VPC host agent in the second, VXLAN between them): the second
zone's guests run on the second host, signal through the internet gateway on the first
and answer through the load balancer across hosts. One test (CI runs it once): three
tiny guests booted once for every check.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from cfnlint import api as cfnlint_api

from netd import netns
from netd.zookeeper import available as zookeeper_available
from tests.infra import second_host
from tests.support import LiveCloud, console_text, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0
                       or shutil.which("dnsmasq") is None or shutil.which("haproxy") is None
                       or not zookeeper_available(),
                       reason="needs root, libvirtd, dnsmasq, haproxy and ZooKeeper"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cloudformation"
ZONES = second_host.ZONES  # the two_host_cloud fixture's zones


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("seed_cluster", EXAMPLES / "seed_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _console(ec2: Any, iid: str) -> str:
    return console_text(ec2.get_console_output(InstanceId=iid))


def _get(ns: str, address: str, path: str = "/", timeout: float = 5) -> str | None:
    def body() -> str | None:
        conn = http.client.HTTPConnection(address, 80, timeout=timeout)
        try:
            conn.request("GET", path)
            return conn.getresponse().read().decode().strip()
        except OSError:
            return None
        finally:
            conn.close()

    return netns.run_in(ns, body)


def _settle(cf: Any, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack: dict[str, Any] = cf.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(1)


def _failures(cf: Any, name: str) -> list[tuple[str, str]]:
    found = [e for page in cf.get_paginator("describe_stack_events").paginate(StackName=name)
             for e in page["StackEvents"]]
    return [(e["LogicalResourceId"], e.get("ResourceStatusReason", "")) for e in found
            if e["ResourceStatus"].endswith("FAILED")]


def test_seed_cluster_stack_with_real_guests(two_host_cloud: tuple[LiveCloud, Any],
                                             tiny_image: Any, private_libvirtd: Any) -> None:
    cloud, second = two_host_cloud
    up = json.loads((cloud.data_dir / "run" / "up.json").read_text())
    assert up["guest_endpoint"].startswith("http://198.51.100.1:")
    # the shipped template is the troposphere builder's output, and cfn-lint finds nothing
    text = (EXAMPLES / "seed-cluster.json").read_text()
    assert json.loads(text) == json.loads(_builder().template().to_json())
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []

    ec2, cf = cloud.client("ec2"), cloud.client("cloudformation")
    asg, elb = cloud.client("autoscaling"), cloud.client("elb")
    eki = ec2.register_image(Name="seed-k", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="seed-r", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="seed-m", ImageLocation=str(tiny_image.rootfs),
                             KernelId=eki, RamdiskId=eri)["ImageId"]
    ec2.create_key_pair(KeyName="seed")
    # CPU points every 15 s (the group's instances are detail-monitored, the launch
    # configuration's default) and alarms evaluated every 5 s: the scale-out below in a
    # minute rather than several
    cloud.cli("property", "set", "loadbalancing.supervise_interval_sec=1",
              "cloud.monitoring.detailed_period_sec=15",
              "cloudwatch.alarm_evaluation_interval_sec=5",
              "loadbalancing.dataplane=" + json.dumps({"vpc_netns": private_libvirtd.netns}))
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    assert zones == list(ZONES)

    started = time.monotonic()
    cf.create_stack(StackName="seed", TemplateBody=text, Parameters=[
        {"ParameterKey": "ImageId", "ParameterValue": emi},
        {"ParameterKey": "KeyName", "ParameterValue": "seed"},
        {"ParameterKey": "ClusterSize", "ParameterValue": "3"},
        {"ParameterKey": "MaxClusterSize", "ParameterValue": "3"},
        {"ParameterKey": "ScaleOutCpu", "ParameterValue": "40"},
        {"ParameterKey": "Zones", "ParameterValue": ",".join(zones)},
        {"ParameterKey": "GroupZones", "ParameterValue": "2"}])
    stack = _settle(cf, "seed", 600)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(cf, "seed")
    print(f"CREATE_COMPLETE after {time.monotonic() - started:.0f}s")
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[out["GroupName"]])[
        "AutoScalingGroups"][0]
    ids = sorted(i["InstanceId"] for i in group["Instances"])
    assert len(ids) == 3 and {i["LifecycleState"] for i in group["Instances"]} == {"InService"}
    # across both zones (the zone balance: 2 and 1), the second zone's on the second host
    in_b = sorted(i["InstanceId"] for i in group["Instances"]
                  if i["AvailabilityZone"] == ZONES[1])
    assert {i["AvailabilityZone"] for i in group["Instances"]} == set(ZONES)
    assert second.guests() == in_b
    # each guest signalled the wait condition (the stack waited for 3 distinct ids: each
    # guest's own instance id from its metadata, the condition's Count) and read the
    # API's 200 (busybox nc half-closes after its request, as HTTP/1.0 clients may)
    for iid in ids:
        wait_for(lambda iid=iid: "cfn-signal sent" in _console(ec2, iid), 30,
                 f"{iid}'s signal on its console ({_console(ec2, iid)[-600:]})")
    lb = elb.describe_load_balancers(LoadBalancerNames=[out["LoadBalancerName"]])[
        "LoadBalancerDescriptions"][0]
    assert out["LoadBalancerDns"] == lb["DNSName"] and out["Url"] == f"http://{lb['DNSName']}/"
    assert sorted(lb["AvailabilityZones"]) == sorted(zones) and len(lb["Subnets"]) == 2
    vpc_id = out["VpcId"]
    assert {s["AvailabilityZone"] for s in ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]} == set(zones)

    def health() -> dict[str, str]:
        return {s["InstanceId"]: s["State"] for s in elb.describe_instance_health(
            LoadBalancerName=lb["LoadBalancerName"])["InstanceStates"]}

    wait_for(lambda: health() == dict.fromkeys(ids, "InService"), 120,
             f"the 3 guests InService behind the load balancer ({health()})")
    # the guests answer through the load balancer at its public address, from the outside
    # network (the guests' namespace, where the internet gateway leads)
    eni = ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": [f"ELB {lb['LoadBalancerName']}"]}])[
        "NetworkInterfaces"]
    publics = sorted(e["Association"]["PublicIp"] for e in eni if e.get("Association"))
    assert len(publics) == 2  # one a zone; cross-zone: each sends to every guest
    for public in publics:
        served: set[str] = set()
        wait_for(lambda public=public, served=served: served.add(
            _get(private_libvirtd.netns, public) or "") or set(ids) <= served, 60,
            f"every guest through the load balancer at {public} ({served})")

    # ClusterSize 3 -> 2: the group shrinks, the load balancer keeps the other two
    cf.update_stack(StackName="seed", UsePreviousTemplate=True, Parameters=[
        {"ParameterKey": "ClusterSize", "ParameterValue": "2"},
        *({"ParameterKey": k, "UsePreviousValue": True}
          for k in ("ImageId", "KeyName", "MaxClusterSize", "ScaleOutCpu", "Zones",
                    "GroupZones"))])
    stack = _settle(cf, "seed", 300)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", _failures(cf, "seed")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[out["GroupName"]])[
        "AutoScalingGroups"][0]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 3, 2)
    wait_for(lambda: len(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[
        out["GroupName"]])["AutoScalingGroups"][0]["Instances"]) == 2, 120, "the group at 2")
    kept = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[out["GroupName"]])["AutoScalingGroups"][0]["Instances"])
    wait_for(lambda: health() == dict.fromkeys(kept, "InService"), 60,
             f"the 2 kept guests behind the load balancer ({health()})")

    # load through the load balancer: one guest busy for 2 minutes (the other idle) is a
    # group average of ~50 % CPU, over the stack's 40 % alarm: its step policy adds a guest
    # (a CGI on a TCG guest may take seconds to start on a loaded host, and a guest slow
    # to answer its health checks is out of service for a moment: the load balancer
    # answers 503 then, and the request is made again)
    answers: list[str] = []

    def burn() -> str | None:
        answer = _get(private_libvirtd.netns, publics[0], "/cgi-bin/burn", 30) or ""
        answers.append(answer[:80])
        return answer if answer.endswith("busy for 120 s") else None

    try:
        busy = wait_for(burn, 90, "the burn CGI's answer through the load balancer")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; answers: {answers}") from None
    assert busy.split()[0] in kept, busy
    wait_for(lambda: asg.describe_auto_scaling_groups(AutoScalingGroupNames=[
        out["GroupName"]])["AutoScalingGroups"][0]["DesiredCapacity"] == 3, 240,
        "the CPU alarm grew the group to 3")

    def scaled_by_the_alarm() -> bool:
        acts = asg.describe_scaling_activities(AutoScalingGroupName=out["GroupName"])[
            "Activities"]
        return any("-CpuHigh-" in a["Cause"] and "in state ALARM triggered policy" in
                   a["Cause"] and "from 2 to 3" in a["Cause"] for a in acts)

    wait_for(scaled_by_the_alarm, 60, "the launch activity with the alarm's cause")

    def members() -> list[str]:
        return sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[out["GroupName"]])["AutoScalingGroups"][0]["Instances"])

    wait_for(lambda: len(members()) == 3, 120, f"the third guest in the group ({members()})")
    grown = members()
    assert set(kept) < set(grown)
    wait_for(lambda: health() == dict.fromkeys(grown, "InService"), 180,
             f"the new guest serving behind the load balancer too ({health()})")
    ids = sorted(set(ids) | set(grown))

    # delete: nothing of the stack is left
    cf.delete_stack(StackName="seed")
    stack = _settle(cf, stack["StackId"], 300)
    assert stack["StackStatus"] == "DELETE_COMPLETE", _failures(cf, stack["StackId"])
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=ids)["Reservations"] for i in r["Instances"]}
    assert set(states.values()) == {"terminated"}, states
    assert not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[out["GroupName"]])["AutoScalingGroups"]
    assert not asg.describe_launch_configurations()["LaunchConfigurations"]
    assert out["LoadBalancerName"] not in {
        d["LoadBalancerName"] for d in elb.describe_load_balancers()["LoadBalancerDescriptions"]}
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    for what, key in (("describe_subnets", "Subnets"),
                      ("describe_network_interfaces", "NetworkInterfaces"),
                      ("describe_route_tables", "RouteTables")):
        assert not getattr(ec2, what)(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[key]
    assert not ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"]
                if g.get("VpcId") == vpc_id]
    # the next test on the shared two-host cloud sees its defaults again
    cloud.reset_properties("loadbalancing.supervise_interval_sec",
                           "cloud.monitoring.detailed_period_sec",
                           "cloudwatch.alarm_evaluation_interval_sec", "loadbalancing.dataplane")
