"""IAM through boto3 and the AWS CLI: accounts, entities, keys, policies, errors, paging."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def test_accounts_admin_only(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    created = iam.create_account(AccountName="core-acct")["Account"]
    assert len(created["AccountId"]) == 12 and created["AccountId"].isdigit()
    names = {a["AccountName"] for a in iam.list_accounts()["Accounts"]}
    assert {"eucalyptus", "core-acct"} <= names
    with pytest.raises(ClientError) as err:
        iam.create_account(AccountName="core-acct")
    assert _err(err) == ("EntityAlreadyExists", 409)
    iam.create_user(UserName="bob", DelegateAccount="core-acct")
    with pytest.raises(ClientError) as err:
        iam.delete_account(AccountName="core-acct")
    assert _err(err) == ("DeleteConflict", 409)
    users = iam.list_users(DelegateAccount="core-acct")["Users"]
    assert {u["UserName"] for u in users} == {"admin", "bob"}
    assert all(u["Arn"].startswith(f"arn:aws:iam::{created['AccountId']}:") for u in users)
    key = iam.create_access_key(UserName="admin", DelegateAccount="core-acct")["AccessKey"]
    other = cloud.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as err:
        other.list_accounts()
    assert _err(err)[0] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        other.list_users(DelegateAccount="eucalyptus")
    assert _err(err)[0] == "AccessDenied"
    out = json.loads(cloud.aws("iam", "list-accounts").stdout)
    assert any(a["AccountName"] == "core-acct" for a in out["Accounts"])
    iam.delete_account(AccountName="core-acct", Recursive=True)
    with pytest.raises(ClientError) as err:
        iam.delete_account(AccountName="core-acct")
    assert _err(err) == ("NoSuchEntity", 404)


def test_cli_accounts(cloud: LiveCloud) -> None:
    cloud.cli("account", "create", "cli-acct")
    rows = json.loads(cloud.cli("--output", "json", "account", "list").stdout)
    assert any(r["AccountName"] == "cli-acct" for r in rows)
    cloud.cli("account", "delete", "cli-acct", "--recursive")
    rows = json.loads(cloud.cli("--output", "json", "account", "list").stdout)
    assert not any(r["AccountName"] == "cli-acct" for r in rows)


def test_users_paths_paging_errors(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    for i in range(7):
        iam.create_user(UserName=f"pg{i:02d}", Path="/paging/" if i % 2 else "/other/")
    with pytest.raises(ClientError) as err:
        iam.create_user(UserName="PG00")
    assert _err(err) == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as err:
        iam.get_user(UserName="nobody")
    assert _err(err) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as err:
        iam.create_user(UserName="badpath", Path="nopath")
    assert _err(err)[0] == "ValidationError"
    first = iam.list_users(PathPrefix="/paging/", MaxItems=2)
    assert first["IsTruncated"] and len(first["Users"]) == 2 and first["Marker"]
    names = [u["UserName"] for u in first["Users"]]
    marker = first["Marker"]
    while marker:
        page = iam.list_users(PathPrefix="/paging/", MaxItems=2, Marker=marker)
        names += [u["UserName"] for u in page["Users"]]
        marker = page.get("Marker") if page["IsTruncated"] else None
    assert names == ["pg01", "pg03", "pg05"]
    last = iam.list_users(PathPrefix="/paging/", MaxItems=3)
    assert not last["IsTruncated"] and "Marker" not in last
    paginated = [u["UserName"] for p in iam.get_paginator("list_users").paginate(
        PathPrefix="/other/", PaginationConfig={"PageSize": 1}) for u in p["Users"]]
    assert paginated == ["pg00", "pg02", "pg04", "pg06"]
    out = json.loads(cloud.aws("iam", "list-users", "--path-prefix", "/paging/").stdout)
    assert [u["UserName"] for u in out["Users"]] == ["pg01", "pg03", "pg05"]


def test_groups_keys_and_delete_conflict(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    iam.create_user(UserName="carol", Tags=[{"Key": "k", "Value": "v"}])
    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="carol")
    assert [u["UserName"] for u in iam.get_group(GroupName="devs")["Users"]] == ["carol"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="carol")["Groups"]] == ["devs"]
    with pytest.raises(ClientError) as err:
        iam.delete_group(GroupName="devs")
    assert _err(err) == ("DeleteConflict", 409)
    keys = [iam.create_access_key(UserName="carol")["AccessKey"] for _ in range(2)]
    with pytest.raises(ClientError) as err:
        iam.create_access_key(UserName="carol")
    assert _err(err) == ("LimitExceeded", 409)
    user_sts = cloud.client("sts", access_key=keys[0]["AccessKeyId"],
                            secret_key=keys[0]["SecretAccessKey"])
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert user_sts.get_caller_identity()["Arn"].endswith(":user/carol")
    last = iam.get_access_key_last_used(AccessKeyId=keys[0]["AccessKeyId"])
    assert last["UserName"] == "carol"
    iam.update_access_key(UserName="carol", AccessKeyId=keys[0]["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as err:
        user_sts.get_caller_identity()
    assert _err(err)[0] == "InvalidClientTokenId"
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]}
    assert statuses[keys[0]["AccessKeyId"]] == "Inactive"
    with pytest.raises(ClientError) as err:
        iam.delete_user(UserName="carol")
    assert _err(err) == ("DeleteConflict", 409)
    for key in keys:
        iam.delete_access_key(UserName="carol", AccessKeyId=key["AccessKeyId"])
    iam.detach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.remove_user_from_group(GroupName="devs", UserName="carol")
    iam.create_login_profile(UserName="carol", Password="Secret-pass-1")
    assert iam.get_login_profile(UserName="carol")["LoginProfile"]["UserName"] == "carol"
    iam.delete_login_profile(UserName="carol")
    assert iam.list_user_tags(UserName="carol")["Tags"] == [{"Key": "k", "Value": "v"}]
    iam.delete_user(UserName="carol")
    iam.delete_group(GroupName="devs")


def test_policies_managed_and_inline(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    with pytest.raises(ClientError) as err:
        iam.create_policy(PolicyName="bad", PolicyDocument="{not json")
    assert _err(err) == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as err:
        iam.create_policy(PolicyName="bad", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}))
    assert _err(err)[0] == "MalformedPolicyDocument"
    assert "must contain actions" in err.value.response["Error"]["Message"]
    policy = iam.create_policy(PolicyName="mp", Path="/team/", PolicyDocument=ALLOW_ALL)["Policy"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=ALLOW_ALL)
    with pytest.raises(ClientError) as err:
        iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=ALLOW_ALL)
    assert _err(err) == ("LimitExceeded", 409)
    iam.set_default_policy_version(PolicyArn=policy["Arn"], VersionId="v3")
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["DefaultVersionId"] == "v3"
    doc = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v3")["PolicyVersion"]
    assert doc["Document"]["Statement"][0]["Action"] == "*"
    iam.create_role(RoleName="mr", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    iam.attach_role_policy(RoleName="mr", PolicyArn=policy["Arn"])
    entities = iam.list_entities_for_policy(PolicyArn=policy["Arn"])
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["mr"]
    with pytest.raises(ClientError) as err:
        iam.delete_policy(PolicyArn=policy["Arn"])
    assert _err(err) == ("DeleteConflict", 409)
    aws = iam.list_policies(Scope="AWS")["Policies"]
    assert {"AdministratorAccess", "ReadOnlyAccess", "AmazonEC2FullAccess",
            "AmazonS3FullAccess", "IAMFullAccess"} <= {p["PolicyName"] for p in aws}
    local = iam.list_policies(Scope="Local", PathPrefix="/team/")["Policies"]
    assert [p["PolicyName"] for p in local] == ["mp"]
    iam.put_role_policy(RoleName="mr", PolicyName="inline", PolicyDocument=ALLOW_ALL)
    assert iam.list_role_policies(RoleName="mr")["PolicyNames"] == ["inline"]
    iam.create_instance_profile(InstanceProfileName="mip")
    iam.add_role_to_instance_profile(InstanceProfileName="mip", RoleName="mr")
    with pytest.raises(ClientError) as err:
        iam.delete_role(RoleName="mr")
    assert _err(err) == ("DeleteConflict", 409)
    profiles = iam.list_instance_profiles_for_role(RoleName="mr")["InstanceProfiles"]
    assert profiles[0]["Roles"][0]["RoleName"] == "mr"
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Roles"] >= 1 and summary["AccessKeysPerUserQuota"] == 2


def test_account_isolation(cloud: LiveCloud) -> None:
    """The admin of account B sees and changes nothing of account A (the cloud's)."""
    iam = cloud.client("iam")
    iam.create_account(AccountName="iso-b")
    iam.create_user(UserName="only-in-a")
    key = iam.create_access_key(UserName="admin", DelegateAccount="iso-b")["AccessKey"]
    b = cloud.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert "only-in-a" not in {u["UserName"] for u in b.list_users()["Users"]}
    calls: list[Any] = [
        lambda: b.get_user(UserName="only-in-a"),
        lambda: b.delete_user(UserName="only-in-a"),
        lambda: b.put_user_policy(UserName="only-in-a", PolicyName="x", PolicyDocument=ALLOW_ALL),
        lambda: b.create_access_key(UserName="only-in-a"),
        lambda: b.list_users(DelegateAccount="eucalyptus"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert _err(err)[0] in ("NoSuchEntity", "AccessDenied")
    props = cloud.client("properties", path="/services/Properties",
                         access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as err:
        props.describe_properties()
    assert _err(err) == ("AccessDenied", 403)
    iam.get_user(UserName="only-in-a")


def test_policy_size_quotas(cloud: LiveCloud) -> None:
    """AWS's quotas count characters without whitespace; a user's inline policies share
    one 2,048-character quota (many small policies cannot grow without bound)."""
    iam = cloud.client("iam")
    iam.create_user(UserName="quota-user")

    def doc(n: int, indent: int | None = None) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::b{i:03d}/*" for i in range(n)]}]}, indent=indent)

    iam.put_user_policy(UserName="quota-user", PolicyName="one", PolicyDocument=doc(45))
    with pytest.raises(ClientError) as err:
        iam.put_user_policy(UserName="quota-user", PolicyName="two", PolicyDocument=doc(45))
    assert _err(err) == ("LimitExceeded", 409)
    assert err.value.response["Error"]["Message"] == \
        "Maximum policy size of 2048 bytes exceeded for user quota-user"
    iam.put_user_policy(UserName="quota-user", PolicyName="one", PolicyDocument=doc(70))
    iam.delete_user_policy(UserName="quota-user", PolicyName="one")
    padded = doc(70, indent="\t" * 20)
    assert len(padded) > 4096
    iam.put_user_policy(UserName="quota-user", PolicyName="two", PolicyDocument=padded)
    with pytest.raises(ClientError) as err:
        iam.create_policy(PolicyName="quota-big", PolicyDocument=doc(300))
    assert _err(err) == ("LimitExceeded", 409)
    assert err.value.response["Error"]["Message"] == "Cannot exceed quota for PolicySize: 6144"
    iam.delete_user_policy(UserName="quota-user", PolicyName="two")
    iam.delete_user(UserName="quota-user")
