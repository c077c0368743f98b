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

pytestmark = pytest.mark.both_databases  # the tests taking ``cloud``; the rest on SQLite


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


def test_created_times_read_as_written(sqlite_cloud: LiveCloud) -> None:
    """A page's CreatedTime (the stored text handed on as the answer's) is the creation
    time, to the millisecond, in a listing and in a lookup by name."""
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(milliseconds=5)
    names = sorted(_create(sqlite_cloud) for _ in range(2))
    after = datetime.now(UTC) + timedelta(milliseconds=5)
    asg = sqlite_cloud.client("autoscaling")
    listed = {g["AutoScalingGroupName"]: g["CreatedTime"]
              for page in asg.get_paginator("describe_auto_scaling_groups").paginate(
                  PaginationConfig={"PageSize": 1}) for g in page["AutoScalingGroups"]}
    named = asg.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in named] == names
    for found in named:
        created = found["CreatedTime"]
        assert created == listed[found["AutoScalingGroupName"]]
        assert created.utcoffset() == timedelta(0) and before <= created <= after, created
    for name in names:
        _cleanup(sqlite_cloud, name)


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


@pytest.mark.sqlite_only(
    "the group controller's healing workflow on the fake node; its SQL (group, "
    "instance and activity rows) runs on both databases in "
    "test_termination_policies_pick_the_right_instance")
def test_group_keeps_capacity_tags_instances_and_heals(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    name = _create(cloud, MinSize=2, MaxSize=4, Tags=[
        {"Key": "team", "Value": "blue", "PropagateAtLaunch": True},
        {"Key": "secret", "Value": "no", "PropagateAtLaunch": False}])
    g = group(cloud, name)
    assert (g["DefaultCooldown"], g["HealthCheckType"], g["HealthCheckGracePeriod"]) == \
        (300, "EC2", 0)
    assert g["TerminationPolicies"] == ["Default"] and g["DesiredCapacity"] == 2
    ids = wait_capacity(cloud, name, 2)
    # one zone, one source: the two came from one RunInstances (one reservation)
    assert len(cloud.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]) == 1
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


def _scale(cloud: LiveCloud, name: str, desired: int) -> list[str]:
    cloud.client("autoscaling").set_desired_capacity(AutoScalingGroupName=name,
                                                     DesiredCapacity=desired)
    return wait_capacity(cloud, name, desired)


def test_termination_policies_pick_the_right_instance(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    name = _create(cloud, TerminationPolicies=["OldestInstance"])
    first = _scale(cloud, name, 1)
    time.sleep(1.1)
    second = sorted(set(_scale(cloud, name, 2)) - set(first))
    time.sleep(1.1)
    third = sorted(set(_scale(cloud, name, 3)) - set(first) - set(second))
    left = _scale(cloud, name, 2)
    assert first[0] not in left  # OldestInstance
    acts = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    cause = next(a["Cause"] for a in acts
                 if a["Description"] == f"Terminating EC2 instance: {first[0]}")
    assert "a user request explicitly set group desired capacity changing the desired " \
        "capacity from 3 to 2." in cause
    assert "shrinking the capacity from 3 to 2." in cause
    assert f"instance {first[0]} was selected for termination." in cause
    asg.update_auto_scaling_group(AutoScalingGroupName=name,
                                  TerminationPolicies=["NewestInstance"])
    left = _scale(cloud, name, 1)
    assert left == second  # NewestInstance took the third
    assert third[0] not in left
    # Default: instances of an older launch configuration go first
    newer = launch_config(cloud)
    asg.update_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=newer,
                                  TerminationPolicies=["Default"])
    both = _scale(cloud, name, 2)
    fresh = sorted(set(both) - set(second))
    by_id = {i["InstanceId"]: i for i in group(cloud, name)["Instances"]}
    assert by_id[fresh[0]]["LaunchConfigurationName"] == newer
    assert _scale(cloud, name, 1) == fresh
    _cleanup(cloud, name)


