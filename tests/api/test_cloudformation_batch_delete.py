"""CloudFormation's batch deletion: a stack's resources of a type whose deletions start
together go in one transaction of their service (``delete_many``: IAM users, S3
buckets, EC2 security groups), each checked and authorised as its own call would be.
A resource already gone counts as deleted. One item refused (a bucket not empty, a
user with a key, a group another group refers to, a deletion the stack's principal may
not make) fails only its resource, with AWS's reason; the others are deleted, and once
the cause is gone a second DeleteStack completes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from sqlalchemy import create_engine, text

from cloudctl.db.engine import sync_url
from tests.api.cfn_helpers import body, events, settle, unique
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases

EACH = 8  # resources of each type

# what identifies a deleted row of each table (the probe records it with its transaction)
KEYS = {"s3_buckets": "name", "iam_users": "name", "ec2_security_groups": "id"}


def _template(tag: str, names: bool = False) -> str:
    resources: dict[str, Any] = {}
    for i in range(EACH):
        user: dict[str, Any] = {"Type": "AWS::IAM::User"}
        bucket: dict[str, Any] = {"Type": "AWS::S3::Bucket"}
        if names:
            user["Properties"] = {"UserName": f"{tag}-u{i}"}
            bucket["Properties"] = {"BucketName": f"{tag}-b{i}"}
        resources[f"U{i}"], resources[f"B{i}"] = user, bucket
        resources[f"G{i}"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": f"{tag} {i}"}}
    return body({"Resources": resources})


def _physical(cloud: LiveCloud, stack: str) -> dict[str, str]:
    found = cloud.client("cloudformation").describe_stack_resources(
        StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in found}


def _url(cloud: LiveCloud) -> str:
    return sync_url(cloud.database_url or
                    f"sqlite+aiosqlite:///{cloud.data_dir / 'cloud.db'}")


def _counters(cloud: LiveCloud) -> tuple[int, int]:
    """The network view version and the credential epoch: each bumped once by a
    transaction that deletes security groups, resp. IAM users."""
    engine = create_engine(_url(cloud))
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version FROM net_state WHERE id = 1")).scalar()
            epoch = conn.execute(text(
                "SELECT generation FROM iam_credential_epoch WHERE id = 1")).scalar()
            return int(version or 0), int(epoch or 0)
    finally:
        engine.dispose()


@contextmanager
def _deletion_probe(cloud: LiveCloud) -> Iterator[dict[str, dict[str, Any]]]:
    """Triggers recording each row deleted from the three tables with a mark of what
    deleted it: on PostgreSQL its transaction id; on SQLite the statement's clock in
    milliseconds (``'now'`` is one value within a statement; SQLite has no transaction
    id). Yields ``{table: {key: mark}}``, filled when the block ends."""
    engine = create_engine(_url(cloud))
    postgres = engine.dialect.name == "postgresql"
    marks: dict[str, dict[str, Any]] = {table: {} for table in KEYS}
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE test_deleted (tbl TEXT, rowkey TEXT, mark TEXT)"))
        if postgres:
            conn.execute(text(
                "CREATE FUNCTION test_deleted_row() RETURNS trigger AS $$ BEGIN "
                "INSERT INTO test_deleted VALUES (TG_TABLE_NAME, "
                "to_jsonb(OLD) ->> TG_ARGV[0], txid_current()::text); RETURN OLD; END $$ "
                "LANGUAGE plpgsql"))
        for table, key in KEYS.items():
            if postgres:
                conn.execute(text(f"CREATE TRIGGER test_deleted_{table} AFTER DELETE ON "
                                  f"{table} FOR EACH ROW EXECUTE FUNCTION "
                                  f"test_deleted_row('{key}')"))
            else:
                conn.execute(text(f"CREATE TRIGGER test_deleted_{table} AFTER DELETE ON "
                                  f"{table} BEGIN INSERT INTO test_deleted VALUES "
                                  f"('{table}', OLD.{key}, "
                                  f"CAST(julianday('now') * 86400000 AS INTEGER)); END"))
    try:
        yield marks
        with engine.connect() as conn:
            for table, key, mark in conn.execute(text("SELECT * FROM test_deleted")):
                marks[table][key] = mark
    finally:
        with engine.begin() as conn:
            for table in KEYS:
                conn.execute(text(f"DROP TRIGGER test_deleted_{table}" +
                                  (f" ON {table}" if postgres else "")))
            if postgres:
                conn.execute(text("DROP FUNCTION test_deleted_row()"))
            conn.execute(text("DROP TABLE test_deleted"))
        engine.dispose()


def test_each_type_is_deleted_in_one_transaction_of_its_service(cloud: LiveCloud) -> None:
    cf = cloud.client("cloudformation")
    name = unique("batchdel")
    stack_id = cf.create_stack(StackName=name, TemplateBody=_template(name),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    made = _physical(cloud, name)
    # one of each already gone (deleted behind the stack's back): its deletion succeeds
    cloud.client("iam").delete_user(UserName=made["U0"])
    cloud.client("s3").delete_bucket(Bucket=made["B0"])
    cloud.client("ec2").delete_security_group(GroupId=made["G0"])

    version, epoch = _counters(cloud)
    with _deletion_probe(cloud) as marks:
        cf.delete_stack(StackName=stack_id)
        assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    after_version, after_epoch = _counters(cloud)

    # every resource went, and its events say so in order
    listed = events(cloud, stack_id)
    for logical, physical_id in made.items():
        table = {"U": "iam_users", "B": "s3_buckets", "G": "ec2_security_groups"}[logical[0]]
        assert (physical_id in marks[table]) == (logical[1:] != "0"), (logical, physical_id)
        own = [e["ResourceStatus"] for e in listed if e["LogicalResourceId"] == logical]
        assert own[-2:] == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"], (logical, own)
    # one transaction of each service for its EACH resources (before: one each, and
    # IAM's DeleteUser a second one for the credential epoch)
    assert after_version - version == 1
    assert after_epoch - epoch == 1
    postgres = cloud.database_url is not None
    for table in ("s3_buckets", "ec2_security_groups") + (("iam_users",) if postgres else ()):
        mine = {marks[table][p] for p in made.values() if p in marks[table]}
        assert len(mine) == 1, (table, mine)


def test_one_refused_deletion_of_each_batch_fails_only_itself(cloud: LiveCloud) -> None:
    cf, s3, iam, ec2 = (cloud.client(s) for s in ("cloudformation", "s3", "iam", "ec2"))
    name = unique("batchdelbad")
    stack_id = cf.create_stack(StackName=name, TemplateBody=_template(name),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE"
    made = _physical(cloud, name)
    # a bucket not empty, a user with an access key, a group another group refers to
    s3.put_object(Bucket=made["B1"], Key="left", Body=b"behind")
    key = iam.create_access_key(UserName=made["U2"])["AccessKey"]["AccessKeyId"]
    outsider = ec2.create_security_group(GroupName=unique("outsider"),
                                         Description="refers to G3")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=outsider, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "UserIdGroupPairs": [{"GroupId": made["G3"]}]}])

    cf.delete_stack(StackName=stack_id)
    stack = settle(cloud, stack_id)
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["StackStatusReason"] == \
        "The following resource(s) failed to delete: [B1, G3, U2]. "
    listed = events(cloud, stack_id)
    failed = {e["LogicalResourceId"]: e["ResourceStatusReason"] for e in listed
              if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] != name}
    assert set(failed) == {"B1", "U2", "G3"}, failed
    assert failed["B1"] == ("The bucket you tried to delete is not empty (Service: "
                            "BucketNotEmpty; Status Code: 409; Error Code: BucketNotEmpty)")
    assert failed["U2"] == ("Cannot delete entity, must delete access keys first. (Service: "
                            "DeleteConflict; Status Code: 409; Error Code: DeleteConflict)")
    assert failed["G3"] == (f"resource {made['G3']} has a dependent object (Service: "
                            f"AmazonEC2; Error Code: DependencyViolation)")
    completed = {e["LogicalResourceId"] for e in listed
                 if e["ResourceStatus"] == "DELETE_COMPLETE"}
    assert completed == set(made) - set(failed)
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    users = {u["UserName"] for page in iam.get_paginator("list_users").paginate()
             for u in page["Users"]}
    groups = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert {p for p in made.values() if p in buckets | users | groups} == \
        {made["B1"], made["U2"], made["G3"]}

    # the causes gone, a second DeleteStack completes
    s3.delete_object(Bucket=made["B1"], Key="left")
    iam.delete_access_key(UserName=made["U2"], AccessKeyId=key)
    ec2.delete_security_group(GroupId=outsider)
    cf.delete_stack(StackName=stack_id)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert made["B1"] not in buckets


def test_each_deletion_is_authorised_as_the_stack_principal(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    name = unique("delauth")
    deployer = unique("deployer")
    iam.create_user(UserName=deployer)
    allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    deny = [
        {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": f"arn:aws:s3:::{name}-b1"},
        {"Effect": "Deny", "Action": "iam:DeleteUser",
         "Resource": f"arn:aws:iam::{cloud.account_id}:user/{name}-u1"},
        {"Effect": "Deny", "Action": "ec2:DeleteSecurityGroup", "Resource": "*",
         "Condition": {"StringEquals": {
             "ec2:ResourceTag/aws:cloudformation:logical-id": "G1"}}}]
    iam.put_user_policy(UserName=deployer, PolicyName="deploy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow, *deny]}))
    key = iam.create_access_key(UserName=deployer)["AccessKey"]
    cf = boto3.client("cloudformation", endpoint_url=cloud.endpoint, region_name=cloud.region,
                      aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"])
    try:
        stack_id = cf.create_stack(StackName=name, TemplateBody=_template(name, names=True),
                                   Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]
        assert settle(cloud, stack_id)["StackStatus"] == "CREATE_COMPLETE"
        made = _physical(cloud, stack_id)

        cf.delete_stack(StackName=stack_id)
        assert settle(cloud, stack_id)["StackStatus"] == "DELETE_FAILED"
        listed = events(cloud, stack_id)
        failed = {e["LogicalResourceId"]: e["ResourceStatusReason"] for e in listed
                  if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] != name}
        assert set(failed) == {"B1", "U1", "G1"}, failed
        assert "Error Code: AccessDenied" in failed["B1"]
        assert "Error Code: AccessDenied" in failed["U1"]
        assert "Error Code: UnauthorizedOperation" in failed["G1"]
        completed = {e["LogicalResourceId"] for e in listed
                     if e["ResourceStatus"] == "DELETE_COMPLETE"}
        assert completed == set(made) - set(failed)
        assert {b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"]} & \
            {p for p in made.values()} == {made["B1"]}

        # allowed now: a second DeleteStack completes
        iam.put_user_policy(UserName=deployer, PolicyName="deploy", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [allow]}))
        cf.delete_stack(StackName=stack_id)
        assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    finally:
        iam.delete_user_policy(UserName=deployer, PolicyName="deploy")
        iam.delete_access_key(UserName=deployer, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=deployer)
