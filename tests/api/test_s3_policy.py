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


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], \
        err["Error"].get("Message", "")


def _public(name: str, effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": effect, "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]}]})


def test_bucket_policy_is_managed_by_the_owning_account_only(cloud: LiveCloud) -> None:
    """Another account cannot read, replace or delete a bucket policy even when the policy
    grants it s3:* (AWS: 405); a Deny-all policy leaves the owner's root (and the cloud
    admin) able to read, replace and delete it, while the account's users stay denied."""
    owner_keys = second_account(cloud, bucket_name("powner"))
    intruder_keys = second_account(cloud, bucket_name("pintr"))
    owner = cloud.client("s3", access_key=owner_keys[0], secret_key=owner_keys[1])
    intruder = cloud.client("s3", access_key=intruder_keys[0], secret_key=intruder_keys[1])
    name = bucket_name("pman")
    owner.create_bucket(Bucket=name)
    owner.put_bucket_policy(Bucket=name, Policy=_public(name))
    owner.put_object(Bucket=name, Key="doc", Body=b"data")
    assert intruder.get_object(Bucket=name, Key="doc")["Body"].read() == b"data"
    for call, kwargs in ((intruder.put_bucket_policy, {"Policy": _public(name, "Deny")}),
                         (intruder.delete_bucket_policy, {}),
                         (intruder.get_bucket_policy, {})):
        assert _error(call, Bucket=name, **kwargs)[:2] == ("MethodNotAllowed", 405)
    assert json.loads(owner.get_bucket_policy(Bucket=name)["Policy"]) == json.loads(_public(name))
    # a Deny-all: data and users locked out, the owner's root still manages the policy
    owner_iam = cloud.client("iam", access_key=owner_keys[0], secret_key=owner_keys[1])
    user = _user(cloud, owner_iam, bucket_name("puser"), _allow(["s3:*"], ["*"]))
    owner.put_bucket_policy(Bucket=name, Policy=_public(name, "Deny"))
    _denied(owner.get_object, Bucket=name, Key="doc")
    _denied(user.get_bucket_policy, Bucket=name)
    _denied(user.delete_bucket_policy, Bucket=name)
    assert json.loads(owner.get_bucket_policy(Bucket=name)["Policy"])["Statement"][0][
        "Effect"] == "Deny"
    owner.delete_bucket_policy(Bucket=name)
    assert owner.get_object(Bucket=name, Key="doc")["Body"].read() == b"data"
    # ... and the cloud administrator can lift it for the owner
    owner.put_bucket_policy(Bucket=name, Policy=_public(name, "Deny"))
    _denied(owner.get_object, Bucket=name, Key="doc")
    cloud.client("s3").delete_bucket_policy(Bucket=name)
    assert owner.get_object(Bucket=name, Key="doc")["Body"].read() == b"data"
    assert _error(owner.get_bucket_policy, Bucket=name)[:2] == ("NoSuchBucketPolicy", 404)


def test_bucket_policy_size_is_capped_at_20_kb(cloud: LiveCloud) -> None:
    """AWS caps a bucket policy at 20 KB (whitespace not counted)."""
    s3 = cloud.client("s3")
    name = bucket_name("psize")
    s3.create_bucket(Bucket=name)

    def policy(statements: int, indent: int | None = None) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": f"S{i}", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/{i:04d}/" + "p" * 80} for i in range(statements)]},
            indent=indent)

    too_big = policy(200)
    assert len(too_big) > 20 * 1024
    code, status, message = _error(s3.put_bucket_policy, Bucket=name, Policy=too_big)
    assert (code, status) == ("PolicyTooLarge", 400)
    assert message == "Policy exceeds the maximum allowed document size."
    roomy = policy(100, indent=8)  # under 20 KB once its whitespace is left out
    assert len(roomy) > 20 * 1024
    s3.put_bucket_policy(Bucket=name, Policy=roomy)
    assert s3.get_bucket_policy(Bucket=name)["Policy"] == roomy


def test_hostile_wildcards_do_not_stall_the_server(cloud: LiveCloud) -> None:
    """A bucket policy of many-star patterns (Resource and StringLike) against a long key
    and a long prefix: each anonymous request is answered at once (the regex translation
    took seconds, growing with the fourth power of the length)."""
    s3 = cloud.client("s3")
    name = bucket_name("pstar")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{name}/*a*a*a*a*b"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{name}",
         "Condition": {"StringLike": {"s3:prefix": "*a*a*a*a*b"}}}]}))
    for url in (f"{cloud.endpoint}/{name}/{'a' * 300}",
                f"{cloud.endpoint}/{name}?list-type=2&prefix={'a' * 300}"):
        started = time.monotonic()
        status, _, _ = http("GET", url)
        assert status == 403
        assert time.monotonic() - started < 1.0, url[:80]
    s3.put_object(Bucket=name, Key="xaxaaab", Body=b"open")
    assert http("GET", f"{cloud.endpoint}/{name}/xaxaaab")[:2] == (200, b"open")


def test_policy_escapes_are_literal_characters(cloud: LiveCloud) -> None:
    """``${*}`` in a Resource is a literal star (AWS's escape), not a wildcard."""
    s3 = cloud.client("s3")
    name = bucket_name("pesc")
    s3.create_bucket(Bucket=name)
    for key in ("star*", "starfish"):
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{name}/star${{*}}"}]}))
    assert http("GET", f"{cloud.endpoint}/{name}/star%2A")[:2] == (200, b"star*")
    assert http("GET", f"{cloud.endpoint}/{name}/starfish")[0] == 403


def test_tag_limits_are_aws_limits(cloud: LiveCloud) -> None:
    """50 tags a bucket, 10 an object (TagSet and x-amz-tagging), keys 128, values 256."""
    s3 = cloud.client("s3")
    name = bucket_name("ptags")
    s3.create_bucket(Bucket=name)

    def tags(n: int) -> dict[str, Any]:
        return {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(n)]}

    s3.put_bucket_tagging(Bucket=name, Tagging=tags(50))
    assert _error(s3.put_bucket_tagging, Bucket=name, Tagging=tags(5000)) == (
        "BadRequest", 400, "Bucket tag count cannot be greater than 50")
    assert len(s3.get_bucket_tagging(Bucket=name)["TagSet"]) == 50
    for tag, message in (({"Key": "k" * 129, "Value": "v"}, "The TagKey you have provided is invalid"),
                         ({"Key": "k", "Value": "v" * 257}, "The TagValue you have provided is invalid")):
        assert _error(s3.put_bucket_tagging, Bucket=name, Tagging={"TagSet": [tag]}) == (
            "InvalidTag", 400, message)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "k" * 128, "Value": "v" * 256}]})
    s3.put_object(Bucket=name, Key="o", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(10)))
    assert _error(s3.put_object, Bucket=name, Key="p", Body=b"x",
                  Tagging="&".join(f"k{i}=v" for i in range(11))) == (
        "BadRequest", 400, "Object tags cannot be greater than 10")
    assert _error(s3.put_object, Bucket=name, Key="p", Body=b"x",
                  Tagging="k=" + "v" * 257)[:2] == ("InvalidTag", 400)
    assert _error(s3.put_object_tagging, Bucket=name, Key="o", Tagging=tags(11)) == (
        "BadRequest", 400, "Object tags cannot be greater than 10")