def test_protection_standby_and_suspended_processes(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    asg = cloud.client("autoscaling")
    name = _create(cloud, DesiredCapacity=2)
    ids = wait_capacity(cloud, name, 2)
    asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=[ids[0]],
                                ProtectedFromScaleIn=True)
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    assert wait_capacity(cloud, name, 1) == [ids[0]]  # the protected one stays
    by_id = {i["InstanceId"]: i for i in group(cloud, name)["Instances"]}
    assert by_id[ids[0]]["ProtectedFromScaleIn"] is True
    # standby: out of service, not replaced when the desired capacity is decremented
    out = asg.enter_standby(AutoScalingGroupName=name, InstanceIds=[ids[0]],
                            ShouldDecrementDesiredCapacity=True)
    assert out["Activities"][0]["Description"] == f"Moving EC2 instance to Standby: {ids[0]}"
    time.sleep(2)
    g = group(cloud, name)
    assert g["DesiredCapacity"] == 0
    assert [(i["InstanceId"], i["LifecycleState"]) for i in g["Instances"]] == \
        [(ids[0], "Standby")]
    asg.exit_standby(AutoScalingGroupName=name, InstanceIds=[ids[0]])
    assert wait_capacity(cloud, name, 1) == [ids[0]]
    assert group(cloud, name)["DesiredCapacity"] == 1
    # a suspended Launch process launches nothing until resumed
    asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])
    g = group(cloud, name)
    assert [p["ProcessName"] for p in g["SuspendedProcesses"]] == ["Launch"]
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    time.sleep(3)
    assert len(group(cloud, name)["Instances"]) == 1
    asg.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])
    wait_capacity(cloud, name, 2)
    # SetInstanceHealth Unhealthy: replaced, in AWS's words
    asg.set_instance_health(InstanceId=ids[0], HealthStatus="Unhealthy")
    wait_for(lambda: ids[0] not in [i["InstanceId"] for i in group(cloud, name)["Instances"]]
             and len(in_service(cloud, name)) == 2, 60, "unhealthy replaced")
    acts = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    assert any(a["Description"] == f"Terminating EC2 instance: {ids[0]}" and
               "in response to a user health-check." in a["Cause"] for a in acts)
    # TerminateInstanceInAutoScalingGroup with a decrement
    victim = in_service(cloud, name)[0]
    res = asg.terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=True)
    assert res["Activity"]["Description"] == f"Terminating EC2 instance: {victim}"
    assert "was taken out of service in response to a user request, shrinking the " \
        "capacity from 2 to 1." in res["Activity"]["Cause"]
    wait_capacity(cloud, name, 1)
    _cleanup(cloud, name)


