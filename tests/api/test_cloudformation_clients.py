"""CloudFormation with the clients people use: templates written with troposphere and
linted by cfn-lint, YAML with short-form tags from the cloud's S3 (TemplateURL), the
AWS CLI's ``deploy`` (change sets), ``cloudctl stack events --follow``; instances with
their volumes, addresses and key pairs (parameters validated against the cloud), a wait
condition signalled through its URL, and a stack acting as its RoleARN."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cfnlint import api as cfnlint_api
from troposphere import GetAtt, Output, Parameter, Ref, Tags, Template, ec2, iam, s3

from tests.api.cfn_helpers import body, events, physical, settle, unique
from tests.api.s3_helpers import second_account
from tests.support import LiveCloud


def _image(cloud: LiveCloud) -> str:
    images = cloud.client("ec2").describe_images()["Images"]
    return str([i for i in images if i["ImageId"].startswith("emi-")][0]["ImageId"])


def _troposphere_template() -> Template:
    t = Template(Description="built with troposphere")
    prefix = t.add_parameter(Parameter("Prefix", Type="String", Default="tp",
                                       AllowedPattern="[a-z]+"))
    bucket = t.add_resource(s3.Bucket(
        "Logs", VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="expire", Status="Enabled", ExpirationInDays=30)]),
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                SSEAlgorithm="AES256"))]),
        Tags=Tags(purpose="logs")))
    role = t.add_resource(iam.Role(
        "Reader", AssumeRolePolicyDocument={"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]},
            "Action": ["sts:AssumeRole"]}]},
        Policies=[iam.Policy(PolicyName="read", PolicyDocument={
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                    "Resource": [GetAtt(bucket, "Arn")]}]})]))
    t.add_resource(iam.InstanceProfile("Profile", Roles=[Ref(role)]))
    t.add_resource(ec2.SecurityGroup("Web", GroupDescription="web",
                                     SecurityGroupIngress=[ec2.SecurityGroupRule(
                                         IpProtocol="tcp", FromPort=443, ToPort=443,
                                         CidrIp="0.0.0.0/0")]))
    t.add_output(Output("BucketArn", Value=GetAtt(bucket, "Arn")))
    t.add_output(Output("Prefix", Value=Ref(prefix)))
    return t


@pytest.fixture(scope="session", autouse=True)
def timing_out_stack(sqlite_cloud: LiveCloud) -> tuple[LiveCloud, str, float]:
    """A stack whose TimeoutInMinutes (1, the least AWS takes) runs out while a wait
    condition nobody signals keeps it creating. Created when the module starts, so the
    minute passes while the rest of the run goes on: the test that checks it is marked
    ``late`` (tests/conftest.py runs it after every other test of the session).

    It belongs to an account of its own, so the security group it makes (and its
    rollback deletes) is never among what other tests on this cloud list or count."""
    account = unique("slowacct")
    access_key, secret_key, account_id = second_account(sqlite_cloud, account)
    owner = dataclasses.replace(sqlite_cloud, access_key=access_key, secret_key=secret_key,
                                account_id=account_id)
    name = unique("slow")
    started = time.time()
    owner.client("cloudformation").create_stack(
        StackName=name, TimeoutInMinutes=1, TemplateBody=body({"Resources": {
            "Web": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "t"}},
            "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
            "Wait": {"Type": "AWS::CloudFormation::WaitCondition", "DependsOn": "Web",
                     "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "600"}}}}))
    return owner, name, started


def test_troposphere_template_linted_and_created(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    text = _troposphere_template().to_json()
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []
    cf = cloud.client("cloudformation")
    name = unique("tropo")
    cf.create_stack(StackName=name, TemplateBody=text, Capabilities=["CAPABILITY_IAM"])
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    bucket = physical(cloud, name, "Logs")
    s3c = cloud.client("s3")
    rules = s3c.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Expiration"]["Days"] == 30
    encryption = s3c.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == \
        "AES256"
    profile = cloud.client("iam").get_instance_profile(
        InstanceProfileName=physical(cloud, name, "Profile"))["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [physical(cloud, name, "Reader")]
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


YAML = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::LanguageExtensions
Parameters:
  Names:
    Type: CommaDelimitedList
    Default: alpha,beta
Conditions:
  Two: !Equals [!Select [1, !Ref Names], beta]
Resources:
  Fn::ForEach::Groups:
    - Name
    - !Ref Names
    - Group${Name}:
        Type: AWS::EC2::SecurityGroup
        Properties:
          GroupDescription: !Sub 'group ${Name} of ${AWS::StackName}'
  Extra:
    Type: AWS::EC2::SecurityGroup
    Condition: Two
    DeletionPolicy: !If [Two, Delete, Retain]
    Properties:
      GroupDescription: !Join [' ', [extra, !GetAtt Groupalpha.GroupId]]
Outputs:
  Count:
    Value:
      Fn::Length: !Ref Names
  Json:
    Value: !ToJsonString {a: !Ref Names}
"""


