"""Auto Scaling groups through boto3 and the AWS CLI against a live cloud with the fake
node: launch configurations, a group kept at its desired capacity with real instances
(tagged with the group's name), healing after a guest dies, SetDesiredCapacity with the
termination policies choosing the right instance, activities worded as AWS words them,
standby, protection, suspended processes, waiters, paging, filters and errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.autoscaling_helpers import (
    group,
    image,
    in_service,
    kill_guest,
    launch_config,
    running,
    unique,
    wait_capacity,
    zones,
)
from tests.support import LiveCloud, wait_for


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def _create(cloud: LiveCloud, **extra: Any) -> str:
    name = unique("asg")
    params: dict[str, Any] = {"AutoScalingGroupName": name, "MinSize": 0, "MaxSize": 5,
                              "AvailabilityZones": zones(cloud)[:1]}
    if "LaunchTemplate" not in extra:
        params["LaunchConfigurationName"] = launch_config(cloud)
    params.update(extra)
    cloud.client("autoscaling").create_auto_scaling_group(**params)
    return name


def _cleanup(cloud: LiveCloud, name: str) -> None:
    asg = cloud.client("autoscaling")
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"], 60, f"{name} deleted")


def test_launch_configuration_defaults_and_errors(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    asg = cloud.client("autoscaling")
    name = launch_config(cloud)
    found = asg.describe_launch_configurations(LaunchConfigurationNames=[name])
    item = found["LaunchConfigurations"][0]
    assert item["InstanceMonitoring"] == {"Enabled": True}  # AWS's default for configurations
    assert item["LaunchConfigurationARN"].startswith("arn:aws:autoscaling:")
    assert ":launchConfiguration:" in item["LaunchConfigurationARN"]
    with pytest.raises(ClientError) as exc:
        asg.create_launch_configuration(LaunchConfigurationName=name, ImageId=image(cloud),
                                        InstanceType="t1.micro")
    assert _code(exc) == "AlreadyExists"
    with pytest.raises(ClientError) as exc:
        asg.create_launch_configuration(LaunchConfigurationName=unique("lc"),
                                        ImageId="emi-00000000", InstanceType="t1.micro")
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        asg.create_launch_configuration(LaunchConfigurationName=unique("lc"),
                                        InstanceType="t1.micro")
    assert _code(exc) == "ValidationError"
    assert "ImageId" in _message(exc)
    with pytest.raises(ClientError) as exc:
        asg.delete_launch_configuration(LaunchConfigurationName=unique("missing"))
    assert _code(exc) == "ValidationError"
    off = launch_config(cloud, InstanceMonitoring={"Enabled": False})
    item = asg.describe_launch_configurations(LaunchConfigurationNames=[off])
    assert item["LaunchConfigurations"][0]["InstanceMonitoring"] == {"Enabled": False}
    names = [launch_config(cloud) for _ in range(3)]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxRecords": 2}
    while True:
        page = asg.describe_launch_configurations(**kwargs)
        assert len(page["LaunchConfigurations"]) <= 2
        seen += [c["LaunchConfigurationName"] for c in page["LaunchConfigurations"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    group_name = _create(cloud, LaunchConfigurationName=names[0])
    with pytest.raises(ClientError) as exc:
        asg.delete_launch_configuration(LaunchConfigurationName=names[0])
    assert _code(exc) == "ResourceInUse"
    _cleanup(cloud, group_name)
    asg.delete_launch_configuration(LaunchConfigurationName=names[0])


def test_group_keeps_capacity_tags_instances_and_heals(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    asg = cloud.client("autoscaling")
    name = _create(cloud, MinSize=2, MaxSize=4, Tags=[
        {"Key": "team", "Value": "blue", "PropagateAtLaunch": True},
        {"Key": "secret", "Value": "no", "PropagateAtLaunch": False}])
    g = group(cloud, name)
    assert (g["DefaultCooldown"], g["HealthCheckType"], g["HealthCheckGracePeriod"]) == \
        (300, "EC2", 0)
    assert g["TerminationPolicies"] == ["Default"] and g["DesiredCapacity"] == 2
    ids = wait_capacity(cloud, name, 2)
    tags = cloud.client("ec2").describe_tags(Filters=[
        {"Name": "resource-id", "Values": ids}])["Tags"]
    per = {(t["ResourceId"], t["Key"]): t["Value"] for t in tags}
    for iid in ids:
        assert per[(iid, "aws:autoscaling:groupName")] == name
        assert per[(iid, "team")] == "blue"
        assert (iid, "secret") not in per
    cloud.client("ec2").get_waiter("instance_running").wait(
        InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # the node loses a guest: the group notices, replaces it, and says why
    kill_guest(cloud, ids[0])
    wait_for(lambda: ids[0] not in in_service(cloud, name) and len(
        in_service(cloud, name)) == 2, 90, "the dead guest replaced")
    now = wait_capacity(cloud, name, 2)
    assert ids[1] in now and ids[0] not in now
    assert running(cloud, [ids[0]])[ids[0]] in ("terminated", "shutting-down")
    acts = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    terminate = [a for a in acts if a["Description"] == f"Terminating EC2 instance: {ids[0]}"]
    assert terminate and "an instance was taken out of service in response to an EC2 " \
        "health check indicating it has been terminated or stopped." in terminate[0]["Cause"]
    launches = [a for a in acts if a["Description"].startswith("Launching a new EC2 instance: ")]
    assert len(launches) == 3 and all(a["StatusCode"] == "Successful" for a in launches)
    first = sorted(launches, key=lambda a: a["StartTime"])[0]
    assert "a user request created an AutoScalingGroup changing the desired capacity from 0 " \
        "to 2." in first["Cause"]
    assert "an instance was started in response to a difference between desired and actual " \
        "capacity, increasing the capacity from 0 to 2." in first["Cause"]
    assert json.loads(first["Details"])["Availability Zone"] == zones(cloud)[0]
    _cleanup(cloud, name)
    states = running(cloud, now)
    assert all(s in ("terminated", "shutting-down") for s in states.values())
