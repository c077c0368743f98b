"""CloudFormation drift detection and stack policies through boto3 against a live cloud:
resources changed or deleted behind the stack's back are found MODIFIED / DELETED with
their property differences; an update a stack policy denies fails and rolls back."""

from __future__ import annotations

import json
import time
from typing import Any

from cfnlint import api as cfnlint_api
from troposphere import Output, Ref, Template, cloudwatch, ec2, s3

from tests.api.cfn_helpers import events, physical, settle, unique
from tests.support import LiveCloud


def _lint(text: str) -> None:
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []


def _web(port: int = 80, description: str = "web") -> ec2.SecurityGroup:
    return ec2.SecurityGroup("Web", GroupDescription=description,
                             SecurityGroupIngress=[ec2.SecurityGroupRule(
                                 IpProtocol="tcp", FromPort=port, ToPort=port,
                                 CidrIp="0.0.0.0/0")])


def _drift_template() -> str:
    t = Template(Description="drift")
    t.add_resource(_web())
    t.add_resource(ec2.SecurityGroup("Spare", GroupDescription="spare"))
    t.add_resource(s3.Bucket("Data"))
    net = t.add_resource(ec2.VPC("Net", CidrBlock="10.40.0.0/16"))
    t.add_resource(ec2.Subnet("Sub", VpcId=Ref(net), CidrBlock="10.40.1.0/24",
                              MapPublicIpOnLaunch=False))
    t.add_resource(cloudwatch.Alarm(
        "Busy", Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average",
        Period=60, EvaluationPeriods=1, Threshold=70,
        ComparisonOperator="GreaterThanThreshold"))
    t.add_output(Output("Web", Value=Ref("Web")))
    return t.to_json()


def _wait_detection(cf: Any, detection_id: str) -> dict[str, Any]:
    for _ in range(100):
        status: dict[str, Any] = cf.describe_stack_drift_detection_status(
            StackDriftDetectionId=detection_id)
        if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            return status
        time.sleep(0.2)
    raise AssertionError("drift detection did not finish")