def test_yaml_from_s3_with_language_extensions(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    bucket = unique("templates")
    s3c = cloud.client("s3")
    s3c.create_bucket(Bucket=bucket)
    s3c.put_object(Bucket=bucket, Key="groups.yaml", Body=YAML.encode())
    cf = cloud.client("cloudformation")
    name = unique("yaml")
    url = f"{cloud.endpoint}/{bucket}/groups.yaml"
    with pytest.raises(ClientError) as caught:
        cf.create_stack(StackName=name, TemplateURL=url)
    assert caught.value.response["Error"]["Message"] == \
        "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"
    cf.create_stack(StackName=name, TemplateURL=url, Capabilities=["CAPABILITY_AUTO_EXPAND"])
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"Count": "2", "Json": '{"a":["alpha","beta"]}'}
    logical = {r["LogicalResourceId"] for r in
               cf.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    assert logical == {"Groupalpha", "Groupbeta", "Extra"}
    group = cloud.client("ec2").describe_security_groups(
        GroupIds=[physical(cloud, name, "Groupbeta")])["SecurityGroups"][0]
    assert group["Description"] == f"group beta of {name}"
    original = cf.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    assert "Fn::ForEach::Groups" in (original if isinstance(original, str) else json.dumps(original))
    processed = cf.get_template(StackName=name, TemplateStage="Processed")["TemplateBody"]
    assert "Groupalpha" in processed["Resources"]
    cf.delete_stack(StackName=name)


def test_aws_cli_deploy_and_cli_events(sqlite_cloud: LiveCloud, tmp_path: Path) -> None:
    cloud = sqlite_cloud
    name = unique("deploy")
    template = tmp_path / "t.json"
    template.write_text(body({"Parameters": {"Port": {"Type": "Number"}}, "Resources": {
        "Web": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "deployed", "SecurityGroupIngress": [{
                "IpProtocol": "tcp", "FromPort": {"Ref": "Port"}, "ToPort": {"Ref": "Port"},
                "CidrIp": "10.0.0.0/8"}]}}}}))
    done = cloud.aws("cloudformation", "deploy", "--template-file", str(template),
                     "--stack-name", name, "--parameter-overrides", "Port=8080", check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    stack = json.loads(cloud.aws("cloudformation", "describe-stacks", "--stack-name",
                                 name).stdout)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    # the update as a reviewed change set (the CLI's own execute waiter sleeps 30 s a poll)
    again = cloud.aws("cloudformation", "deploy", "--template-file", str(template),
                      "--stack-name", name, "--parameter-overrides", "Port=9090",
                      "--no-execute-changeset", check=False)
    assert again.returncode == 0, again.stderr + again.stdout
    cf = cloud.client("cloudformation")
    [change_set] = [c for c in cf.list_change_sets(StackName=name)["Summaries"]
                    if c["ExecutionStatus"] == "AVAILABLE"]
    cloud.aws("cloudformation", "execute-change-set", "--change-set-name",
              change_set["ChangeSetId"])
    cf.get_waiter("stack_update_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    group = physical(cloud, name, "Web")
    perms = cloud.client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"][0][
        "IpPermissions"]
    assert [p["FromPort"] for p in perms] == [9090]
    watched = cloud.cli("stack", "events", name, "--follow")
    lines = watched.stdout.splitlines()
    assert "REVIEW_IN_PROGRESS" in lines[0] and "User Initiated" in lines[0]  # a change set
    assert any(line.split()[2] == "CREATE_COMPLETE" for line in lines)
    assert lines[-1].split()[2] == "UPDATE_COMPLETE"
    as_json = cloud.cli("--output", "json", "stack", "events", name)
    parsed = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert parsed[-1]["ResourceStatus"] == "UPDATE_COMPLETE"
    assert {e["LogicalResourceId"] for e in parsed} == {name, "Web"}
    cloud.aws("cloudformation", "delete-stack", "--stack-name", name)
    cloud.client("cloudformation").get_waiter("stack_delete_complete").wait(
        StackName=stack["StackId"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_instances_volumes_addresses_and_a_wait_condition(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2c = cloud.client("ec2")
    key = unique("key")
    ec2c.create_key_pair(KeyName=key)
    zone = ec2c.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    cf = cloud.client("cloudformation")
    name = unique("vm")
    template: dict[str, Any] = {
        "Parameters": {
            "Key": {"Type": "AWS::EC2::KeyPair::KeyName"},
            "Image": {"Type": "AWS::EC2::Image::Id"},
            "Zone": {"Type": "AWS::EC2::AvailabilityZone::Name"},
            "Type": {"Type": "String", "Default": "t1.micro",
                     "AllowedValues": ["t1.micro", "m1.small"]}},
        "Resources": {
            "Web": {"Type": "AWS::EC2::SecurityGroup",
                    "Properties": {"GroupDescription": "vm"}},
            "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
            "Vm": {"Type": "AWS::EC2::Instance", "Properties": {
                "ImageId": {"Ref": "Image"}, "InstanceType": {"Ref": "Type"},
                "KeyName": {"Ref": "Key"}, "AvailabilityZone": {"Ref": "Zone"},
                "SecurityGroupIds": [{"Fn::GetAtt": ["Web", "GroupId"]}],
                "UserData": {"Fn::Base64": {"Fn::Sub": "curl -X PUT '${Handle}'"}}}},
            "Disk": {"Type": "AWS::EC2::Volume", "DeletionPolicy": "Snapshot",
                     "Properties": {"Size": 1, "AvailabilityZone": {"Ref": "Zone"}}},
            "Attach": {"Type": "AWS::EC2::VolumeAttachment", "Properties": {
                "VolumeId": {"Ref": "Disk"}, "InstanceId": {"Ref": "Vm"},
                "Device": "/dev/sdf"}},
            "Address": {"Type": "AWS::EC2::EIP", "Properties": {"InstanceId": {"Ref": "Vm"}}},
            "Ready": {"Type": "AWS::CloudFormation::WaitCondition", "DependsOn": "Vm",
                      "Properties": {"Handle": {"Ref": "Handle"}, "Count": 1,
                                     "Timeout": "120"}}},
        "Outputs": {"Ip": {"Value": {"Fn::GetAtt": ["Vm", "PrivateIp"]}},
                    "Az": {"Value": {"Fn::GetAtt": ["Vm", "AvailabilityZone"]}},
                    "Public": {"Value": {"Ref": "Address"}},
                    "Data": {"Value": {"Fn::GetAtt": ["Ready", "Data"]}}}}
    parameters = [{"ParameterKey": "Key", "ParameterValue": key},
                  {"ParameterKey": "Image", "ParameterValue": _image(cloud)},
                  {"ParameterKey": "Zone", "ParameterValue": zone}]
    with pytest.raises(ClientError) as caught:
        cf.create_stack(StackName=name, TemplateBody=body(template), Parameters=[
            *parameters[:2], {"ParameterKey": "Zone", "ParameterValue": "nowhere"}])
    assert caught.value.response["Error"]["Message"] == (
        "Parameter validation failed: parameter value nowhere for parameter name Zone does "
        "not exist")
    stack_id = cf.create_stack(StackName=name, TemplateBody=body(template),
                               Parameters=parameters)["StackId"]
    url = ""
    for _ in range(300):
        resources = cf.describe_stack_resources(StackName=name)["StackResources"]
        handle = [r for r in resources if r["LogicalResourceId"] == "Handle"
                  and r.get("PhysicalResourceId")]
        waiting = [r for r in resources if r["LogicalResourceId"] == "Ready"]
        if handle and waiting:
            url = handle[0]["PhysicalResourceId"]
            break
        time.sleep(0.2)
    assert url.startswith(cloud.endpoint + "/services/CloudFormation/waitcondition/")
    signal = json.dumps({"Status": "SUCCESS", "UniqueId": "vm1", "Data": "booted",
                         "Reason": "ok"}).encode()
    request = urllib.request.Request(url, data=signal, method="PUT",
                                     headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=10) as answered:
        assert answered.status == 200
    stack = settle(cloud, name, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Az"] == zone and outputs["Data"] == '{"vm1":"booted"}'
    vm = physical(cloud, name, "Vm")
    found = ec2c.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]
    assert found["State"]["Name"] == "running" and found["KeyName"] == key
    assert found["PrivateIpAddress"] == outputs["Ip"]
    disk = physical(cloud, name, "Disk")
    volume = ec2c.describe_volumes(VolumeIds=[disk])["Volumes"][0]
    assert volume["Attachments"][0]["InstanceId"] == vm
    address = ec2c.describe_addresses(PublicIps=[outputs["Public"]])["Addresses"][0]
    assert address["InstanceId"] == vm
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id, timeout=120)["StackStatus"] == "DELETE_COMPLETE"
    state = ec2c.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "terminated"
    snapshots = ec2c.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [disk]}])
    assert len(snapshots["Snapshots"]) == 1  # DeletionPolicy: Snapshot
    with pytest.raises(ClientError):
        ec2c.describe_volumes(VolumeIds=[disk])
    assert not ec2c.describe_addresses(Filters=[{"Name": "public-ip",
                                                 "Values": [outputs["Public"]]}])["Addresses"]


