"""CPU overcommit (``cloud.scheduler.cpu_overcommit_ratio``) through RunInstances.

A cloud whose (fake) local node has 2 cores runs 8 one-vCPU t1.micro at the default
ratio of 4; the 9th answers InsufficientInstanceCapacity; raising the ratio with
``cloudctl property set`` admits more at once. An Auto Scaling group asking for more
than there is room for gets what fits from its one RunInstances, and the rest of its
launches fail with EC2's capacity words.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud, new_cloud, wait_for


@pytest.fixture(scope="module")
def two_core_cloud() -> Iterator[LiveCloud]:
    saved = os.environ.get("CLOUDCTL_LOCAL_NODE_CORES")
    os.environ["CLOUDCTL_LOCAL_NODE_CORES"] = "2"
    cloud = new_cloud()
    try:
        cloud.start()
        yield cloud
    finally:
        if saved is None:
            os.environ.pop("CLOUDCTL_LOCAL_NODE_CORES", None)
        else:
            os.environ["CLOUDCTL_LOCAL_NODE_CORES"] = saved
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _launch(ec2: Any, emi: str, count: int) -> list[str]:
    res = ec2.run_instances(ImageId=emi, MinCount=count, MaxCount=count,
                            InstanceType="t1.micro")
    return [i["InstanceId"] for i in res["Instances"]]


def test_two_cores_run_eight_micro_and_the_ratio_is_a_property(two_core_cloud: LiveCloud
                                                               ) -> None:
    cloud = two_core_cloud
    images = register_image_set(cloud, cloud.data_dir / "imgs")
    ec2 = cloud.client("ec2")
    got = json.loads(cloud.cli("property", "get", "cloud.scheduler.cpu_overcommit_ratio",
                               "--output", "json").stdout)
    assert got == {"cloud.scheduler.cpu_overcommit_ratio": 4}
    launched = _launch(ec2, images["emi"], 8)
    assert len(launched) == 8
    with pytest.raises(ClientError) as err:
        _launch(ec2, images["emi"], 1)
    assert err.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"

    cloud.cli("property", "set", "cloud.scheduler.cpu_overcommit_ratio=5")  # the CLI, as documented

    def admitted() -> list[str]:
        try:
            return _launch(ec2, images["emi"], 2)
        except ClientError:
            return []

    launched += wait_for(admitted, 15, "two more t1.micro at ratio 5")
    with pytest.raises(ClientError) as err:
        _launch(ec2, images["emi"], 1)
    assert err.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    ec2.terminate_instances(InstanceIds=launched)


def test_a_group_scale_out_gets_the_room_there_is(two_core_cloud: LiveCloud) -> None:
    from tests.api.autoscaling_helpers import launch_config, wait_capacity, zones

    cloud = two_core_cloud
    ec2 = cloud.client("ec2")
    wait_for(lambda: all(i["State"]["Name"] == "terminated" for r in ec2.describe_instances()[
        "Reservations"] for i in r["Instances"]), 60, "the node empty (the test before)")
    asg = cloud.client("autoscaling")
    asg.create_auto_scaling_group(AutoScalingGroupName="room", MinSize=0, MaxSize=12,
                                  DesiredCapacity=12, AvailabilityZones=zones(cloud)[:1],
                                  LaunchConfigurationName=launch_config(cloud))

    def failed() -> list[dict[str, Any]] | None:
        found = [a for a in asg.describe_scaling_activities(
            AutoScalingGroupName="room")["Activities"] if a["StatusCode"] == "Failed"]
        return sorted(found, key=lambda a: a["StartTime"]) if found else None

    first = wait_for(failed, 30, "the launches beyond the room failed")
    room = len(asg.describe_auto_scaling_groups(AutoScalingGroupNames=["room"])[
        "AutoScalingGroups"][0]["Instances"])
    assert 8 <= room < 12  # two cores at a ratio of 4 or 5 (the test before sets 5)
    ids = wait_capacity(cloud, "room", room)
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    assert len(reservations) == 1  # they came from one RunInstances
    first = wait_for(lambda: (lambda f: f if f and len(f) >= 12 - room else None)(failed()),
                     30, "every launch beyond the room failed")
    assert all(a["StatusMessage"] == (
        f"We currently do not have sufficient capacity in the Availability Zone "
        f"({zones(cloud)[0]}). Our system will be working on provisioning additional "
        "capacity. Launching EC2 instance failed.") for a in first[:12 - room])