def test_group_errors_filters_paging_and_cli(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    asg = cloud.client("autoscaling")
    lc = launch_config(cloud)
    zone = zones(cloud)[0]
    base = {"LaunchConfigurationName": lc, "AvailabilityZones": [zone]}
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=3,
                                      MaxSize=1, **base)
    assert _code(exc) == "ValidationError"
    assert _message(exc) == "Max bound, 1, must be greater than or equal to min bound, 3"
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=1,
                                      MaxSize=2, DesiredCapacity=5, **base)
    assert _message(exc) == "Desired capacity:5 must be between the specified min size:1 " \
        "and max size:2"
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=0,
                                      MaxSize=1, LaunchConfigurationName=lc)
    assert "At least one Availability Zone or VPC Subnet is required." in _message(exc)
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=0,
                                      MaxSize=1, AvailabilityZones=[zone])
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=0,
                                      MaxSize=1, LaunchConfigurationName=unique("nolc"),
                                      AvailabilityZones=[zone])
    assert "Launch configuration name not found" in _message(exc)
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=0,
                                      MaxSize=1, LoadBalancerNames=["nolb"], **base)
    assert _code(exc) == "ValidationError"
    names = [_create(cloud, Tags=[{"Key": "tier", "Value": f"t{i}",
                                   "PropagateAtLaunch": False}]) for i in range(3)]
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=names[0], MinSize=0, MaxSize=1,
                                      **base)
    assert _code(exc) == "AlreadyExists"
    found = asg.describe_auto_scaling_groups(Filters=[{"Name": "tag:tier",
                                                       "Values": ["t1"]}])
    assert [g["AutoScalingGroupName"] for g in found["AutoScalingGroups"]] == [names[1]]
    pages = asg.get_paginator("describe_auto_scaling_groups").paginate(
        PaginationConfig={"PageSize": 1})
    listed = [g["AutoScalingGroupName"] for p in pages for g in p["AutoScalingGroups"]]
    assert set(names) <= set(listed) and len(listed) == len(set(listed))
    with pytest.raises(ClientError) as exc:
        asg.describe_auto_scaling_groups(NextToken="garbage")
    assert _code(exc) == "InvalidNextToken"
    with pytest.raises(ClientError) as exc:
        asg.set_desired_capacity(AutoScalingGroupName=names[0], DesiredCapacity=9)
    assert _message(exc) == "New SetDesiredCapacity value 9 is above max value 5 for the " \
        "AutoScalingGroup."
    with pytest.raises(ClientError) as exc:
        asg.update_auto_scaling_group(AutoScalingGroupName=unique("missing"), MinSize=1)
    assert _code(exc) == "ValidationError"
    # a new MinSize above the desired capacity carries it along (clamping)
    asg.update_auto_scaling_group(AutoScalingGroupName=names[0], MinSize=1)
    assert group(cloud, names[0])["DesiredCapacity"] == 1
    wait_capacity(cloud, names[0], 1)
    with pytest.raises(ClientError) as exc:
        asg.delete_auto_scaling_group(AutoScalingGroupName=names[0])
    assert _code(exc) == "ResourceInUse"
    tags = asg.describe_tags(Filters=[{"Name": "auto-scaling-group", "Values": [names[2]]}])
    assert [(t["Key"], t["Value"]) for t in tags["Tags"]] == [("tier", "t2")]
    limits = asg.describe_account_limits()
    assert limits["NumberOfAutoScalingGroups"] >= 3
    assert "OldestLaunchTemplate" in asg.describe_termination_policy_types()[
        "TerminationPolicyTypes"]
    assert {p["ProcessName"] for p in asg.describe_scaling_process_types()["Processes"]} >= {
        "Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance",
        "AlarmNotification", "ScheduledActions", "AddToLoadBalancer"}
    assert [t["AdjustmentType"] for t in asg.describe_adjustment_types()[
        "AdjustmentTypes"]] == ["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]
    # the AWS CLI
    out = json.loads(cloud.aws("autoscaling", "describe-auto-scaling-groups",
                               "--auto-scaling-group-names", names[0]).stdout)
    assert out["AutoScalingGroups"][0]["MinSize"] == 1
    cloud.aws("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name",
              names[0], "--min-size", "0", "--desired-capacity", "0")
    wait_for(lambda: not group(cloud, names[0])["Instances"], 60, "scaled to 0")
    failed = cloud.aws("autoscaling", "set-desired-capacity", "--auto-scaling-group-name",
                       names[0], "--desired-capacity", "99", check=False)
    assert failed.returncode != 0 and "ValidationError" in failed.stderr
    instances = asg.describe_auto_scaling_instances()["AutoScalingInstances"]
    assert all(i["AutoScalingGroupName"] for i in instances)
    for name in names:
        _cleanup(cloud, name)


def test_vpc_zone_identifier_names_subnets_that_exist(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    asg = cloud.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    zone = zones(cloud)[0]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24",
                               AvailabilityZone=zone)["Subnet"]["SubnetId"]
    lc = launch_config(cloud)
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=unique("bad"), MinSize=0,
                                      MaxSize=1, LaunchConfigurationName=lc,
                                      VPCZoneIdentifier="subnet-0123456789abcdef0")
    assert _code(exc) == "ValidationError"
    assert "subnet-0123456789abcdef0" in _message(exc)
    name = unique("asg")
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=1,
                                  DesiredCapacity=1, LaunchConfigurationName=lc,
                                  VPCZoneIdentifier=subnet)
    g = group(cloud, name)
    assert (g["VPCZoneIdentifier"], g["AvailabilityZones"]) == (subnet, [zone])
    ids = wait_capacity(cloud, name, 1)
    assert group(cloud, name)["Instances"][0]["AvailabilityZone"] == zone
    launched = ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"][0]
    assert (launched["SubnetId"], launched["VpcId"]) == (subnet, vpc)  # in the subnet
    assert launched["PrivateIpAddress"].startswith("10.77.1.")
    _cleanup(cloud, name)
    assert all(s in ("terminated", "shutting-down") for s in running(cloud, ids).values())


def test_failing_launches_are_recorded_and_paced(sqlite_cloud: LiveCloud) -> None:
    from tests.api.test_compute_instances import register_image_set

    cloud = sqlite_cloud
    asg = cloud.client("autoscaling")
    images = register_image_set(cloud, cloud.data_dir / unique("gone-imgs"))
    lc = unique("lc")
    asg.create_launch_configuration(LaunchConfigurationName=lc, ImageId=images["emi"],
                                    InstanceType="t1.micro")
    cloud.client("ec2").deregister_image(ImageId=images["emi"])
    created = time.monotonic()
    name = _create(cloud, LaunchConfigurationName=lc, DesiredCapacity=1)

    def activities() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = asg.describe_scaling_activities(
            AutoScalingGroupName=name)["Activities"]
        return got

    wait_for(lambda: any(a["StatusCode"] == "Failed" for a in activities()), 60,
             "a failed launch recorded")
    time.sleep(max(0.0, created + 6 - time.monotonic()))  # 6 s of retries at most
    acts = activities()
    failed = [a for a in acts if a["StatusCode"] == "Failed"]
    # retried with a growing pause: at most 3 in 6 s, none succeeded (the last one may
    # still be under way when this reads)
    assert failed and len(acts) <= 3, acts
    assert all(a["StatusCode"] != "Successful" for a in acts), acts
    assert len(acts) - len(failed) <= 1, acts
    assert failed[0]["Description"].startswith("Launching a new EC2 instance.  Status "
                                               "Reason: ")
    assert failed[0]["StatusMessage"].endswith("Launching EC2 instance failed.")
    assert group(cloud, name)["Instances"] == []
    _cleanup(cloud, name)


