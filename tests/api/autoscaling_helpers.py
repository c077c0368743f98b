"""Helpers of the Auto Scaling tests: an image on the fake node, a launch configuration,
a group's instances as the API and EC2 see them, and a fake guest's death."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud, wait_for


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def image(cloud: LiveCloud) -> str:
    """A machine image the fake node runs (registered once per cloud)."""
    directory = cloud.data_dir / "as-imgs"
    marker = directory / "emi"
    if marker.exists():
        return marker.read_text()
    directory.mkdir(parents=True, exist_ok=True)
    emi = register_image_set(cloud, directory)["emi"]
    marker.write_text(emi)
    return emi


def launch_config(cloud: LiveCloud, **extra: Any) -> str:
    name = unique("lc")
    cloud.client("autoscaling").create_launch_configuration(
        LaunchConfigurationName=name, ImageId=image(cloud), InstanceType="t1.micro", **extra)
    return name


def zones(cloud: LiveCloud) -> list[str]:
    found = cloud.client("ec2").describe_availability_zones()["AvailabilityZones"]
    return [z["ZoneName"] for z in found]


def group(cloud: LiveCloud, name: str) -> dict[str, Any]:
    found = cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"]
    assert found, name
    return dict(found[0])


def in_service(cloud: LiveCloud, name: str) -> list[str]:
    return sorted(i["InstanceId"] for i in group(cloud, name)["Instances"]
                  if i["LifecycleState"] == "InService")


def running(cloud: LiveCloud, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    out = cloud.client("ec2").describe_instances(InstanceIds=ids)
    return {i["InstanceId"]: i["State"]["Name"]
            for r in out["Reservations"] for i in r["Instances"]}


def wait_capacity(cloud: LiveCloud, name: str, count: int, timeout: float = 60) -> list[str]:
    """Wait until exactly ``count`` instances are InService, each running in EC2, and no
    other instance is in the group."""
    def settled() -> list[str] | None:
        g = group(cloud, name)
        ids = in_service(cloud, name)
        if len(ids) != count or len(g["Instances"]) != count:
            return None
        states = running(cloud, ids)
        return ids if all(states.get(i) == "running" for i in ids) else None

    result: list[str] = wait_for(settled, timeout, f"{count} InService in {name}")
    return result


def kill_guest(cloud: LiveCloud, instance_id: str) -> None:
    """The fake node's guest dies (as ``virsh destroy`` would): the shipped fake driver
    powers off a guest named in its ``crash`` directory at its next look."""
    crash: Path = cloud.data_dir / "node" / "fake" / "crash"
    crash.mkdir(parents=True, exist_ok=True)
    (crash / instance_id).write_text("")
