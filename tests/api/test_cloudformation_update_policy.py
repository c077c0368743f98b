"""An Auto Scaling group's UpdatePolicy through boto3 against a live cloud (fake
guests): a new launch configuration rolls through a group with
``AutoScalingRollingUpdate`` (same group, every instance replaced) and replaces a group
with ``AutoScalingReplacingUpdate`` ``WillReplace`` (a new group, the old one deleted)."""

from __future__ import annotations

from typing import Any

from cfnlint import api as cfnlint_api
from troposphere import Output, Parameter, Ref, Template, autoscaling
from troposphere.policies import AutoScalingReplacingUpdate, AutoScalingRollingUpdate, UpdatePolicy

from tests.api.autoscaling_helpers import image
from tests.api.cfn_helpers import events, settle, unique
from tests.support import LiveCloud


def _template() -> str:
    t = Template(Description="update policies")
    emi = t.add_parameter(Parameter("ImageId", Type="AWS::EC2::Image::Id"))
    kind = t.add_parameter(Parameter("InstanceType", Type="String", Default="t1.micro"))
    zone = t.add_parameter(Parameter("Zone", Type="AWS::EC2::AvailabilityZone::Name"))
    config = t.add_resource(autoscaling.LaunchConfiguration(
        "Config", ImageId=Ref(emi), InstanceType=Ref(kind)))
    t.add_resource(autoscaling.AutoScalingGroup(
        "Rolling", LaunchConfigurationName=Ref(config), MinSize="2", MaxSize="3",
        DesiredCapacity="2", AvailabilityZones=[Ref(zone)],
        UpdatePolicy=UpdatePolicy(AutoScalingRollingUpdate=AutoScalingRollingUpdate(
            MaxBatchSize=1, MinInstancesInService=1))))
    t.add_resource(autoscaling.AutoScalingGroup(
        "Replaced", LaunchConfigurationName=Ref(config), MinSize="1", MaxSize="1",
        AvailabilityZones=[Ref(zone)],
        UpdatePolicy=UpdatePolicy(AutoScalingReplacingUpdate=AutoScalingReplacingUpdate(
            WillReplace=True))))
    for name in ("Config", "Rolling", "Replaced"):
        t.add_output(Output(name, Value=Ref(name)))
    return t.to_json()


def test_rolling_and_replacing_updates_of_a_group(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    text = _template()
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(
        regions=["us-east-1"], ignore_checks=["W3697"]))  # LCs are in maintenance mode
    assert [str(f) for f in findings] == []
    cf, asg, ec2c = (cloud.client(n) for n in ("cloudformation", "autoscaling", "ec2"))
    zone = ec2c.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    name = unique("policy")
    stack_id = cf.create_stack(StackName=name, TemplateBody=text, Parameters=[
        {"ParameterKey": "ImageId", "ParameterValue": image(cloud)},
        {"ParameterKey": "Zone", "ParameterValue": zone}])["StackId"]
    stack = settle(cloud, name, timeout=180)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    before = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def group(group_name: str) -> dict[str, Any]:
        return dict(asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group_name])["AutoScalingGroups"][0])

    old_members = {i["InstanceId"] for i in group(before["Rolling"])["Instances"]}
    assert len(old_members) == 2

    new_values = [{"ParameterKey": "ImageId", "UsePreviousValue": True},
                  {"ParameterKey": "Zone", "UsePreviousValue": True},
                  {"ParameterKey": "InstanceType", "ParameterValue": "m1.small"}]
    # the change set tells which group the update replaces (the new configuration's
    # name is known only then: Conditional)
    cf.create_change_set(StackName=name, ChangeSetName="bigger", TemplateBody=text,
                         Parameters=new_values)
    cf.get_waiter("change_set_create_complete").wait(
        StackName=name, ChangeSetName="bigger", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"].get("Replacement")
               for c in cf.describe_change_set(StackName=name,
                                               ChangeSetName="bigger")["Changes"]}
    assert changes == {"Config": "True", "Rolling": "False", "Replaced": "Conditional"}
    cf.delete_change_set(StackName=name, ChangeSetName="bigger")
    cf.update_stack(StackName=name, TemplateBody=text, Parameters=new_values)
    stack = settle(cloud, name, timeout=240)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    after = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert after["Config"] != before["Config"]

    # rolling: the same group, each instance replaced by one of the new configuration
    assert after["Rolling"] == before["Rolling"]
    rolled = group(after["Rolling"])
    assert rolled["LaunchConfigurationName"] == after["Config"]
    serving = [i for i in rolled["Instances"] if i["LifecycleState"] == "InService"]
    assert len(serving) == 2
    assert {i["LaunchConfigurationName"] for i in serving} == {after["Config"]}
    assert not {i["InstanceId"] for i in serving} & old_members
    kinds = {r["Instances"][0]["InstanceType"] for r in ec2c.describe_instances(
        InstanceIds=[i["InstanceId"] for i in serving])["Reservations"]}
    assert kinds == {"m1.small"}

    # replacing: a new group, the old one deleted in cleanup
    assert after["Replaced"] != before["Replaced"]
    assert group(after["Replaced"])["LaunchConfigurationName"] == after["Config"]
    assert asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[before["Replaced"]])["AutoScalingGroups"] == []
    replaced = [e for e in events(cloud, name) if e["LogicalResourceId"] == "Replaced" and
                e.get("ResourceStatusReason", "").startswith("Requested update requires")]
    assert replaced

    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id, timeout=180)["StackStatus"] == "DELETE_COMPLETE"