def test_attach_and_detach_instances(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    asg = cloud.client("autoscaling")
    ec2 = cloud.client("ec2")
    name = _create(cloud, MaxSize=2)
    iid = ec2.run_instances(ImageId=image(cloud), MinCount=1, MaxCount=1,
                            InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as exc:
        asg.attach_instances(AutoScalingGroupName=name, InstanceIds=[iid])
    assert _code(exc) == "ValidationError"  # still pending
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    asg.attach_instances(AutoScalingGroupName=name, InstanceIds=[iid])
    assert wait_capacity(cloud, name, 1) == [iid]
    assert group(cloud, name)["DesiredCapacity"] == 1
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["aws:autoscaling:groupName"] == name
    found = asg.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"]
    assert found[0]["AutoScalingGroupName"] == name and found[0]["HealthStatus"] == "HEALTHY"
    with pytest.raises(ClientError) as exc:
        asg.attach_instances(AutoScalingGroupName=name, InstanceIds=[iid])
    assert _code(exc) == "ValidationError"
    out = asg.detach_instances(AutoScalingGroupName=name, InstanceIds=[iid],
                               ShouldDecrementDesiredCapacity=True)
    assert out["Activities"][0]["Description"] == f"Detaching EC2 instance: {iid}"
    time.sleep(2)
    g = group(cloud, name)
    assert g["DesiredCapacity"] == 0 and g["Instances"] == []
    assert running(cloud, [iid])[iid] == "running"  # detached, not terminated
    with pytest.raises(ClientError) as exc:
        asg.terminate_instance_in_auto_scaling_group(InstanceId=iid,
                                                     ShouldDecrementDesiredCapacity=False)
    assert _code(exc) == "ValidationError"
    ec2.terminate_instances(InstanceIds=[iid])
    _cleanup(cloud, name)


def test_group_registers_its_instances_with_its_load_balancer(sqlite_cloud: LiveCloud) -> None:
    """Instances launched for a group join its classic load balancer; detached from the
    group, they leave it (through ELB's public api)."""
    cloud = sqlite_cloud
    elb = cloud.client("elb")
    lb = unique("lb")
    elb.create_load_balancer(LoadBalancerName=lb, AvailabilityZones=zones(cloud)[:1],
                             Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80,
                                         "InstanceProtocol": "HTTP", "InstancePort": 80}])
    name = _create(cloud, LoadBalancerNames=[lb], DesiredCapacity=2)
    asg = cloud.client("autoscaling")

    def members() -> set[str]:
        found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return {i["InstanceId"] for i in found["AutoScalingGroups"][0]["Instances"]}

    def registered() -> set[str]:
        described = elb.describe_load_balancers(LoadBalancerNames=[lb])
        return {i["InstanceId"] for i in described["LoadBalancerDescriptions"][0]["Instances"]}

    wait_for(lambda: len(members()) == 2 and registered() == members(), 90,
             "the group's two instances registered with its load balancer")
    assert asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["LoadBalancerNames"] == [lb]
    resting = sorted(members())[1]
    asg.enter_standby(AutoScalingGroupName=name, InstanceIds=[resting],
                      ShouldDecrementDesiredCapacity=True)
    wait_for(lambda: resting not in registered(), 60, "an instance in standby deregistered")
    asg.exit_standby(AutoScalingGroupName=name, InstanceIds=[resting])
    wait_for(lambda: resting in registered(), 60, "an instance out of standby registered")
    leaving = sorted(members())[0]
    asg.detach_instances(AutoScalingGroupName=name, InstanceIds=[leaving],
                         ShouldDecrementDesiredCapacity=True)
    wait_for(lambda: leaving not in registered(), 60, "a detached instance deregistered")
    _cleanup(cloud, name)
    elb.delete_load_balancer(LoadBalancerName=lb)