def test_stack_acts_as_its_role(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    iamc = cloud.client("iam")
    role = unique("cfn-role")
    arn = iamc.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iamc.put_role_policy(RoleName=role, PolicyName="ec2-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*",
                                                "Resource": "*"}]}))
    cf = cloud.client("cloudformation")
    name = unique("role")
    cf.create_stack(StackName=name, RoleARN=arn, TemplateBody=body({"Resources": {
        "Web": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "r"}},
        "Data": {"Type": "AWS::S3::Bucket", "DependsOn": "Web"}}}))
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["RoleARN"] == arn
    failed = [e for e in events(cloud, name) if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Data"]
    assert "AccessDenied" in failed[0]["ResourceStatusReason"]
    cf.delete_stack(StackName=name)


WEIRD = [
    {"Resources": {"A": {"Type": 5}}},
    {"Resources": {"A": {"Type": "AWS::S3::Bucket", "DependsOn": {"x": 1}}}},
    {"Parameters": {"P": {"Type": 7}}, "Resources": {"A": {"Type": "AWS::S3::Bucket"}}},
    {"Parameters": {"P": []}, "Resources": {"A": {"Type": "AWS::S3::Bucket"}}},
    {"Conditions": {"C": {"Fn::Equals": [1]}}, "Resources": {"A": {"Type": "AWS::S3::Bucket"}}},
    {"Resources": {"A": {"Type": "AWS::S3::Bucket", "Condition": ["x"]}}},
    {"Resources": {"A": {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": {"Fn::Join": [1, 2, 3]}}}}},
    {"Resources": ["A"]},
    [1, 2],
]


@pytest.mark.parametrize("template", WEIRD)
def test_odd_templates_are_validation_errors(sqlite_cloud: LiveCloud, template: Any) -> None:
    cf = sqlite_cloud.client("cloudformation")
    with pytest.raises(ClientError) as caught:
        cf.create_stack(StackName=unique("odd"), TemplateBody=json.dumps(template))
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_include_transform_and_request_token(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    bucket = unique("snippets")
    s3c = cloud.client("s3")
    s3c.create_bucket(Bucket=bucket)
    s3c.put_object(Bucket=bucket, Key="group.json", Body=json.dumps({
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"GroupDescription": "included"}}).encode())
    template = body({"Transform": "AWS::Include", "Resources": {
        "Web": {"Fn::Transform": {"Name": "AWS::Include",
                                  "Parameters": {"Location": f"s3://{bucket}/group.json"}}}}})
    cf = cloud.client("cloudformation")
    name = unique("incl")
    first = cf.create_stack(StackName=name, TemplateBody=template, ClientRequestToken="tok-1",
                            Capabilities=["CAPABILITY_AUTO_EXPAND"])["StackId"]
    again = cf.create_stack(StackName=name, TemplateBody=template, ClientRequestToken="tok-1",
                            Capabilities=["CAPABILITY_AUTO_EXPAND"])["StackId"]
    assert again == first  # the same request retried: the same stack, not AlreadyExists
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    group = cloud.client("ec2").describe_security_groups(
        GroupIds=[physical(cloud, name, "Web")])["SecurityGroups"][0]
    assert group["Description"] == "included"
    tokens = {e.get("ClientRequestToken") for e in events(cloud, name)
              if e["LogicalResourceId"] == name}
    assert tokens == {"tok-1"}
    cf.delete_stack(StackName=name)


def test_no_echo_values_never_shown(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf = cloud.client("cloudformation")
    name = unique("secret")
    password = "Sup3r-secret-Passw0rd!"
    cf.create_stack(StackName=name, Capabilities=["CAPABILITY_IAM"], Parameters=[
        {"ParameterKey": "Pw", "ParameterValue": password}], TemplateBody=body({
            "Parameters": {"Pw": {"Type": "String", "NoEcho": True}},
            "Resources": {
                "Person": {"Type": "AWS::IAM::User", "Properties": {
                    "LoginProfile": {"Password": {"Ref": "Pw"}}}},
                "Web": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                    "GroupDescription": {"Fn::Sub": "pw ${Pw}"}}}}}))
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Parameters"] == [{"ParameterKey": "Pw", "ParameterValue": "****"}]
    shown = json.dumps(events(cloud, name), default=str)
    assert password not in shown and "****" in shown
    profile = cloud.client("iam").get_login_profile(UserName=physical(cloud, name, "Person"))
    assert profile["LoginProfile"]["UserName"] == physical(cloud, name, "Person")
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_exports_imports_policy_and_cancel(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf = cloud.client("cloudformation")
    producer, consumer, export = unique("prod"), unique("cons"), unique("shared")
    group = {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "p"}}
    cf.create_stack(StackName=producer, TemplateBody=body({
        "Resources": {"Web": group},
        "Outputs": {"Id": {"Value": {"Ref": "Web"}, "Export": {"Name": export}}}}))
    assert settle(cloud, producer)["StackStatus"] == "CREATE_COMPLETE"
    cf.create_stack(StackName=consumer, TemplateBody=body({"Resources": {
        "Rule": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupName": {"Fn::ImportValue": export}, "IpProtocol": "tcp", "FromPort": 5,
            "ToPort": 5, "CidrIp": "10.1.0.0/16"}}}}))
    assert settle(cloud, consumer)["StackStatus"] == "CREATE_COMPLETE"
    assert cf.list_imports(ExportName=export)["Imports"] == [consumer]
    with pytest.raises(ClientError) as caught:
        cf.delete_stack(StackName=producer)
    assert caught.value.response["Error"]["Message"] == (
        f"Export {export} cannot be deleted as it is in use by {consumer}")
    cf.set_stack_policy(StackName=producer, StackPolicyBody=json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]}))
    assert json.loads(cf.get_stack_policy(StackName=producer)["StackPolicyBody"])[
        "Statement"][0]["Action"] == "Update:*"
    with pytest.raises(ClientError) as caught:
        cf.set_stack_policy(StackName=producer, StackPolicyBody="{}")
    assert "Statement is required" in caught.value.response["Error"]["Message"]
    # an update waiting on a signal that never comes, cancelled: back to the old template
    cf.update_stack(StackName=consumer, TemplateBody=body({"Resources": {
        "Rule": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupName": {"Fn::ImportValue": export}, "IpProtocol": "tcp", "FromPort": 5,
            "ToPort": 5, "CidrIp": "10.1.0.0/16"}},
        "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
        "Wait": {"Type": "AWS::CloudFormation::WaitCondition", "Properties": {
            "Handle": {"Ref": "Handle"}, "Timeout": "600"}}}}))


    deadline = time.time() + 30
    while not [r for r in cf.describe_stack_resources(StackName=consumer)["StackResources"]
               if r["LogicalResourceId"] == "Wait"]:
        assert time.time() < deadline
        time.sleep(0.1)
    cf.cancel_update_stack(StackName=consumer)
    assert settle(cloud, consumer)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    left = {r["LogicalResourceId"] for r in
            cf.list_stack_resources(StackName=consumer)["StackResourceSummaries"]}
    assert left == {"Rule"}
    with pytest.raises(ClientError) as caught:
        cf.cancel_update_stack(StackName=consumer)
    assert caught.value.response["Error"]["Message"] == (
        "CancelUpdateStack cannot be called from current stack status: "
        "UPDATE_ROLLBACK_COMPLETE")
    consumer_id = cf.describe_stacks(StackName=consumer)["Stacks"][0]["StackId"]
    cf.delete_stack(StackName=consumer)
    assert settle(cloud, consumer_id)["StackStatus"] == "DELETE_COMPLETE"
    cf.delete_stack(StackName=producer)  # nothing imports it any more


