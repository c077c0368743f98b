"""CloudFormation's batch creation: a stack's ready resources of a type are made in one
transaction of their service (``create_many``: IAM users, S3 buckets, EC2 security
groups). Every resource is real and tagged, its events complete and in order; one bad
item of a batch (a name taken, by another account too) fails only itself, and the
rollback leaves nothing of the stack behind (and nothing it did not make removed)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.api.cfn_helpers import body, events, settle, unique
from tests.api.s3_helpers import second_account
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases

EACH = 8  # resources of each type


def _template(tag: str, extra: dict[str, Any] | None = None) -> str:
    resources: dict[str, Any] = {}
    for i in range(EACH):
        resources[f"User{i}"] = {"Type": "AWS::IAM::User"}
        resources[f"Bucket{i}"] = {"Type": "AWS::S3::Bucket"}
        resources[f"Group{i}"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": f"{tag} {i}"}}
    resources["Ruled"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "with a rule", "Tags": [{"Key": "tier", "Value": "web"}],
        "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                  "CidrIp": "10.0.0.0/8"}]}}
    resources.update(extra or {})
    return body({"Resources": resources})


def _physical(cloud: LiveCloud, stack: str) -> dict[str, str]:
    cf = cloud.client("cloudformation")
    found = cf.describe_stack_resources(StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in found}


def _users(cloud: LiveCloud) -> set[str]:
    pages = cloud.client("iam").get_paginator("list_users").paginate()
    return {u["UserName"] for page in pages for u in page["Users"]}


def _buckets(cloud: LiveCloud) -> set[str]:
    return {b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"]}


def _groups(cloud: LiveCloud) -> dict[str, dict[str, Any]]:
    found = cloud.client("ec2").describe_security_groups()["SecurityGroups"]
    return {g["GroupId"]: g for g in found}


def test_batches_of_each_type_make_real_resources_with_their_events(
        cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("batch")
    stack_id = cf.create_stack(StackName=name, TemplateBody=_template(name),
                               Capabilities=["CAPABILITY_IAM"],
                               Tags=[{"Key": "team", "Value": "a"}])["StackId"]
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    made = _physical(cloud, name)
    assert len(made) == 3 * EACH + 1

    users, buckets, groups = _users(cloud), _buckets(cloud), _groups(cloud)
    for i in range(EACH):
        assert made[f"User{i}"] in users
        assert made[f"Bucket{i}"] in buckets
        group = groups[made[f"Group{i}"]]
        assert group["Description"] == f"{name} {i}"
        tags = {t["Key"]: t["Value"] for t in group.get("Tags") or []}
        assert tags["aws:cloudformation:logical-id"] == f"Group{i}"
        assert tags["aws:cloudformation:stack-name"] == name
        assert tags["team"] == "a"
        assert group["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    ruled = groups[made["Ruled"]]
    assert {t["Key"]: t["Value"] for t in ruled["Tags"]}["tier"] == "web"
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in ruled["IpPermissions"]] \
        == [(443, "10.0.0.0/8")]

    listed = events(cloud, name)
    for logical in made:
        own = [(e["ResourceStatus"], e.get("ResourceStatusReason"))
               for e in listed if e["LogicalResourceId"] == logical]
        assert own == [("CREATE_IN_PROGRESS", None),
                       ("CREATE_IN_PROGRESS", "Resource creation Initiated"),
                       ("CREATE_COMPLETE", None)], (logical, own)
    assert listed[-1]["ResourceStatus"] == "CREATE_COMPLETE"
    assert listed[-1]["LogicalResourceId"] == name

    cf.delete_stack(StackName=stack_id)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    users, buckets, groups = _users(cloud), _buckets(cloud), _groups(cloud)
    assert not set(made.values()) & (users | buckets | set(groups))


def test_one_bad_item_of_each_batch_fails_only_itself_and_rolls_back(
        cloud: LiveCloud) -> None:
    cf, ec2 = cloud.client("cloudformation"), cloud.client("ec2")
    name = unique("batchbad")
    # a bucket name another account owns, a group name and a user name taken here
    other_key, other_secret, _ = second_account(cloud, unique("other"))
    other = boto3.client("s3", endpoint_url=cloud.endpoint, region_name=cloud.region,
                         aws_access_key_id=other_key, aws_secret_access_key=other_secret)
    theirs = unique("theirs")
    other.create_bucket(Bucket=theirs,
                        CreateBucketConfiguration={"LocationConstraint": cloud.region})
    taken_group = unique("taken")
    ec2.create_security_group(GroupName=taken_group, Description="before the stack")
    taken_user = unique("taken")
    cloud.client("iam").create_user(UserName=taken_user)
    before = (_users(cloud), _buckets(cloud), set(_groups(cloud)))

    bad = {"BadBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": theirs}},
           "BadGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
               "GroupName": taken_group, "GroupDescription": "taken"}},
           "BadUser": {"Type": "AWS::IAM::User", "Properties": {"UserName": taken_user}},
           # two of one batch with one name: the second finds it taken
           "TwinA": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
               "GroupName": f"{name}-twin", "GroupDescription": "twin"}},
           "TwinB": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
               "GroupName": f"{name}-twin", "GroupDescription": "twin"}}}
    cf.create_stack(StackName=name, TemplateBody=_template(name, bad),
                    Capabilities=["CAPABILITY_NAMED_IAM"])
    assert settle(cloud, name)["StackStatus"] == "ROLLBACK_COMPLETE"

    listed = events(cloud, name)
    failed = {e["LogicalResourceId"]: e["ResourceStatusReason"] for e in listed
              if e["ResourceStatus"] == "CREATE_FAILED"}
    twin = "TwinA" if "TwinB" not in failed else "TwinB"
    assert set(failed) == {"BadBucket", "BadGroup", "BadUser", twin}, failed
    assert "BucketAlreadyExists" in failed["BadBucket"]
    assert "InvalidGroup.Duplicate" in failed["BadGroup"]
    assert "EntityAlreadyExists" in failed["BadUser"]
    assert "InvalidGroup.Duplicate" in failed[twin]
    completed = {e["LogicalResourceId"] for e in listed
                 if e["ResourceStatus"] == "CREATE_COMPLETE"}
    for i in range(EACH):  # the good ones of each batch were made, then rolled back
        assert {f"User{i}", f"Bucket{i}", f"Group{i}"} <= completed
    deleted = {e["LogicalResourceId"] for e in listed
               if e["ResourceStatus"] == "DELETE_COMPLETE"}
    assert completed - {name} <= deleted

    # nothing of the stack is left, and what it did not make is still there
    assert (_users(cloud), _buckets(cloud), set(_groups(cloud))) == before
    assert theirs in {b["Name"] for b in other.list_buckets()["Buckets"]}
