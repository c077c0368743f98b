"""EC2 launch templates through boto3 and the AWS CLI against a live cloud with the fake
node (versions, $Latest/$Default, ModifyLaunchTemplate, deletes, RunInstances
--launch-template) and an Auto Scaling group launching from one."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.api.autoscaling_helpers import group, image, unique, wait_capacity, zones
from tests.support import LiveCloud, wait_for


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_launch_template_versions_and_run_instances(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    name = unique("lt")
    made = ec2.create_launch_template(
        LaunchTemplateName=name, VersionDescription="first",
        LaunchTemplateData={"ImageId": image(cloud), "InstanceType": "t1.micro",
                            "TagSpecifications": [{"ResourceType": "instance", "Tags": [
                                {"Key": "from", "Value": "template"}]}]},
        TagSpecifications=[{"ResourceType": "launch-template",
                            "Tags": [{"Key": "team", "Value": "blue"}]}])["LaunchTemplate"]
    template_id = made["LaunchTemplateId"]
    assert template_id.startswith("lt-")
    assert (made["DefaultVersionNumber"], made["LatestVersionNumber"]) == (1, 1)
    assert made["Tags"] == [{"Key": "team", "Value": "blue"}]
    with pytest.raises(ClientError) as exc:
        ec2.create_launch_template(LaunchTemplateName=name,
                                   LaunchTemplateData={"ImageId": image(cloud)})
    assert _code(exc) == "InvalidLaunchTemplateName.AlreadyExistsException"
    with pytest.raises(ClientError) as exc:
        ec2.create_launch_template(LaunchTemplateName="bad name!",
                                   LaunchTemplateData={"ImageId": image(cloud)})
    assert _code(exc) == "InvalidLaunchTemplateName.MalformedException"
    second = ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", VersionDescription="bigger",
        LaunchTemplateData={"InstanceType": "m1.small"})["LaunchTemplateVersion"]
    assert second["VersionNumber"] == 2 and second["DefaultVersion"] is False
    assert second["LaunchTemplateData"]["ImageId"] == image(cloud)  # from the source
    latest = ec2.describe_launch_template_versions(LaunchTemplateId=template_id,
                                                   Versions=["$Latest"])
    assert latest["LaunchTemplateVersions"][0]["LaunchTemplateData"]["InstanceType"] == \
        "m1.small"
    default = ec2.describe_launch_template_versions(LaunchTemplateName=name,
                                                    Versions=["$Default"])
    assert default["LaunchTemplateVersions"][0]["VersionNumber"] == 1
    run = ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={
        "LaunchTemplateId": template_id, "Version": "$Latest"})["Instances"][0]
    assert run["InstanceType"] == "m1.small" and run["ImageId"] == image(cloud)
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id",
                                       "Values": [run["InstanceId"]]}])["Tags"]
    assert ("from", "template") in {(t["Key"], t["Value"]) for t in tags}
    ec2.terminate_instances(InstanceIds=[run["InstanceId"]])
    modified = ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")
    assert modified["LaunchTemplate"]["DefaultVersionNumber"] == 2
    out = ec2.delete_launch_template_versions(LaunchTemplateId=template_id,
                                              Versions=["2", "1", "9"])
    assert [v["VersionNumber"] for v in out["SuccessfullyDeletedLaunchTemplateVersions"]] == [1]
    assert sorted(v["VersionNumber"] for v in
                  out["UnsuccessfullyDeletedLaunchTemplateVersions"]) == [2, 9]
    with pytest.raises(ClientError) as exc:
        ec2.describe_launch_templates(LaunchTemplateIds=["lt-0123456789abcdef0"])
    assert _code(exc) == "InvalidLaunchTemplateId.NotFound"
    listed = json.loads(cloud.aws("ec2", "describe-launch-templates", "--filters",
                                  "Name=tag:team,Values=blue").stdout)
    assert template_id in [t["LaunchTemplateId"] for t in listed["LaunchTemplates"]]
    ec2.delete_launch_template(LaunchTemplateId=template_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_launch_templates(LaunchTemplateNames=[name])
    assert _code(exc) == "InvalidLaunchTemplateName.NotFoundException"


def test_group_launches_from_a_template_and_oldest_template_goes_first(
        sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    asg = cloud.client("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName=unique("lt"), LaunchTemplateData={
            "ImageId": image(cloud), "InstanceType": "t1.micro"})["LaunchTemplate"]
    name = unique("asg")
    with pytest.raises(ClientError) as exc:
        asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=3,
                                      LaunchTemplate={"LaunchTemplateName": unique("none")},
                                      AvailabilityZones=zones(cloud)[:1])
    assert _code(exc) == "ValidationError"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=3, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"],
                        "Version": "$Latest"},
        AvailabilityZones=zones(cloud)[:1], TerminationPolicies=["OldestLaunchTemplate"])
    first = wait_capacity(cloud, name, 1)
    item = group(cloud, name)["Instances"][0]
    assert item["LaunchTemplate"]["Version"] == "1"
    ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplateId"],
                                       SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "m1.small"})
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    both = wait_capacity(cloud, name, 2)
    fresh = sorted(set(both) - set(first))
    types = {i["InstanceId"]: i["InstanceType"] for r in ec2.describe_instances(
        InstanceIds=both)["Reservations"] for i in r["Instances"]}
    assert types[fresh[0]] == "m1.small" and types[first[0]] == "t1.micro"
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    assert wait_capacity(cloud, name, 1) == fresh
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"], 60, "deleted")


def test_instance_refresh_replaces_every_instance(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    asg = cloud.client("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName=unique("lt"), LaunchTemplateData={
            "ImageId": image(cloud), "InstanceType": "t1.micro"})["LaunchTemplate"]
    name = unique("asg")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=2, MaxSize=3,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"],
                        "Version": "$Latest"}, AvailabilityZones=zones(cloud)[:1])
    before = wait_capacity(cloud, name, 2)
    with pytest.raises(ClientError) as exc:
        asg.cancel_instance_refresh(AutoScalingGroupName=name)
    assert _code(exc) == "ActiveInstanceRefreshNotFound"
    ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplateId"],
                                       SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "m1.small"})
    refresh_id = asg.start_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"]
    with pytest.raises(ClientError) as exc:
        asg.start_instance_refresh(AutoScalingGroupName=name)
    assert _code(exc) == "InstanceRefreshInProgress"
    lowest = [2]

    def finished() -> bool:
        lowest[0] = min(lowest[0], len([i for i in group(cloud, name)["Instances"]
                                        if i["LifecycleState"] == "InService"]))
        found = asg.describe_instance_refreshes(AutoScalingGroupName=name)
        return bool(found["InstanceRefreshes"][0]["Status"] == "Successful")

    wait_for(finished, 90, "refresh done")
    refresh = asg.describe_instance_refreshes(AutoScalingGroupName=name,
                                              InstanceRefreshIds=[refresh_id])
    item = refresh["InstanceRefreshes"][0]
    assert item["Preferences"]["MinHealthyPercentage"] == 90  # AWS's default
    assert item["PercentageComplete"] == 100
    after = wait_capacity(cloud, name, 2)
    assert not set(after) & set(before)
    assert lowest[0] >= 1  # one at a time: at least one InService throughout
    types = {i["InstanceType"] for r in ec2.describe_instances(
        InstanceIds=after)["Reservations"] for i in r["Instances"]}
    assert types == {"m1.small"}
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"], 60, "deleted")