def test_creation_policy_waits_for_signal_resource(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf = cloud.client("cloudformation")
    name = unique("signal")
    cf.create_stack(StackName=name, TemplateBody=body({
        "Resources": {
            "Web": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "s"}},
            "Booted": {"Type": "AWS::CloudFormation::WaitCondition", "DependsOn": "Web",
                       "CreationPolicy": {"ResourceSignal": {"Count": 2, "Timeout": "PT5M"}}}},
        "Outputs": {"Data": {"Value": {"Fn::GetAtt": ["Booted", "Data"]}}}}))
    deadline = time.time() + 30
    while not [r for r in cf.describe_stack_resources(StackName=name)["StackResources"]
               if r["LogicalResourceId"] == "Booted" and r.get("PhysicalResourceId")]:
        assert time.time() < deadline
        time.sleep(0.1)
    cf.signal_resource(StackName=name, LogicalResourceId="Booted", UniqueId="i-1",
                       Status="SUCCESS")
    cf.signal_resource(StackName=name, LogicalResourceId="Booted", UniqueId="i-1",
                       Status="SUCCESS")  # the same instance again counts once
    time.sleep(1.5)
    assert cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == \
        "CREATE_IN_PROGRESS"
    cf.signal_resource(StackName=name, LogicalResourceId="Booted", UniqueId="i-2",
                       Status="SUCCESS")
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert json.loads(stack["Outputs"][0]["OutputValue"]) == {"i-1": "", "i-2": ""}
    with pytest.raises(ClientError) as caught:
        cf.signal_resource(StackName=name, LogicalResourceId="Booted", UniqueId="i-3",
                           Status="SUCCESS")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    cf.delete_stack(StackName=name)
    failing = unique("signal")
    cf.create_stack(StackName=failing, TemplateBody=body({"Resources": {
        "Booted": {"Type": "AWS::CloudFormation::WaitCondition",
                   "CreationPolicy": {"ResourceSignal": {"Count": 1, "Timeout": "PT5M"}}}}}))
    deadline = time.time() + 30
    while True:
        try:
            cf.signal_resource(StackName=failing, LogicalResourceId="Booted", UniqueId="i-1",
                               Status="FAILURE")
            break
        except ClientError:
            assert time.time() < deadline
            time.sleep(0.1)
    assert settle(cloud, failing)["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason") for e in events(cloud, failing)
               if e["ResourceStatus"] == "CREATE_FAILED"]
    assert reasons == ["Received FAILURE signal with UniqueId i-1"]


@pytest.mark.late
def test_timeout_in_minutes_rolls_back(
        timing_out_stack: tuple[LiveCloud, str, float]) -> None:
    """The module's timing-out stack was rolled back when its minute ended."""
    cloud, name, started = timing_out_stack
    cf = cloud.client("cloudformation")
    stack = settle(cloud, name, timeout=150)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert time.time() - started >= 59
    history = events(cloud, name)
    reasons = {e["ResourceStatus"]: e.get("ResourceStatusReason") for e in history
               if e["LogicalResourceId"] == name}
    assert reasons["ROLLBACK_IN_PROGRESS"] == "Create timed out"
    cancelled = [e for e in history if e["LogicalResourceId"] == "Wait"
                 and e["ResourceStatus"] == "CREATE_FAILED"]
    assert cancelled[0]["ResourceStatusReason"] == "Resource creation cancelled"
    web = [e["PhysicalResourceId"] for e in history if e["LogicalResourceId"] == "Web"
           and e["ResourceStatus"] == "CREATE_COMPLETE"][0]
    with pytest.raises(ClientError):
        cloud.client("ec2").describe_security_groups(GroupIds=[web])
    cf.delete_stack(StackName=name)