def test_drift_found_modified_and_deleted(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf, ec2c = cloud.client("cloudformation"), cloud.client("ec2")
    text = _drift_template()
    _lint(text)
    name = unique("drift")
    cf.create_stack(StackName=name, TemplateBody=text)
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"

    first = _wait_detection(cf, cf.detect_stack_drift(StackName=name)["StackDriftDetectionId"])
    assert (first["DetectionStatus"], first["StackDriftStatus"],
            first["DriftedStackResourceCount"]) == ("DETECTION_COMPLETE", "IN_SYNC", 0)
    in_sync = {d["LogicalResourceId"]: d["StackResourceDriftStatus"] for d in
               cf.describe_stack_resource_drifts(StackName=name)["StackResourceDrifts"]}
    assert in_sync == {"Web": "IN_SYNC", "Spare": "IN_SYNC", "Data": "NOT_CHECKED",
                       "Net": "NOT_CHECKED", "Sub": "IN_SYNC", "Busy": "IN_SYNC"}

    web, spare = physical(cloud, name, "Web"), physical(cloud, name, "Spare")
    ec2c.modify_subnet_attribute(SubnetId=physical(cloud, name, "Sub"),
                                 MapPublicIpOnLaunch={"Value": True})
    alarm = cloud.client("cloudwatch").describe_alarms(
        AlarmNames=[physical(cloud, name, "Busy")])["MetricAlarms"][0]
    cloud.client("cloudwatch").put_metric_alarm(**{
        key: alarm[key] for key in ("AlarmName", "Namespace", "MetricName", "Statistic",
                                    "Period", "EvaluationPeriods", "ComparisonOperator")},
        Threshold=90.0)
    ec2c.authorize_security_group_ingress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2c.delete_security_group(GroupId=spare)

    one = cf.detect_stack_resource_drift(StackName=name,
                                         LogicalResourceId="Web")["StackResourceDrift"]
    assert one["StackResourceDriftStatus"] == "MODIFIED"
    assert one["PhysicalResourceId"] == web
    assert one["PropertyDifferences"] == [{
        "PropertyPath": "/SecurityGroupIngress/1", "ExpectedValue": "",
        "ActualValue": json.dumps({"CidrIp": "10.0.0.0/8", "FromPort": 22,
                                   "IpProtocol": "tcp", "ToPort": 22}, sort_keys=True),
        "DifferenceType": "ADD"}]
    actual = json.loads(one["ActualProperties"])
    assert {"CidrIp": "10.0.0.0/8", "FromPort": 22, "IpProtocol": "tcp", "ToPort": 22} in \
        actual["SecurityGroupIngress"]
    assert json.loads(one["ExpectedProperties"])["SecurityGroupIngress"] == [
        {"CidrIp": "0.0.0.0/0", "FromPort": 80, "IpProtocol": "tcp", "ToPort": 80}]

    detection_id = cf.detect_stack_drift(StackName=name)["StackDriftDetectionId"]
    status = _wait_detection(cf, detection_id)
    assert (status["StackDriftStatus"], status["DriftedStackResourceCount"]) == ("DRIFTED", 4)
    assert status["StackId"] == settle(cloud, name)["StackId"]
    drifts = cf.describe_stack_resource_drifts(
        StackName=name, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"])
    assert {d["LogicalResourceId"]: d["StackResourceDriftStatus"]
            for d in drifts["StackResourceDrifts"]} == {"Web": "MODIFIED", "Spare": "DELETED",
                                                         "Sub": "MODIFIED", "Busy": "MODIFIED"}
    by_name = {d["LogicalResourceId"]: d for d in drifts["StackResourceDrifts"]}
    assert [(d["PropertyPath"], d["ExpectedValue"], d["ActualValue"], d["DifferenceType"])
            for d in by_name["Sub"]["PropertyDifferences"]] == [
        ("/MapPublicIpOnLaunch", "false", "true", "NOT_EQUAL")]
    assert [(d["PropertyPath"], d["ExpectedValue"], d["ActualValue"])
            for d in by_name["Busy"]["PropertyDifferences"]] == [("/Threshold", "70", "90.0")]
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["DriftInformation"]["StackDriftStatus"] == "DRIFTED"
    assert "LastCheckTimestamp" in stack["DriftInformation"]
    resources = {r["LogicalResourceId"]: r["DriftInformation"]["StackResourceDriftStatus"]
                 for r in cf.describe_stack_resources(StackName=name)["StackResources"]}
    assert resources == {"Web": "MODIFIED", "Spare": "DELETED", "Data": "NOT_CHECKED",
                         "Net": "NOT_CHECKED", "Sub": "MODIFIED", "Busy": "MODIFIED"}

    errors = []
    for call in (lambda: cf.describe_stack_drift_detection_status(
                     StackDriftDetectionId="00000000-0000-0000-0000-000000000000"),
                 lambda: cf.detect_stack_resource_drift(StackName=name,
                                                        LogicalResourceId="Nope")):
        try:
            call()
        except cf.exceptions.ClientError as error:
            errors.append(error.response["Error"]["Code"])
    assert errors == ["ValidationError", "ValidationError"]
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def _policy_template(description: str, spare: bool = True) -> str:
    t = Template(Description="policy")
    t.add_resource(ec2.SecurityGroup("Locked", GroupDescription=description))
    if spare:
        t.add_resource(_web())
    return t.to_json()


def _reasons(cloud: LiveCloud, name: str, logical: str) -> list[str]:
    return [str(e.get("ResourceStatusReason")) for e in events(cloud, name)
            if e["LogicalResourceId"] == logical and e["ResourceStatus"] == "UPDATE_FAILED"]


def test_stack_policy_denies_updates_it_protects(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cf = cloud.client("cloudformation")
    name = unique("policy")
    first = _policy_template("locked")
    _lint(first)
    protect = json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "Update:*", "Principal": "*",
         "Resource": "LogicalResourceId/Locked"}]})
    stack_id = cf.create_stack(StackName=name, TemplateBody=first,
                               StackPolicyBody=protect)["StackId"]
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    assert json.loads(cf.get_stack_policy(StackName=name)["StackPolicyBody"]) == \
        json.loads(protect)
    locked = physical(cloud, name, "Locked")

    # GroupDescription is create-only: Update:Replace on a resource the policy denies
    cf.update_stack(StackName=name, TemplateBody=_policy_template("relocked"))
    assert settle(cloud, name)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert _reasons(cloud, name, "Locked") == [
        "Action denied by stack policy: Statement [#2] does not allow [Update:Replace] "
        "for resource [LogicalResourceId/Locked]"]
    assert physical(cloud, name, "Locked") == locked

    # the policy during one update lets it through; the stack's policy stays
    cf.update_stack(StackName=name, TemplateBody=_policy_template("relocked"),
                    StackPolicyDuringUpdateBody=json.dumps({"Statement": [{
                        "Effect": "Allow", "Action": "Update:*", "Principal": "*",
                        "Resource": "*"}]}))
    assert settle(cloud, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert physical(cloud, name, "Locked") != locked
    assert json.loads(cf.get_stack_policy(StackName=name)["StackPolicyBody"]) == \
        json.loads(protect)

    # a policy allowing only Update:Modify protects against removal (Update:Delete)
    cf.set_stack_policy(StackName=name, StackPolicyBody=json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "Update:Modify", "Principal": "*", "Resource": "*"}]}))
    web = physical(cloud, name, "Web")
    cf.update_stack(StackName=name, TemplateBody=_policy_template("relocked", spare=False))
    assert settle(cloud, name)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert _reasons(cloud, name, "Web") == [
        "Action denied by stack policy: Action [Update:Delete] is not allowed by any "
        "statement for resource [LogicalResourceId/Web]"]
    cloud.client("ec2").describe_security_groups(GroupIds=[web])

    try:
        cf.set_stack_policy(StackName=name, StackPolicyBody=json.dumps({"Statement": [{
            "Effect": "Allow", "Action": "Delete:*", "Resource": "*"}]}))
    except cf.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "ValidationError"
        assert "invalid action [Delete:*]" in error.response["Error"]["Message"]
    else:
        raise AssertionError("a bad stack policy was accepted")
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
