"""CloudFormation stacks through boto3 against a live cloud: real IAM, S3 and EC2
resources created in parallel, outputs and exports, rollback leaving nothing behind,
update with replacement, deletion policies, errors as AWS words them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.api.cfn_helpers import body, events, physical, settle, unique
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _group(description: str = "web", port: int = 80) -> dict[str, Any]:
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": description,
        "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                  "CidrIp": "0.0.0.0/0"}]}}


def _exists_group(cloud: LiveCloud, group_id: str) -> bool:
    try:
        cloud.client("ec2").describe_security_groups(GroupIds=[group_id])
    except ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidGroup.NotFound"
        return False
    return True


def _exists_bucket(cloud: LiveCloud, name: str) -> bool:
    try:
        cloud.client("s3").head_bucket(Bucket=name)
    except ClientError:
        return False
    return True


def _exists_user(cloud: LiveCloud, name: str) -> bool:
    try:
        cloud.client("iam").get_user(UserName=name)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchEntity"
        return False
    return True


def test_stack_builds_real_resources_and_deletes_them(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("web")
    export = unique("group")
    template = {
        "Description": "a user, a bucket, a group",
        "Parameters": {"Port": {"Type": "Number", "Default": "80", "MinValue": 1}},
        "Resources": {
            "Worker": {"Type": "AWS::IAM::User"},
            "Data": {"Type": "AWS::S3::Bucket", "Properties": {
                "VersioningConfiguration": {"Status": "Enabled"},
                "CorsConfiguration": {"CorsRules": [{"AllowedMethods": ["GET"],
                                                     "AllowedOrigins": ["*"]}]}}},
            "Web": _group(),
            "Access": {"Type": "AWS::IAM::Policy", "Properties": {
                "PolicyName": "data", "Users": [{"Ref": "Worker"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "s3:*",
                    "Resource": {"Fn::Sub": "${Data.Arn}/*"}}]}}}},
        "Outputs": {
            "GroupId": {"Value": {"Fn::GetAtt": ["Web", "GroupId"]},
                        "Export": {"Name": export}},
            "Bucket": {"Value": {"Ref": "Data"}, "Description": "the bucket"}}}
    stack_id = cf.create_stack(StackName=name, TemplateBody=body(template),
                               Capabilities=["CAPABILITY_IAM"], Tags=[{"Key": "team",
                                                                       "Value": "blue"}])["StackId"]
    assert stack_id.startswith(f"arn:aws:cloudformation:{cloud.region}:")
    cf.get_waiter("stack_create_complete").wait(StackName=name,
                                                WaiterConfig={"Delay": 0.2, "MaxAttempts": 450})
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Description"] == "a user, a bucket, a group"
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    group_id, bucket = outputs["GroupId"]["OutputValue"], outputs["Bucket"]["OutputValue"]
    assert outputs["GroupId"]["ExportName"] == export
    assert bucket.startswith(f"{name}-data-")
    # the resources are real
    s3 = cloud.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedMethods"] == ["GET"]
    group = cloud.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["IpPermissions"][0]["FromPort"] == 80
    tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
    assert tags["aws:cloudformation:stack-name"] == name
    assert tags["aws:cloudformation:logical-id"] == "Web"
    assert tags["aws:cloudformation:stack-id"] == stack_id
    assert tags["team"] == "blue"
    user = physical(cloud, name, "Worker")
    policy = cloud.client("iam").get_user_policy(UserName=user, PolicyName="data")
    assert policy["PolicyDocument"]["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    # the API's views of it
    exports = {e["Name"]: e for e in cf.list_exports()["Exports"]}
    assert exports[export]["Value"] == group_id
    assert exports[export]["ExportingStackId"] == stack_id
    listed = {r["LogicalResourceId"]: r for r in
              cf.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    assert set(listed) == {"Worker", "Data", "Web", "Access"}
    assert {r["ResourceStatus"] for r in listed.values()} == {"CREATE_COMPLETE"}
    described = cf.describe_stack_resources(PhysicalResourceId=group_id)["StackResources"]
    assert {r["StackId"] for r in described} == {stack_id}  # the resource's whole stack
    assert len(described) == 4
    assert json.loads(json.dumps(cf.get_template(StackName=name)["TemplateBody"])) == template
    summary = cf.get_template_summary(StackName=name)
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]
    assert summary["Parameters"][0]["ParameterKey"] == "Port"
    first, last = events(cloud, name)[0], events(cloud, name)[-1]
    assert (first["ResourceStatus"], first["ResourceStatusReason"]) == (
        "CREATE_IN_PROGRESS", "User Initiated")
    assert (last["LogicalResourceId"], last["ResourceStatus"]) == (name, "CREATE_COMPLETE")
    # delete: every resource goes
    cf.delete_stack(StackName=name)
    cf.get_waiter("stack_delete_complete").wait(StackName=stack_id,
                                                WaiterConfig={"Delay": 0.2, "MaxAttempts": 450})
    assert not _exists_group(cloud, group_id)
    assert not _exists_bucket(cloud, bucket)
    assert not _exists_user(cloud, user)
    gone = cf.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    assert name in [s["StackName"] for s in cf.list_stacks(
        StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]]
    with pytest.raises(ClientError) as caught:
        cf.describe_stacks(StackName=name)
    assert caught.value.response["Error"]["Message"] == f"Stack with id {name} does not exist"


def test_independent_resources_start_together_and_dependents_wait(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("par")
    resources: dict[str, Any] = {f"G{i}": _group(f"g{i}") for i in range(5)}
    resources["Rule"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
        "GroupId": {"Fn::GetAtt": ["G0", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 22,
        "ToPort": 22, "SourceSecurityGroupId": {"Fn::GetAtt": ["G1", "GroupId"]}}}
    resources["Last"] = {"Type": "AWS::S3::Bucket", "DependsOn": "Rule"}
    cf.create_stack(StackName=name, TemplateBody=body({"Resources": resources}))
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    order = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events(cloud, name)
             if e.get("ResourceStatusReason") is None or e["ResourceStatus"] != "CREATE_IN_PROGRESS"
             or e["ResourceStatusReason"] != "Resource creation Initiated"]
    started = {n: order.index((n, "CREATE_IN_PROGRESS")) for n in resources}
    completed = {n: order.index((n, "CREATE_COMPLETE")) for n in resources}
    # the five groups all start before any of them completes (in parallel)
    assert max(started[f"G{i}"] for i in range(5)) < min(completed[f"G{i}"] for i in range(5))
    # the rule waits for both groups, the bucket for the rule (DependsOn)
    assert started["Rule"] > max(completed["G0"], completed["G1"])
    assert started["Last"] > completed["Rule"]
    g0 = physical(cloud, name, "G0")
    perms = cloud.client("ec2").describe_security_groups(GroupIds=[g0])["SecurityGroups"][0][
        "IpPermissions"]
    assert any(p.get("UserIdGroupPairs") for p in perms)
    cf.delete_stack(StackName=name)


def test_a_failed_resource_rolls_back_everything_it_made(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    taken = unique("taken")
    cloud.client("s3").create_bucket(Bucket=taken)
    name = unique("fail")
    template = {"Resources": {
        "Worker": {"Type": "AWS::IAM::User"}, "Web": _group(),
        "Data": {"Type": "AWS::S3::Bucket", "DependsOn": ["Worker", "Web"],
                 "Properties": {"BucketName": taken}}}}
    stack_id = cf.create_stack(StackName=name, TemplateBody=body(template),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    with pytest.raises(WaiterError):
        cf.get_waiter("stack_create_complete").wait(
            StackName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 450})
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    history = events(cloud, name)
    rollback = [e for e in history if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS"][0]
    assert rollback["ResourceStatusReason"] == ("The following resource(s) failed to create: "
                                                "[Data]. Rollback requested by user.")
    failed = [e for e in history if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Data"]
    assert "BucketAlreadyOwnedByYou" in failed[0]["ResourceStatusReason"]
    made = {e["LogicalResourceId"]: e["PhysicalResourceId"] for e in history
            if e["ResourceStatus"] == "CREATE_COMPLETE" and e["LogicalResourceId"] != name}
    assert set(made) == {"Worker", "Web"}
    assert not _exists_user(cloud, made["Worker"])
    assert not _exists_group(cloud, made["Web"])
    assert _exists_bucket(cloud, taken)  # not the stack's: rollback leaves it alone
    statuses = [e["ResourceStatus"] for e in history if e["LogicalResourceId"] == name]
    assert statuses == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    # a rolled-back stack can only be deleted
    with pytest.raises(ClientError) as caught:
        cf.update_stack(StackName=name, TemplateBody=body({"Resources": {"W": _group()}}))
    assert "ROLLBACK_COMPLETE state and can not be updated" in \
        caught.value.response["Error"]["Message"]
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"


@pytest.mark.parametrize(("on_failure", "status"), [("DELETE", "DELETE_COMPLETE"),
                                                      ("DO_NOTHING", "CREATE_FAILED")])
def test_on_failure(cloud: LiveCloud, on_failure: str, status: str) -> None:
    cf = cloud.client("cloudformation")
    taken = unique("taken")
    cloud.client("s3").create_bucket(Bucket=taken)
    name = unique("onf")
    stack_id = cf.create_stack(StackName=name, OnFailure=on_failure, TemplateBody=body({
        "Resources": {"Web": _group(),
                      "Data": {"Type": "AWS::S3::Bucket", "DependsOn": "Web",
                               "Properties": {"BucketName": taken}}}}))["StackId"]
    stack = settle(cloud, stack_id)
    assert stack["StackStatus"] == status
    web = [e for e in events(cloud, stack_id) if e["LogicalResourceId"] == "Web" and
           e["ResourceStatus"] == "CREATE_COMPLETE"][0]["PhysicalResourceId"]
    assert _exists_group(cloud, web) is (on_failure == "DO_NOTHING")
    if on_failure == "DO_NOTHING":
        cf.delete_stack(StackName=name)
        assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
        assert not _exists_group(cloud, web)


def test_update_replaces_or_updates_in_place_and_rolls_back(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("upd")
    cf.create_stack(StackName=name, TemplateBody=body({"Resources": {"Web": _group()}}))
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    first = physical(cloud, name, "Web")
    # an ingress change is applied in place: same group
    cf.update_stack(StackName=name, TemplateBody=body({"Resources": {"Web": _group(port=443)}}))
    assert settle(cloud, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert physical(cloud, name, "Web") == first
    perms = cloud.client("ec2").describe_security_groups(GroupIds=[first])["SecurityGroups"][0][
        "IpPermissions"]
    assert [p["FromPort"] for p in perms] == [443]
    # a description change (createOnlyProperties) replaces it: new group, old deleted
    cf.update_stack(StackName=name, TemplateBody=body({"Resources": {
        "Web": _group("changed", 443)}}))
    assert settle(cloud, name)["StackStatus"] == "UPDATE_COMPLETE"
    second = physical(cloud, name, "Web")
    assert second != first and not _exists_group(cloud, first)
    reasons = [e.get("ResourceStatusReason") for e in events(cloud, name)]
    assert ("Requested update requires the creation of a new physical resource; hence "
            "creating one.") in reasons
    statuses = [e["ResourceStatus"] for e in events(cloud, name) if e["LogicalResourceId"] == name]
    assert statuses[-2:] == ["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
    with pytest.raises(ClientError) as caught:
        cf.update_stack(StackName=name, TemplateBody=body({"Resources": {
            "Web": _group("changed", 443)}}))
    assert caught.value.response["Error"]["Message"] == "No updates are to be performed."
    # an update that fails (a taken bucket) rolls back to the previous template
    taken = unique("taken")
    cloud.client("s3").create_bucket(Bucket=taken)
    cf.update_stack(StackName=name, TemplateBody=body({"Resources": {
        "Web": _group("again", 443),
        "Data": {"Type": "AWS::S3::Bucket", "DependsOn": "Web",
                 "Properties": {"BucketName": taken}}}}))
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert physical(cloud, name, "Web") == second and _exists_group(cloud, second)
    replaced = [e["PhysicalResourceId"] for e in events(cloud, name)
                if e["LogicalResourceId"] == "Web" and e["ResourceStatus"] == "DELETE_COMPLETE"]
    assert len(replaced) == 2 and not _exists_group(cloud, replaced[-1])
    body_now = cf.get_template(StackName=name)["TemplateBody"]
    assert body_now["Resources"]["Web"]["Properties"]["GroupDescription"] == "changed"
    cf.delete_stack(StackName=name)


def test_change_sets_describe_replacement_and_execute(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("cs")
    made = cf.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE",
                                TemplateBody=body({"Resources": {"Web": _group(),
                                                                 "Old": _group("old")}}))
    assert cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    cf.get_waiter("change_set_create_complete").wait(ChangeSetName=made["Id"],
                                                     WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    described = cf.describe_change_set(ChangeSetName="first", StackName=name)
    assert sorted((c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
                  for c in described["Changes"]) == [("Add", "Old"), ("Add", "Web")]
    cf.execute_change_set(ChangeSetName=made["Id"])
    cf.get_waiter("stack_create_complete").wait(StackName=name,
                                                WaiterConfig={"Delay": 0.2, "MaxAttempts": 450})
    web = physical(cloud, name, "Web")
    cf.create_change_set(StackName=name, ChangeSetName="second", TemplateBody=body({
        "Resources": {"Web": _group("renamed", 8080), "New": _group("new")}}))
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
               for c in cf.describe_change_set(ChangeSetName="second",
                                               StackName=name)["Changes"]}
    assert changes["New"]["Action"] == "Add"
    assert changes["Old"]["Action"] == "Remove"
    assert changes["Web"]["Action"] == "Modify" and changes["Web"]["Replacement"] == "True"
    assert changes["Web"]["PhysicalResourceId"] == web
    details = {d["Target"]["Name"]: d["Target"]["RequiresRecreation"]
               for d in changes["Web"]["Details"]}
    assert details == {"GroupDescription": "Always", "SecurityGroupIngress": "Never"}
    listed = cf.list_change_sets(StackName=name)["Summaries"]
    assert [s["ChangeSetName"] for s in listed] == ["first", "second"]
    cf.execute_change_set(ChangeSetName="second", StackName=name)
    assert settle(cloud, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert physical(cloud, name, "Web") != web and not _exists_group(cloud, web)
    cf.create_change_set(StackName=name, ChangeSetName="none", TemplateBody=body({
        "Resources": {"Web": _group("renamed", 8080), "New": _group("new")}}))
    empty = cf.describe_change_set(ChangeSetName="none", StackName=name)
    assert empty["Status"] == "FAILED" and empty["ExecutionStatus"] == "UNAVAILABLE"
    assert "didn't contain changes" in empty["StatusReason"]
    cf.delete_change_set(ChangeSetName="none", StackName=name)
    with pytest.raises(ClientError) as caught:
        cf.describe_change_set(ChangeSetName="none", StackName=name)
    assert caught.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cf.delete_stack(StackName=name)


def test_deletion_policy_retain_and_retain_resources(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("keep")
    cf.create_stack(StackName=name, TemplateBody=body({"Resources": {
        "Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
        "Full": {"Type": "AWS::S3::Bucket"}, "Web": _group()}}))
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    kept, full, web = (physical(cloud, name, n) for n in ("Kept", "Full", "Web"))
    cloud.client("s3").put_object(Bucket=full, Key="k", Body=b"x")  # not empty: cannot go
    cf.delete_stack(StackName=name)
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["StackStatusReason"] == "The following resource(s) failed to delete: [Full]. "
    with pytest.raises(ClientError) as caught:
        cf.delete_stack(StackName=name, RetainResources=["Nope"])
    assert "do not exist" in caught.value.response["Error"]["Message"]
    cf.delete_stack(StackName=name, RetainResources=["Full"])
    assert settle(cloud, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    skipped = {e["LogicalResourceId"] for e in events(cloud, stack["StackId"])
               if e["ResourceStatus"] == "DELETE_SKIPPED"}
    assert skipped == {"Kept", "Full"}
    assert _exists_bucket(cloud, kept) and _exists_bucket(cloud, full)
    assert not _exists_group(cloud, web)


@pytest.mark.sqlite_only("validation answered before any SQL (template and capability checks)")
def test_errors_as_aws_words_them(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("err")

    def error(**kwargs: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as caught:
            cf.create_stack(StackName=kwargs.pop("StackName", name), **kwargs)
        return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]

    assert error(TemplateBody="{not json") == (
        "ValidationError", "Template format error: JSON not well-formed. (line 1, column 2)")
    assert error(TemplateBody=body({"Resources": {"A": {"Type": "AWS::Nope::Thing"}}})) == (
        "ValidationError", "Template format error: Unrecognized resource types: "
        "[AWS::Nope::Thing]")
    assert error(TemplateBody=body({"Resources": {"U": {"Type": "AWS::IAM::User"}}})) == (
        "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]")
    assert error(TemplateBody=body({"Resources": {"U": {"Type": "AWS::IAM::User",
                                                        "Properties": {"UserName": "x"}}}}),
                 Capabilities=["CAPABILITY_IAM"]) == (
        "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]")
    params = {"Parameters": {"Key": {"Type": "AWS::EC2::KeyPair::KeyName"}},
              "Resources": {"Web": _group()}}
    assert error(TemplateBody=body(params), Parameters=[
        {"ParameterKey": "Key", "ParameterValue": "no-such-key"}]) == (
        "ValidationError", "Parameter validation failed: parameter value no-such-key for "
        "parameter name Key does not exist")
    assert error(TemplateBody=body(params)) == ("ValidationError",
                                                 "Parameters: [Key] must have values")
    assert error(StackName="1bad", TemplateBody=body({"Resources": {"W": _group()}}))[1] \
        .startswith("1 validation error detected: Value '1bad' at 'stackName'")
    assert error()[1] == "Either Template URL or Template Body must be specified."
    cf.create_stack(StackName=name, TemplateBody=body({"Resources": {"W": _group()}}))
    assert error(TemplateBody=body({"Resources": {"W": _group()}})) == (
        "AlreadyExistsException", f"Stack [{name}] already exists")
    settle(cloud, name)
    cf.update_termination_protection(StackName=name, EnableTerminationProtection=True)
    with pytest.raises(ClientError) as caught:
        cf.delete_stack(StackName=name)
    assert caught.value.response["Error"]["Message"] == (
        f"Stack [{name}] cannot be deleted while TerminationProtection is enabled")
    cf.update_termination_protection(StackName=name, EnableTerminationProtection=False)
    with pytest.raises(ClientError) as caught:
        cf.estimate_template_cost(TemplateBody=body({"Resources": {"W": _group()}}))
    assert caught.value.response["Error"]["Code"] == "NotImplemented"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    valid = cf.validate_template(TemplateBody=body({
        "Description": "d", "Parameters": {"P": {"Type": "String", "NoEcho": True}},
        "Resources": {"U": {"Type": "AWS::IAM::User"}}}))
    assert valid["Capabilities"] == ["CAPABILITY_IAM"] and valid["Description"] == "d"
    assert valid["Parameters"] == [{"ParameterKey": "P", "NoEcho": True}]
    cf.delete_stack(StackName=name)


def test_stack_events_page_newest_first(cloud: LiveCloud) -> None:
    """More events than a page: boto3's paginator reads each once, newest first; a token
    that is not one of ours is a ValidationError."""
    cf = cloud.client("cloudformation")
    name = unique("paged")
    cf.create_stack(StackName=name, TemplateBody=body({"Resources": {
        f"Handle{i}": {"Type": "AWS::CloudFormation::WaitConditionHandle"}
        for i in range(40)}}))
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    pages = list(cf.get_paginator("describe_stack_events").paginate(StackName=name))
    assert len(pages) >= 2 and len(pages[0]["StackEvents"]) == 100
    found = [e for page in pages for e in page["StackEvents"]]
    assert len({e["EventId"] for e in found}) == len(found) > 100
    assert [e["Timestamp"] for e in found] == sorted((e["Timestamp"] for e in found),
                                                     reverse=True)
    assert (found[0]["LogicalResourceId"], found[0]["ResourceStatus"]) == (
        name, "CREATE_COMPLETE")
    assert (found[-1]["LogicalResourceId"], found[-1]["ResourceStatus"]) == (
        name, "CREATE_IN_PROGRESS")
    with pytest.raises(ClientError) as caught:
        cf.describe_stack_events(StackName=name, NextToken="not-a-token")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    cf.delete_stack(StackName=name)


def test_security_group_vpc_id_attribute_is_the_groups_vpc(cloud: LiveCloud) -> None:
    """``Fn::GetAtt [Group, VpcId]`` is the VPC the group was made in (the adapter takes
    it from the template's VpcId, no describe), and the group is there."""
    ec2, cf = cloud.client("ec2"), cloud.client("cloudformation")
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    name = unique("sgvpc")
    template = {"Parameters": {"Vpc": {"Type": "String"}},
                "Resources": {"InVpc": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                    "GroupDescription": "in a vpc", "VpcId": {"Ref": "Vpc"}}}},
                "Outputs": {"Vpc": {"Value": {"Fn::GetAtt": ["InVpc", "VpcId"]}},
                            "Group": {"Value": {"Fn::GetAtt": ["InVpc", "GroupId"]}}}}
    cf.create_stack(StackName=name, TemplateBody=body(template),
                    Parameters=[{"ParameterKey": "Vpc", "ParameterValue": vpc}])
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert out["Vpc"] == vpc
    group = ec2.describe_security_groups(GroupIds=[out["Group"]])["SecurityGroups"][0]
    assert group["VpcId"] == vpc
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    ec2.delete_vpc(VpcId=vpc)
