"""Auto Scaling on the fake node, and its API against moto's server.

1. Scale-out: the time from SetDesiredCapacity(N) until N instances are InService in the
   group (and running in EC2), for N = 10, 50 and 200, one group, one server worker.
2. Alarm to launch: SetAlarmState ALARM on an alarm whose action is a simple scaling
   policy, until the group's first new instance appears (the alarm action ran the policy
   and the controller issued RunInstances: the instance id is recorded once
   RunInstances answered, so this bounds alarm -> RunInstances issued from above).
3. API CPU against moto: CreateAutoScalingGroup (500 groups, no instances) and a full
   DescribeAutoScalingGroups of the 500 (pages of 100), server CPU per call (process
   tree user + system time) with one boto3 client each, on a fresh cloud.

Run: ``python -m bench.autoscaling``; writes bench/results/autoscaling.md.
``python -m bench.autoscaling --api-only`` runs part 3 alone (seconds, not a minute) and
replaces only the table of the API section, keeping the rest of the file.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Server, cpu_seconds, start_cloud, start_moto
from bench.compute import fake_image_set

RESULTS = Path(__file__).resolve().parent / "results" / "autoscaling.md"
GROUPS = 500
SIZES = (10, 50, 200)
# full listings measured: the CPU clock ticks every 10 ms, a listing costs tens of ms
DESCRIBE_ROUNDS = 40
API_BEGIN = f"## API against moto ({GROUPS} groups, no instances)"
API_END = "## Targets (issue 15)"


def _client(server: Server, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(retries={"max_attempts": 1}, read_timeout=300))


def _wait(check: Callable[[], bool], timeout: float = 300, step: float = 0.05) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(step)
    return time.perf_counter() - started


def _members(asg: Any, name: str) -> list[dict[str, Any]]:
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return list(found["AutoScalingGroups"][0]["Instances"]) if found["AutoScalingGroups"] \
        else []


def _one_scale_out(asg: Any, ec2: Any, zone: str, size: int) -> float:
    """Seconds from SetDesiredCapacity(size) until ``size`` instances are InService."""
    name = f"bench-{size}"
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=size,
                                  LaunchConfigurationName="bench", AvailabilityZones=[zone])
    started = time.perf_counter()
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=size)
    _wait(lambda: sum(1 for i in _members(asg, name)
                      if i["LifecycleState"] == "InService") == size, step=0.1)
    took = time.perf_counter() - started
    ids = [i["InstanceId"] for i in _members(asg, name)]
    running = sum(1 for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                  for i in r["Instances"] if i["State"]["Name"] == "running")
    assert running == size, running
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    _wait(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"], step=0.2)
    return took


def scale_out(server: Server) -> dict[str, float]:
    asg, ec2 = _client(server, "autoscaling"), _client(server, "ec2")
    assert server.data_dir is not None
    image = fake_image_set(ec2, server.data_dir / "bench-imgs")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    asg.create_launch_configuration(LaunchConfigurationName="bench", ImageId=image,
                                    InstanceType="t1.micro")
    out: dict[str, float] = {}
    for size in SIZES:
        out[f"inservice_{size}_s"] = _one_scale_out(asg, ec2, zone, size)
    # an alarm's state change until the policy's first instance exists
    cw = _client(server, "cloudwatch")
    asg.create_auto_scaling_group(AutoScalingGroupName="bench-alarm", MinSize=0, MaxSize=2,
                                  LaunchConfigurationName="bench", AvailabilityZones=[zone])
    policy = asg.put_scaling_policy(AutoScalingGroupName="bench-alarm", PolicyName="up",
                                    AdjustmentType="ChangeInCapacity",
                                    ScalingAdjustment=1)["PolicyARN"]
    cw.put_metric_alarm(AlarmName="bench-cpu", Namespace="AWS/EC2",
                        MetricName="CPUUtilization", Statistic="Average", Period=60,
                        EvaluationPeriods=1, Threshold=70,
                        ComparisonOperator="GreaterThanThreshold", AlarmActions=[policy])
    started = time.perf_counter()
    cw.set_alarm_state(AlarmName="bench-cpu", StateValue="ALARM", StateReason="bench")
    _wait(lambda: bool(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[
        "bench-alarm"])["AutoScalingGroups"][0]["Instances"]), step=0.01)
    out["alarm_to_instance_s"] = time.perf_counter() - started
    cw.delete_alarms(AlarmNames=["bench-cpu"])
    asg.delete_auto_scaling_group(AutoScalingGroupName="bench-alarm", ForceDelete=True)
    _wait(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["bench-alarm"])["AutoScalingGroups"], step=0.2)
    return out


def api_cpu(server: Server) -> dict[str, float]:
    asg = _client(server, "autoscaling")
    image = "ami-12c6146b"
    if server.name == "cloudctl":
        ec2 = _client(server, "ec2")
        assert server.data_dir is not None
        image = fake_image_set(ec2, server.data_dir / "bench-imgs")
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    else:
        zone = "us-east-1a"
    asg.create_launch_configuration(LaunchConfigurationName="api", ImageId=image,
                                    InstanceType="t1.micro")
    asg.describe_auto_scaling_groups(MaxRecords=1)
    cpu0 = cpu_seconds(server.process.pid)
    for i in range(GROUPS):
        asg.create_auto_scaling_group(AutoScalingGroupName=f"api-{i:04d}", MinSize=0,
                                      MaxSize=2, LaunchConfigurationName="api",
                                      AvailabilityZones=[zone],
                                      Tags=[{"Key": "n", "Value": str(i),
                                             "PropagateAtLaunch": True}])
    create = (cpu_seconds(server.process.pid) - cpu0) / GROUPS * 1000
    rounds = DESCRIBE_ROUNDS
    cpu0 = cpu_seconds(server.process.pid)
    for _ in range(rounds):
        seen = 0
        for page in asg.get_paginator("describe_auto_scaling_groups").paginate(
                PaginationConfig={"PageSize": 100}):
            seen += len(page["AutoScalingGroups"])
        assert seen == GROUPS, seen
    describe = (cpu_seconds(server.process.pid) - cpu0) / rounds * 1000
    return {"create_cpu_ms": create, "describe500_cpu_ms": describe}


def api_section(ours: dict[str, float], theirs: dict[str, float]) -> list[str]:
    lines = [API_BEGIN, "",
             "Server CPU per call (process tree user+system time / calls), milliseconds; "
             f"DescribeAutoScalingGroups is the full listing of the {GROUPS} groups in pages "
             f"of 100 (5 calls), per listing, over {DESCRIBE_ROUNDS} listings.", "",
             "| call | moto | cloudctl | cloudctl / moto |", "|---|---|---|---|"]
    for label, key in (("CreateAutoScalingGroup", "create_cpu_ms"),
                       (f"DescribeAutoScalingGroups, all {GROUPS}", "describe500_cpu_ms")):
        lines.append(f"| {label} | {theirs[key]:.2f} | {ours[key]:.2f} | "
                     f"{ours[key] / theirs[key]:.2f} |")
    lines += ["", "moto's groups are records only (no instances, no controller); the cloud's "
                  "CPU includes everything its process does meanwhile (its controllers' "
                  "resyncs).", ""]
    return lines


def api_both() -> tuple[dict[str, float], dict[str, float]]:
    """Part 3 on a fresh cloud, then on moto's server: (cloudctl's, moto's) figures."""
    cloud = start_cloud(1)
    try:
        ours = api_cpu(cloud)
    finally:
        cloud.stop()
    moto = start_moto()
    try:
        theirs = api_cpu(moto)
    finally:
        moto.stop()
    return ours, theirs


