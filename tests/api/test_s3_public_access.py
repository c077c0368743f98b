"""S3 Block Public Access, enforced: public ACLs and policies refused, public grants
ignored, public policies restricted to the owner account."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, http
from tests.support import LiveCloud

ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
       "RestrictPublicBuckets": True}


def _public_policy(name: str, condition: dict[str, object] | None = None) -> str:
    statement: dict[str, object] = {"Effect": "Allow", "Principal": "*",
                                    "Action": "s3:GetObject",
                                    "Resource": f"arn:aws:s3:::{name}/*"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_block_round_trip_and_missing(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("pab")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=name)
    assert exc.value.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True})
    got = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": True, "IgnorePublicAcls": False,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    s3.delete_public_access_block(Bucket=name)
    with pytest.raises(ClientError):
        s3.get_public_access_block(Bucket=name)


def test_block_public_acls_refuses_public_acl(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("pab-acl")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True})
    for call in (lambda: s3.put_bucket_acl(Bucket=name, ACL="public-read"),
                 lambda: s3.put_object_acl(Bucket=name, Key="k", ACL="public-read"),
                 lambda: s3.put_object(Bucket=name, Key="p", Body=b"x", ACL="public-read"),
                 lambda: s3.put_object(Bucket=name, Key="p", Body=b"x", GrantRead=(
                     'uri="http://acs.amazonaws.com/groups/global/AllUsers"'))):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    s3.put_object(Bucket=name, Key="private", Body=b"x", ACL="private")


def test_ignore_public_acls_makes_grants_ineffective(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("pab-ign")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"public", ACL="public-read")
    url = f"{cloud.endpoint}/{name}/k"
    assert http("GET", url)[0] == 200
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True})
    assert http("GET", url)[0] == 403


def test_block_public_policy_refuses_public_policy(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("pab-pol")
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicPolicy": True})
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=name, Policy=_public_policy(name))
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    # pinned to an address range: not public, accepted
    s3.put_bucket_policy(Bucket=name, Policy=_public_policy(
        name, {"IpAddress": {"aws:SourceIp": "10.1.2.0/24"}}))
    with pytest.raises(ClientError) as exc:  # 0.0.0.0/0 restricts nothing
        s3.put_bucket_policy(Bucket=name, Policy=_public_policy(
            name, {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}))
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_restrict_public_buckets_limits_public_policy(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("pab-rpb")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"data")
    s3.put_bucket_policy(Bucket=name, Policy=_public_policy(name))
    url = f"{cloud.endpoint}/{name}/k"
    assert http("GET", url)[0] == 200
    assert s3.get_bucket_policy_status(Bucket=name)["PolicyStatus"]["IsPublic"] is True
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "RestrictPublicBuckets": True})
    assert http("GET", url)[0] == 403
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"data"
