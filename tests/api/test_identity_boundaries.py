"""Identity boundaries through boto3 and raw HTTP: the account administrator is a flag
(not a name), temporary credentials die with their parent key and their expiry on
every path (S3 POST too), session names and tags are validated, a revoked key is
refused by every worker at once, a resource policy naming an account delegates to
the account's IAM policies."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.api.test_s3_post import _post
from tests.support import LiveCloud


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _user(cloud: LiveCloud, prefix: str, *statements: dict[str, Any]
          ) -> tuple[str, dict[str, str]]:
    """A new user with ``statements`` inline; its name and client keyword arguments."""
    iam = cloud.client("iam")
    name = bucket_name(prefix)
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=_policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def _temp(creds: dict[str, Any]) -> dict[str, str]:
    return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"]}


@pytest.mark.both_databases
def test_renaming_into_admin_grants_nothing(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    name, kw = _user(cloud, "mallory", {"Effect": "Allow", "Action": "iam:UpdateUser",
                                        "Resource": "*"})
    mallory = cloud.client("iam", **kw)
    # the attack: rename the administrator away, then take its name
    with pytest.raises(ClientError) as err:
        mallory.update_user(UserName="admin", NewUserName="old-admin")
    assert _err(err) == ("UnmodifiableEntity", 400)
    with pytest.raises(ClientError) as err:
        mallory.update_user(UserName=name, NewUserName="admin")
    assert _err(err) == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as err:
        mallory.list_accounts()
    assert _err(err)[0] == "AccessDenied"
    props = cloud.client("properties", path="/services/Properties", **kw)
    with pytest.raises(ClientError) as err:
        props.describe_properties()
    assert _err(err)[0] == "AccessDenied"
    assert {u["UserName"] for u in iam.list_users()["Users"]} >= {"admin", name}
    # the administrator of an account is neither deletable nor renamable, and it stays
    # the administrator at another path: the flag, not the name or path, decides
    account = bucket_name("adm")
    iam.create_account(AccountName=account)
    try:
        with pytest.raises(ClientError) as err:
            iam.delete_user(UserName="admin", DelegateAccount=account)
        assert _err(err) == ("DeleteConflict", 409)
        with pytest.raises(ClientError) as err:
            iam.update_user(UserName="admin", NewUserName="boss", DelegateAccount=account)
        assert _err(err) == ("UnmodifiableEntity", 400)
        iam.update_user(UserName="admin", NewPath="/ops/", DelegateAccount=account)
        key = iam.create_access_key(UserName="admin", DelegateAccount=account)["AccessKey"]
        moved = cloud.client("iam", access_key=key["AccessKeyId"],
                             secret_key=key["SecretAccessKey"])
        assert moved.list_users()["Users"][0]["Path"] == "/ops/"
        moved.create_user(UserName="worker")
        with pytest.raises(ClientError) as err:
            moved.list_accounts()
        assert _err(err)[0] == "AccessDenied"
    finally:
        iam.delete_account(AccountName=account, Recursive=True)


def test_expired_session_refused_by_form_upload(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    s3 = cloud.client("s3")
    bucket = bucket_name("postexp")
    s3.create_bucket(Bucket=bucket)
    props = cloud.client("properties", path="/services/Properties")
    props.modify_property_value(Name="tokens.max_lifetime_seconds", Value="2")
    try:
        creds = cloud.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    finally:
        props.modify_property_value(Name="tokens.max_lifetime_seconds", Reset=True)
    temp = cloud.client("s3", **_temp(creds))
    form = temp.generate_presigned_post(bucket, "late-upload", ExpiresIn=600)
    assert "x-amz-security-token" in form["fields"]
    time.sleep(2.5)
    status, body, _ = _post(form["url"], form["fields"], b"x")
    assert status == 400 and b"ExpiredToken" in body, body
    # a wrong token is refused as on every other path
    forged = {**form["fields"], "x-amz-security-token": "Fw" + "A" * 40}
    status, body, _ = _post(form["url"], forged, b"x")
    assert status == 400 and b"InvalidToken" in body, body
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_expired_sessions_are_purged(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    db = sqlite3.connect(cloud.data_dir / "cloud.db", timeout=10)
    try:
        row = db.execute("SELECT * FROM sts_sessions LIMIT 0")
        columns = [c[0] for c in row.description]
        values = {c: "x" for c in columns}
        values.update(account_id=cloud.account_id, attributes_json="{}", parent_key_id=None,
                      session_policy=None, created_at="2020-01-01 00:00:00.000000")
        old = {**values, "access_key_id": "ASIAPURGEOLD0000001",
               "expires_at": "2020-01-02 00:00:00.000000"}
        recent = {**values, "access_key_id": "ASIAPURGERECENT0001",
                  "expires_at": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())}
        for record in (old, recent):
            db.execute(f"INSERT INTO sts_sessions ({', '.join(columns)}) VALUES "
                       f"({', '.join('?' for _ in columns)})", [record[c] for c in columns])
        db.commit()
        cloud.client("sts").get_session_token(DurationSeconds=900)
        left = {r[0] for r in db.execute("SELECT access_key_id FROM sts_sessions WHERE "
                                         "access_key_id LIKE 'ASIAPURGE%'")}
    finally:
        db.close()
    assert left == {"ASIAPURGERECENT0001"}


def test_role_sessions_have_no_user_name(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    iam = cloud.client("iam")
    victim, _ = _user(cloud, "victim")
    role = bucket_name("selfkeys")
    trust = _policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                     "Principal": {"AWS": f"arn:aws:iam::{cloud.account_id}:root"}})
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    # "manage your own keys": on AWS only users have ${aws:username}
    iam.put_role_policy(RoleName=role, PolicyName="own", PolicyDocument=_policy({
        "Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:GetUser"],
        "Resource": f"arn:aws:iam::{cloud.account_id}:user/${{aws:username}}"}))
    sts = cloud.client("sts")
    role_arn = f"arn:aws:iam::{cloud.account_id}:role/{role}"
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName=victim)
    session_iam = cloud.client("iam", **_temp(out["Credentials"]))
    with pytest.raises(ClientError) as err:
        session_iam.create_access_key(UserName=victim)
    assert _err(err)[0] == "AccessDenied"
    # a role that may create keys: a call naming no user targets no user (AWS's
    # ValidationError), never the user whose name the session chose
    keys_role = bucket_name("anykey")
    iam.create_role(RoleName=keys_role, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=keys_role, PolicyName="keys", PolicyDocument=_policy({
        "Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": "*"}))
    keys_session = sts.assume_role(RoleArn=f"arn:aws:iam::{cloud.account_id}:role/{keys_role}",
                                   RoleSessionName=victim)["Credentials"]
    with pytest.raises(ClientError) as err:
        cloud.client("iam", **_temp(keys_session)).create_access_key()
    assert _err(err) == ("ValidationError", 400)
    assert len(iam.list_access_keys(UserName=victim)["AccessKeyMetadata"]) == 1
    ident = cloud.client("sts", **_temp(out["Credentials"])).get_caller_identity()
    assert ident["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    assert ident["UserId"].endswith(":" + victim)
    # names and tags are validated as STS does (no wildcards, no control characters),
    # by the server: the client's own checks are off
    sts = cloud.client("sts", config=Config(parameter_validation=False))
    iam = cloud.client("iam", config=Config(parameter_validation=False))
    for bad in ("admin*", "a?b", "line\nforged", "x", "a" * 65, "sp ace"):
        with pytest.raises(ClientError) as err:
            sts.assume_role(RoleArn=role_arn, RoleSessionName=bad)
        assert _err(err) == ("ValidationError", 400), bad
    for tags in ([{"Key": "team", "Value": "a*"}], [{"Key": "aws:x", "Value": "1"}],
                 [{"Key": "t\n", "Value": "1"}],
                 [{"Key": "Team", "Value": "1"}, {"Key": "team", "Value": "2"}]):
        with pytest.raises(ClientError) as err:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="tagged", Tags=tags)
        assert _err(err)[1] == 400, tags
    sts.assume_role(RoleArn=role_arn, RoleSessionName="ok.name@x=y,z+1-2",
                    Tags=[{"Key": "team:a/b", "Value": "Ops é 1"}])
    for name in ("fed*", "a?", "new\nline"):
        with pytest.raises(ClientError) as err:
            sts.get_federation_token(Name=name)
        assert _err(err) == ("ValidationError", 400), name
    for name in ("bad*user", "new\nline", "sp ace"):
        with pytest.raises(ClientError) as err:
            iam.create_user(UserName=name)
        assert _err(err) == ("ValidationError", 400), name


def test_sessions_end_with_their_parent_key(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    iam = cloud.client("iam")
    name, kw = _user(cloud, "parent", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    role = bucket_name("chain")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=_policy({
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:aws:iam::{cloud.account_id}:root"}}))
    iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*"}))
    sts = cloud.client("sts", **kw)
    session = _temp(sts.get_session_token()["Credentials"])
    role_arn = f"arn:aws:iam::{cloud.account_id}:role/{role}"
    assumed = _temp(sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"])
    chained = _temp(cloud.client("sts", **assumed).assume_role(
        RoleArn=role_arn, RoleSessionName="c1")["Credentials"])
    derived = (session, assumed, chained)
    for creds in derived:
        cloud.client("iam", **creds).list_roles()
    iam.update_access_key(UserName=name, AccessKeyId=kw["access_key"], Status="Inactive")
    for creds in derived:
        with pytest.raises(ClientError) as err:
            cloud.client("iam", **creds).list_roles()
        assert _err(err) == ("InvalidClientTokenId", 403)
    iam.update_access_key(UserName=name, AccessKeyId=kw["access_key"], Status="Active")
    cloud.client("iam", **chained).list_roles()
    iam.delete_access_key(UserName=name, AccessKeyId=kw["access_key"])
    iam.delete_user_policy(UserName=name, PolicyName="p")
    iam.delete_user(UserName=name)
    for creds in derived:
        with pytest.raises(ClientError) as err:
            cloud.client("iam", **creds).list_roles()
        assert _err(err) == ("InvalidClientTokenId", 403)
    # an account administrator's session dies with the administrator's key
    account = bucket_name("sessadm")
    iam.create_account(AccountName=account)
    try:
        key = iam.create_access_key(UserName="admin", DelegateAccount=account)["AccessKey"]
        admin_sts = cloud.client("sts", access_key=key["AccessKeyId"],
                                 secret_key=key["SecretAccessKey"])
        admin_session = _temp(admin_sts.get_session_token()["Credentials"])
        cloud.client("iam", **admin_session).list_users()
        iam.delete_access_key(UserName="admin", AccessKeyId=key["AccessKeyId"],
                              DelegateAccount=account)
        with pytest.raises(ClientError) as err:
            cloud.client("iam", **admin_session).list_users()
        assert _err(err) == ("InvalidClientTokenId", 403)
    finally:
        iam.delete_account(AccountName=account, Recursive=True)


def test_account_principal_delegates_to_iam_policies(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    s3 = cloud.client("s3")
    bucket = bucket_name("acctprin")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doc", Body=b"secret")
    _, bare = _user(cloud, "bare")
    _, allowed = _user(cloud, "allowed", {"Effect": "Allow", "Action": "s3:GetObject",
                                          "Resource": "*"})
    named_name, named = _user(cloud, "named")
    for principal in (f"arn:aws:iam::{cloud.account_id}:root", cloud.account_id):
        s3.put_bucket_policy(Bucket=bucket, Policy=_policy({
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
            "Principal": {"AWS": [principal,
                                  f"arn:aws:iam::{cloud.account_id}:user/{named_name}"]}}))
        with pytest.raises(ClientError) as err:
            cloud.client("s3", **bare).get_object(Bucket=bucket, Key="doc")
        assert _err(err) == ("AccessDenied", 403), principal
        assert cloud.client("s3", **allowed).get_object(Bucket=bucket, Key="doc")[
            "Body"].read() == b"secret"
        # naming the user itself grants it
        assert cloud.client("s3", **named).get_object(Bucket=bucket, Key="doc")[
            "Body"].read() == b"secret"


@pytest.fixture
def two_worker_cloud(two_worker_shared: LiveCloud) -> LiveCloud:
    """The shared cloud with two API workers (tests/api/conftest.py)."""
    return two_worker_shared


def test_deactivated_key_refused_by_every_worker(two_worker_cloud: LiveCloud) -> None:
    cloud = two_worker_cloud
    iam = cloud.client("iam")
    name, kw = _user(cloud, "revoked", {"Effect": "Allow", "Action": "iam:ListRoles",
                                        "Resource": "*"})
    # warm both workers' caches: each client opens its own connection
    for _ in range(16):
        cloud.client("iam", **kw).list_roles()
    iam.update_access_key(UserName=name, AccessKeyId=kw["access_key"], Status="Inactive")
    refused = 0
    for _ in range(24):
        with pytest.raises(ClientError) as err:
            cloud.client("iam", **kw).list_roles()
        assert _err(err) == ("InvalidClientTokenId", 403)
        refused += 1
    assert refused == 24