def api_only() -> None:
    """Part 3 alone: the API section's table is replaced, the rest of the file kept."""
    load = os.getloadavg()
    ours, theirs = api_both()
    section = api_section(ours, theirs) + [f"API part only, load average at start "
                                           f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.", ""]
    old = RESULTS.read_text() if RESULTS.exists() else ""
    if API_BEGIN in old:
        head, rest = old.split(API_BEGIN, 1)
        tail = rest[rest.index(API_END):] if API_END in rest else ""
        RESULTS.write_text(head + "\n".join(section) + ("\n" + tail if tail else ""))
    else:
        RESULTS.write_text(old.rstrip() + "\n\n" + "\n".join(section))
    print("\n".join(section))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--api-only", action="store_true",
                        help="run the API part (3) only; keep the file's other sections")
    if parser.parse_args().api_only:
        api_only()
        return
    load = os.getloadavg()
    cloud = start_cloud(1)
    try:
        timing = scale_out(cloud)
    finally:
        cloud.stop()
    ours, theirs = api_both()  # a fresh cloud: no terminated instances being cleaned up
    lines = ["# Auto Scaling", "",
             "One server worker, the fake node (in-process, libvirt's test driver), SQLite.",
             f"Load average at start: {load[0]:.2f} (2 shared cores).", "",
             "## Scale-out: SetDesiredCapacity until every instance is InService", "",
             "| instances | seconds |", "|---|---|"]
    for size in SIZES:
        lines.append(f"| {size} | {timing[f'inservice_{size}_s']:.2f} |")
    lines += ["", f"Alarm state change (SetAlarmState ALARM, action: a simple scaling policy) "
                  f"until the group's first new instance exists: "
                  f"{timing['alarm_to_instance_s']:.2f} s.", ""]
    lines += api_section(ours, theirs)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
