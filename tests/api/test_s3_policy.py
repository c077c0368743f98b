"""S3 authorisation through the IAM policy engine: identity policies of IAM users,
bucket policies (cross-account, explicit Deny, anonymous), and their combination with
ACLs. Users and keys are made through the IAM API; every call goes through boto3 or
plain HTTP against the live server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, http, second_account
from tests.support import LiveCloud


def _denied(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    assert exc.value.response["Error"]["Code"] == "AccessDenied", exc.value.response


def _user(cloud: LiveCloud, iam: Any, name: str, policy: dict[str, Any] | None) -> Any:
    """An S3 client of a new IAM user (made through ``iam``) with an inline policy."""
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return cloud.client("s3", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])


def _allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}


@pytest.fixture(scope="module")
def other(cloud: LiveCloud) -> tuple[str, str, str]:
    return second_account(cloud, bucket_name("pacct"))


def test_identity_policy_of_a_user_limits_s3(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    mine, elsewhere = bucket_name("idp"), bucket_name("idq")
    for name in (mine, elsewhere):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="doc", Body=b"data of " + name.encode())
    reader = _user(cloud, cloud.client("iam"), bucket_name("reader"),
                   _allow(["s3:GetObject"], [f"arn:aws:s3:::{mine}/*"]))
    assert reader.get_object(Bucket=mine, Key="doc")["Body"].read() == b"data of " + mine.encode()
    assert reader.head_object(Bucket=mine, Key="doc")["ContentLength"] > 0
    _denied(reader.put_object, Bucket=mine, Key="new", Body=b"x")
    _denied(reader.delete_object, Bucket=mine, Key="doc")
    _denied(reader.list_objects_v2, Bucket=mine)
    _denied(reader.get_object, Bucket=elsewhere, Key="doc")
    _denied(reader.copy_object, Bucket=mine, Key="copy", CopySource=f"{mine}/doc")
    nobody = _user(cloud, cloud.client("iam"), bucket_name("nobody"), None)
    _denied(nobody.get_object, Bucket=mine, Key="doc")
    lister = _user(cloud, cloud.client("iam"), bucket_name("lister"),
                   _allow(["s3:ListBucket", "s3:PutObject", "s3:DeleteObject"],
                          [f"arn:aws:s3:::{mine}", f"arn:aws:s3:::{mine}/up/*"]))
    assert [o["Key"] for o in lister.list_objects_v2(Bucket=mine)["Contents"]] == ["doc"]
    lister.put_object(Bucket=mine, Key="up/one", Body=b"1")
    _denied(lister.put_object, Bucket=mine, Key="down/one", Body=b"1")
    # DeleteObjects is decided key by key
    out = lister.delete_objects(Bucket=mine, Delete={"Objects": [{"Key": "up/one"},
                                                                 {"Key": "doc"}]})
    assert [d["Key"] for d in out["Deleted"]] == ["up/one"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("doc", "AccessDenied")]
    # copy: GetObject on the source is checked too (the reader of `mine` cannot write)
    _denied(lister.copy_object, Bucket=mine, Key="up/copy", CopySource=f"{elsewhere}/doc")


def test_version_actions_are_their_own(cloud: LiveCloud) -> None:
    """A request naming a version needs the version form of the action, as on AWS:
    s3:GetObject reads the current version only, s3:GetObjectVersion a named one."""
    s3 = cloud.client("s3")
    name = bucket_name("ver")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=name, Key="doc", Body=b"one")["VersionId"]
    s3.put_object(Bucket=name, Key="doc", Body=b"two")
    iam = cloud.client("iam")
    current = _user(cloud, iam, bucket_name("cur"),
                    _allow(["s3:GetObject", "s3:GetObjectTagging"], [f"arn:aws:s3:::{name}/*"]))
    assert current.get_object(Bucket=name, Key="doc")["Body"].read() == b"two"
    _denied(current.get_object, Bucket=name, Key="doc", VersionId=first)
    with pytest.raises(ClientError) as exc:  # HEAD: the status only, no error document
        current.head_object(Bucket=name, Key="doc", VersionId=first)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    _denied(current.get_object_tagging, Bucket=name, Key="doc", VersionId=first)
    _denied(current.copy_object, Bucket=name, Key="copy",
            CopySource={"Bucket": name, "Key": "doc", "VersionId": first})
    versions = _user(cloud, iam, bucket_name("vers"),
                     _allow(["s3:GetObjectVersion", "s3:GetObjectVersionTagging"],
                            [f"arn:aws:s3:::{name}/*"]))
    assert versions.get_object(Bucket=name, Key="doc", VersionId=first)["Body"].read() == b"one"
    assert versions.get_object_tagging(Bucket=name, Key="doc", VersionId=first)["TagSet"] == []
    _denied(versions.get_object, Bucket=name, Key="doc")


def test_bucket_policy_explicit_deny_wins_for_owner_and_users(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("deny")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="secret/a", Body=b"a")
    s3.put_object(Bucket=name, Key="open/b", Body=b"b")
    user = _user(cloud, cloud.client("iam"), bucket_name("full"),
                 _allow(["s3:*"], ["*"]))
    assert user.get_object(Bucket=name, Key="secret/a")["Body"].read() == b"a"
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "NoSecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/secret/*"}]}))
    _denied(user.get_object, Bucket=name, Key="secret/a")
    _denied(s3.get_object, Bucket=name, Key="secret/a")  # the account root too
    assert user.get_object(Bucket=name, Key="open/b")["Body"].read() == b"b"
    assert s3.get_object(Bucket=name, Key="open/b")["Body"].read() == b"b"
    s3.delete_bucket_policy(Bucket=name)
    assert user.get_object(Bucket=name, Key="secret/a")["Body"].read() == b"a"


def test_cross_account_through_bucket_policy(cloud: LiveCloud,
                                             other: tuple[str, str, str]) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("xacct")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="shared/doc", Body=b"shared")
    stranger = cloud.client("s3", access_key=other[0], secret_key=other[1])
    other_iam = cloud.client("iam", access_key=other[0], secret_key=other[1])
    _denied(stranger.get_object, Bucket=name, Key="shared/doc")
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other[2]}:root"},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{name}/shared/*"}]}))
    assert stranger.get_object(Bucket=name, Key="shared/doc")["Body"].read() == b"shared"
    stranger.put_object(Bucket=name, Key="shared/theirs", Body=b"from them")
    _denied(stranger.put_object, Bucket=name, Key="private/x", Body=b"x")
    _denied(stranger.list_objects_v2, Bucket=name)
    # a user of the other account needs its own account's permission as well
    bare = _user(cloud, other_iam, bucket_name("bare"), None)
    _denied(bare.get_object, Bucket=name, Key="shared/doc")
    allowed = _user(cloud, other_iam, bucket_name("allowed"),
                    _allow(["s3:GetObject"], [f"arn:aws:s3:::{name}/*"]))
    assert allowed.get_object(Bucket=name, Key="shared/doc")["Body"].read() == b"shared"
    # ... and a grant: an object ACL naming the other account (ACL OR policy)
    s3.put_object(Bucket=name, Key="acl/doc", Body=b"by acl")
    _denied(allowed.get_object, Bucket=name, Key="acl/doc")
    canonical = stranger.list_buckets()["Owner"]["ID"]
    s3.put_object_acl(Bucket=name, Key="acl/doc", GrantRead=f'id="{canonical}"')
    assert allowed.get_object(Bucket=name, Key="acl/doc")["Body"].read() == b"by acl"
    _denied(bare.get_object, Bucket=name, Key="acl/doc")


def test_anonymous_access_through_public_bucket_policy(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("anon")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="www/index.html", Body=b"<h1>hi</h1>")
    s3.put_object(Bucket=name, Key="private", Body=b"p")
    assert http("GET", f"{cloud.endpoint}/{name}/www/index.html")[0] == 403
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{name}/www/*"},
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket",
             "Resource": f"arn:aws:s3:::{name}",
             "Condition": {"StringLike": {"s3:prefix": "www/*"}}}]}))
    time.sleep(0.1)
    status, body, _ = http("GET", f"{cloud.endpoint}/{name}/www/index.html")
    assert (status, body) == (200, b"<h1>hi</h1>")
    assert http("HEAD", f"{cloud.endpoint}/{name}/www/index.html")[0] == 200
    assert http("GET", f"{cloud.endpoint}/{name}/private")[0] == 403
    assert http("PUT", f"{cloud.endpoint}/{name}/www/new", b"x")[0] == 403
    status, body, _ = http("GET", f"{cloud.endpoint}/{name}?list-type=2&prefix=www/")
    assert status == 200 and b"www/index.html" in body
    assert http("GET", f"{cloud.endpoint}/{name}?list-type=2")[0] == 403
