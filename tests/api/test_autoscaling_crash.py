"""kill -9 the cloud during an Auto Scaling scale-out of 5 on the fake node, start it
again on the same data directory: exactly 5 instances of the group run, none twice
(client tokens), no orphan guest on the node, and every launch activity ended."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.api.autoscaling_helpers import launch_config, unique, wait_capacity, zones
from tests.support import LiveCloud, wait_for


@pytest.fixture
def crash_cloud(crash_shared: LiveCloud) -> LiveCloud:
    """The shared kill -9 cloud (fake node, no demo image; tests/api/conftest.py)."""
    return crash_shared


def test_kill_9_during_scale_out_keeps_exactly_the_desired_instances(
        crash_cloud: LiveCloud) -> None:
    cloud = crash_cloud
    asg = cloud.client("autoscaling")
    name = unique("asg")
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=5,
                                  LaunchConfigurationName=launch_config(cloud),
                                  AvailabilityZones=zones(cloud)[:1])
    ec2 = cloud.client("ec2")

    def tagged() -> dict[str, str]:
        res = ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName",
                                               "Values": [name]}])
        return {i["InstanceId"]: i["State"]["Name"] for r in res["Reservations"]
                for i in r["Instances"]}

    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=5)
    deadline = time.time() + 30
    while time.time() < deadline and not tagged():
        time.sleep(0.02)
    cloud.stop(signal.SIGKILL)  # mid scale-out: some launched, some only recorded
    time.sleep(0.5)
    cloud.start()
    asg = cloud.client("autoscaling")
    ec2 = cloud.client("ec2")
    ids = wait_capacity(cloud, name, 5, timeout=90)
    live = {i for i, s in tagged().items() if s not in ("terminated", "shutting-down")}
    assert live == set(ids)
    guests = cloud.data_dir / "node" / "images" / "instances"
    wait_for(lambda: set(os.listdir(guests)) == set(ids), 60, "no orphan guest")
    acts = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    launches = [a for a in acts if a["Description"].startswith("Launching a new EC2 instance")]
    assert len(launches) == 5
    assert all(a["StatusCode"] == "Successful" for a in launches)
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"], 60, "deleted")
