"""S3 Object Ownership: BucketOwnerEnforced disables ACLs, BucketOwnerPreferred."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, second_account
from tests.support import LiveCloud


def test_ownership_controls_round_trip(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("own")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_ownership_controls(Bucket=name)
    assert exc.value.response["Error"]["Code"] == "OwnershipControlsNotFoundError"
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    s3.delete_bucket_ownership_controls(Bucket=name)
    with pytest.raises(ClientError):
        s3.get_bucket_ownership_controls(Bucket=name)


def test_bucket_owner_enforced_disables_acls(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    key, secret, account = second_account(cloud, bucket_name("ownacct"))
    other = cloud.client("s3", access_key=key, secret_key=secret)
    name = bucket_name("own-enf")
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced")
    s3.put_bucket_policy(Bucket=name, Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"'
        f'arn:aws:iam::{account}:root"}},"Action":"s3:PutObject","Resource":'
        f'"arn:aws:s3:::{name}/*"}}]}}'))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="k", Body=b"x", ACL="public-read")
    assert exc.value.response["Error"]["Code"] == "AccessControlListNotSupported"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
    assert exc.value.response["Error"]["Code"] == "AccessControlListNotSupported"
    other.put_object(Bucket=name, Key="theirs", Body=b"x", ACL="bucket-owner-full-control")
    acl = s3.get_object_acl(Bucket=name, Key="theirs")
    owner_id = s3.list_buckets()["Owner"]["ID"]
    assert acl["Owner"]["ID"] == owner_id
    assert [(g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"]] == \
        [(owner_id, "FULL_CONTROL")]
    with pytest.raises(ClientError) as exc:
        s3.put_object_acl(Bucket=name, Key="theirs", ACL="public-read")
    assert exc.value.response["Error"]["Code"] == "AccessControlListNotSupported"
