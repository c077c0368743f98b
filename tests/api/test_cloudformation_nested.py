"""Nested stacks through boto3 against a live cloud: an AWS::CloudFormation::Stack whose
template is in the cloud's S3, its parameters from the parent, its outputs read with
``Fn::GetAtt Outputs.X``, updated with the parent and deleted with it."""

from __future__ import annotations

from cfnlint import api as cfnlint_api
from troposphere import GetAtt, Output, Parameter, Ref, Template, cloudformation, ec2

from tests.api.cfn_helpers import events, physical, settle, unique
from tests.support import LiveCloud


def _lint(text: str) -> None:
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []


def _child() -> str:
    t = Template(Description="the nested stack")
    port = t.add_parameter(Parameter("Port", Type="Number"))
    group = t.add_resource(ec2.SecurityGroup(
        "Inner", GroupDescription="inner", SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=Ref(port), ToPort=Ref(port), CidrIp="0.0.0.0/0")]))
    t.add_output(Output("GroupId", Value=GetAtt(group, "GroupId")))
    t.add_output(Output("Port", Value=Ref(port)))
    return t.to_json()


def _parent() -> str:
    t = Template(Description="the parent stack")
    t.add_parameter(Parameter("Port", Type="String", Default="80"))
    url = t.add_parameter(Parameter("ChildUrl", Type="String"))
    nested = t.add_resource(cloudformation.Stack(
        "Child", TemplateURL=Ref(url), Parameters={"Port": Ref("Port")}))
    t.add_resource(ec2.SecurityGroup(
        "Outer", GroupDescription="outer", SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=22, ToPort=22,
            SourceSecurityGroupId=GetAtt(nested, "Outputs.GroupId"))]))
    t.add_output(Output("Inner", Value=GetAtt(nested, "Outputs.GroupId")))
    t.add_output(Output("ChildId", Value=Ref(nested)))
    return t.to_json()


def test_nested_stack_from_s3_outputs_update_and_delete(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf, ec2c, s3c = (cloud.client(n) for n in ("cloudformation", "ec2", "s3"))
    bucket = unique("nested")
    s3c.create_bucket(Bucket=bucket)
    child_text = _child()
    _lint(child_text)
    s3c.put_object(Bucket=bucket, Key="child.json", Body=child_text.encode())
    url = f"{cloud.endpoint}/{bucket}/child.json"
    parent_text = _parent()
    _lint(parent_text)
    name = unique("parent")
    stack_id = cf.create_stack(StackName=name, TemplateBody=parent_text, Parameters=[
        {"ParameterKey": "ChildUrl", "ParameterValue": url}])["StackId"]
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    child_id = physical(cloud, name, "Child")
    assert outputs["ChildId"] == child_id
    child = cf.describe_stacks(StackName=child_id)["Stacks"][0]
    assert child["StackName"].startswith(f"{name}-Child-")
    assert (child["ParentId"], child["RootId"], child["StackStatus"]) == (
        stack_id, stack_id, "CREATE_COMPLETE")
    inner = {o["OutputKey"]: o["OutputValue"] for o in child["Outputs"]}
    assert outputs["Inner"] == inner["GroupId"] == physical(cloud, child_id, "Inner")
    outer = ec2c.describe_security_groups(
        GroupIds=[physical(cloud, name, "Outer")])["SecurityGroups"][0]
    assert outer["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == inner["GroupId"]
    ports = ec2c.describe_security_groups(GroupIds=[inner["GroupId"]])["SecurityGroups"][0]
    assert ports["IpPermissions"][0]["FromPort"] == 80

    # a new parameter value flows to the nested stack, updated in place
    cf.update_stack(StackName=name, TemplateBody=parent_text,
                    Parameters=[{"ParameterKey": "Port", "ParameterValue": "8080"},
                                {"ParameterKey": "ChildUrl", "UsePreviousValue": True}])
    assert settle(cloud, name)["StackStatus"] == "UPDATE_COMPLETE"
    child = cf.describe_stacks(StackName=child_id)["Stacks"][0]
    assert child["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in child["Outputs"]}["Port"] == "8080"
    ports = ec2c.describe_security_groups(GroupIds=[inner["GroupId"]])["SecurityGroups"][0]
    assert ports["IpPermissions"][0]["FromPort"] == 8080

    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert cf.describe_stacks(StackName=child_id)["Stacks"][0]["StackStatus"] == \
        "DELETE_COMPLETE"
    assert ec2c.describe_security_groups(Filters=[{
        "Name": "group-id", "Values": [inner["GroupId"]]}])["SecurityGroups"] == []


def test_nested_stack_failure_rolls_back_the_parent(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf, s3c = cloud.client("cloudformation"), cloud.client("s3")
    bucket = unique("nested")
    s3c.create_bucket(Bucket=bucket)
    t = Template()
    t.add_resource(ec2.Volume("Disk", AvailabilityZone="no-such-zone-1z", Size=1))
    s3c.put_object(Bucket=bucket, Key="bad.json", Body=t.to_json().encode())
    parent = Template()
    parent.add_resource(ec2.SecurityGroup("Sibling", GroupDescription="sibling"))
    parent.add_resource(cloudformation.Stack(
        "Child", TemplateURL=f"{cloud.endpoint}/{bucket}/bad.json"))
    name = unique("parent")
    stack_id = cf.create_stack(StackName=name, TemplateBody=parent.to_json())["StackId"]
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in events(cloud, name) if e["LogicalResourceId"] == "Child" and
              e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed and failed[0]["ResourceStatusReason"].startswith("Embedded stack arn:aws:")
    child_id = failed[0]["PhysicalResourceId"]
    assert cf.describe_stacks(StackName=child_id)["Stacks"][0]["StackStatus"] == \
        "DELETE_COMPLETE"
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
