"""IAM for identity tools, through boto3: SSH keys, service-specific credentials, the
credential report, account authorization details, access key info, permissions
boundaries (stored and enforced), tags of policies and instance profiles, RoleLastUsed."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: Any, resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def _openssh(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _md5(line: str) -> str:
    digest = hashlib.md5(base64.b64decode(line.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def test_ssh_public_keys(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    iam.create_user(UserName="sshuser")
    rsa_line = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ed_line = _openssh(ed25519.Ed25519PrivateKey.generate()) + " me@host"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    blob = _openssh(ec_key).split()[1]
    wrapped = "\n".join(blob[i:i + 70] for i in range(0, len(blob), 70))
    ssh2 = ("---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"256-bit ECDSA\"\n" + wrapped
            + "\n---- END SSH2 PUBLIC KEY ----\n")
    uploaded = [iam.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody=body)
                ["SSHPublicKey"] for body in (rsa_line, ed_line, ssh2)]
    assert uploaded[0]["Fingerprint"] == _md5(rsa_line)
    assert uploaded[1]["Fingerprint"] == _md5(ed_line)
    assert uploaded[2]["Fingerprint"] == _md5(_openssh(ec_key))
    assert all(k["SSHPublicKeyId"].startswith("APKA") and k["Status"] == "Active"
               for k in uploaded)
    with pytest.raises(ClientError) as err:
        iam.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody=rsa_line)
    assert _code(err) == ("DuplicateSSHPublicKey", 400)
    with pytest.raises(ClientError) as err:
        iam.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody="ssh-rsa AAAAnotakey")
    assert _code(err) == ("InvalidPublicKey", 400)
    small = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ClientError) as err:
        iam.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody=small)
    assert _code(err) == ("InvalidPublicKey", 400)
    with pytest.raises(ClientError) as err:
        iam.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody="ssh-dss AAAA")
    assert _code(err) == ("UnrecognizedPublicKeyEncoding", 400)
    key_id = uploaded[0]["SSHPublicKeyId"]
    got = iam.get_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id,
                                 Encoding="SSH")["SSHPublicKey"]
    assert got["SSHPublicKeyBody"] == rsa_line
    pem = iam.get_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id,
                                 Encoding="PEM")["SSHPublicKey"]["SSHPublicKeyBody"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert serialization.load_pem_public_key(pem.encode()).public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() == rsa_line
    first = iam.list_ssh_public_keys(UserName="sshuser", MaxItems=2)
    assert first["IsTruncated"] and len(first["SSHPublicKeys"]) == 2
    rest = iam.list_ssh_public_keys(UserName="sshuser", Marker=first["Marker"])
    assert not rest["IsTruncated"]
    assert {k["SSHPublicKeyId"] for k in first["SSHPublicKeys"] + rest["SSHPublicKeys"]} == \
        {k["SSHPublicKeyId"] for k in uploaded}
    iam.update_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id, Status="Inactive")
    assert iam.get_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id, Encoding="SSH"
                                  )["SSHPublicKey"]["Status"] == "Inactive"
    with pytest.raises(ClientError) as err:
        iam.delete_user(UserName="sshuser")
    assert _code(err) == ("DeleteConflict", 409)
    for key in uploaded:
        iam.delete_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key["SSHPublicKeyId"])
    with pytest.raises(ClientError) as err:
        iam.delete_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id)
    assert _code(err) == ("NoSuchEntity", 404)
    iam.delete_user(UserName="sshuser")


def test_service_specific_credentials(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    iam.create_user(UserName="ccuser")
    made = iam.create_service_specific_credential(
        UserName="ccuser", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert made["ServiceUserName"] == f"ccuser-at-{cloud.account_id}"
    assert made["ServicePassword"] and made["Status"] == "Active"
    iam.create_service_specific_credential(UserName="ccuser",
                                           ServiceName="codecommit.amazonaws.com")
    with pytest.raises(ClientError) as err:
        iam.create_service_specific_credential(UserName="ccuser",
                                               ServiceName="codecommit.amazonaws.com")
    assert _code(err) == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as err:
        iam.create_service_specific_credential(UserName="ccuser", ServiceName="s3.amazonaws.com")
    assert _code(err) == ("NotSupportedService", 404)
    iam.create_service_specific_credential(UserName="ccuser",
                                           ServiceName="cassandra.amazonaws.com")
    listed = iam.list_service_specific_credentials(UserName="ccuser")
    assert len(listed["ServiceSpecificCredentials"]) == 3
    assert "ServicePassword" not in listed["ServiceSpecificCredentials"][0]
    only = iam.list_service_specific_credentials(UserName="ccuser",
                                                 ServiceName="cassandra.amazonaws.com")
    assert len(only["ServiceSpecificCredentials"]) == 1
    cred_id = made["ServiceSpecificCredentialId"]
    reset = iam.reset_service_specific_credential(
        UserName="ccuser", ServiceSpecificCredentialId=cred_id)["ServiceSpecificCredential"]
    assert reset["ServicePassword"] != made["ServicePassword"]
    iam.update_service_specific_credential(UserName="ccuser", ServiceSpecificCredentialId=cred_id,
                                           Status="Inactive")
    statuses = {c["ServiceSpecificCredentialId"]: c["Status"] for c in
                iam.list_service_specific_credentials(UserName="ccuser")
                ["ServiceSpecificCredentials"]}
    assert statuses[cred_id] == "Inactive"
    with pytest.raises(ClientError) as err:
        iam.delete_user(UserName="ccuser")
    assert _code(err) == ("DeleteConflict", 409)
    for cred in iam.list_service_specific_credentials(UserName="ccuser")[
            "ServiceSpecificCredentials"]:
        iam.delete_service_specific_credential(
            UserName="ccuser", ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
    with pytest.raises(ClientError) as err:
        iam.delete_service_specific_credential(UserName="ccuser",
                                               ServiceSpecificCredentialId=cred_id)
    assert _code(err) == ("NoSuchEntity", 404)
    iam.delete_user(UserName="ccuser")


def test_credential_report(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    iam.create_account(AccountName="report-acct")
    key = iam.create_access_key(UserName="admin", DelegateAccount="report-acct")["AccessKey"]
    admin = cloud.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as err:
        admin.get_credential_report()
    assert _code(err) == ("ReportNotPresent", 410)
    admin.create_user(UserName="reported")
    admin.create_login_profile(UserName="reported", Password="Secret-Pass-123")
    admin.create_access_key(UserName="reported")
    assert admin.generate_credential_report()["State"] == "STARTED"
    assert admin.generate_credential_report()["State"] == "COMPLETE"
    report = admin.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.reader(io.StringIO(report["Content"].decode())))
    assert rows[0] == [
        "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
        "password_last_changed", "password_next_rotation", "mfa_active",
        "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
        "access_key_1_last_used_region", "access_key_1_last_used_service",
        "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
        "access_key_2_last_used_region", "access_key_2_last_used_service",
        "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"]
    by_user = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_user["<root_account>"]["arn"].endswith(":root")
    assert by_user["<root_account>"]["password_enabled"] == "not_supported"
    reported = by_user["reported"]
    assert reported["password_enabled"] == "true"
    assert reported["access_key_1_active"] == "true"
    assert reported["access_key_2_active"] == "false"
    assert by_user["admin"]["access_key_1_active"] == "true"
    iam.delete_account(AccountName="report-acct", Recursive=True)


def test_access_key_info_and_authorization_details(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    sts = cloud.client("sts")
    assert sts.get_access_key_info(AccessKeyId=cloud.access_key)["Account"] == cloud.account_id
    with pytest.raises(ClientError) as err:
        sts.get_access_key_info(AccessKeyId="AKIANOSUCHKEY0000000")
    assert _code(err)[1] == 400
    iam.create_user(UserName="gaad-user")
    iam.create_group(GroupName="gaad-group")
    iam.add_user_to_group(GroupName="gaad-group", UserName="gaad-user")
    iam.put_user_policy(UserName="gaad-user", PolicyName="inl", PolicyDocument=_doc(
        _allow("s3:ListAllMyBuckets")))
    policy = iam.create_policy(PolicyName="gaad-pol", PolicyDocument=_doc(_allow("ec2:*")))
    arn = policy["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="gaad-group", PolicyArn=arn)
    iam.create_role(RoleName="gaad-role", AssumeRolePolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": cloud.account_id}, "Action": "sts:AssumeRole"}))
    full = iam.get_account_authorization_details()
    users = {u["UserName"]: u for u in full["UserDetailList"]}
    assert users["gaad-user"]["GroupList"] == ["gaad-group"]
    assert users["gaad-user"]["UserPolicyList"][0]["PolicyName"] == "inl"
    assert users["gaad-user"]["UserPolicyList"][0]["PolicyDocument"]["Statement"][0][
        "Action"] == "s3:ListAllMyBuckets"
    groups = {g["GroupName"]: g for g in full["GroupDetailList"]}
    assert groups["gaad-group"]["AttachedManagedPolicies"] == [
        {"PolicyName": "gaad-pol", "PolicyArn": arn}]
    assert any(r["RoleName"] == "gaad-role" for r in full["RoleDetailList"])
    pols = {p["Arn"]: p for p in full["Policies"]}
    assert pols[arn]["AttachmentCount"] == 1
    assert pols[arn]["PolicyVersionList"][0]["IsDefaultVersion"]
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["RoleDetailList"] and not only_roles["UserDetailList"]
    assert not only_roles["Policies"]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxItems": 1}
    while True:
        page = iam.get_account_authorization_details(**kwargs)
        entries = (page["UserDetailList"] + page["GroupDetailList"] + page["RoleDetailList"]
                   + page["Policies"])
        assert len(entries) <= 1
        seen += [e["Arn"] for e in entries]
        if not page["IsTruncated"]:
            break
        kwargs["Marker"] = page["Marker"]
    total = (len(full["UserDetailList"]) + len(full["GroupDetailList"])
             + len(full["RoleDetailList"]) + len(full["Policies"]))
    assert len(seen) == len(set(seen)) == total


def test_permissions_boundary_enforced(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    bound = iam.create_policy(PolicyName="pb-iam-read", PolicyDocument=_doc(
        _allow(["iam:List*", "iam:Get*", "sts:AssumeRole", "sts:GetSessionToken"])))["Policy"]["Arn"]
    with pytest.raises(ClientError) as err:
        iam.create_user(UserName="pb-user", PermissionsBoundary="arn:aws:iam::"
                        f"{cloud.account_id}:policy/nosuch")
    assert _code(err) == ("NoSuchEntity", 404)
    iam.create_user(UserName="pb-user", PermissionsBoundary=bound)
    got = iam.get_user(UserName="pb-user")["User"]["PermissionsBoundary"]
    assert got == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                   "PermissionsBoundaryArn": bound}
    iam.put_user_policy(UserName="pb-user", PolicyName="all", PolicyDocument=_doc(_allow("*")))
    key = iam.create_access_key(UserName="pb-user")["AccessKey"]
    creds = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    user_iam = cloud.client("iam", **creds)
    user_iam.list_users()  # inside identity policy and boundary
    with pytest.raises(ClientError) as err:
        user_iam.create_group(GroupName="pb-escape")  # allowed by identity, outside boundary
    assert _code(err) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as err:
        cloud.client("ec2", **creds).describe_regions()
    assert _code(err)[0] == "UnauthorizedOperation"
    assert iam.get_policy(PolicyArn=bound)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    with pytest.raises(ClientError) as err:
        iam.delete_policy(PolicyArn=bound)
    assert _code(err) == ("DeleteConflict", 409)
    # a session of the user is bounded too
    token = cloud.client("sts", **creds).get_session_token()["Credentials"]
    session_iam = cloud.client("iam", access_key=token["AccessKeyId"],
                               secret_key=token["SecretAccessKey"], token=token["SessionToken"])
    with pytest.raises(ClientError) as err:
        session_iam.create_group(GroupName="pb-escape")
    assert _code(err) == ("AccessDenied", 403)
    iam.delete_user_permissions_boundary(UserName="pb-user")
    assert "PermissionsBoundary" not in iam.get_user(UserName="pb-user")["User"]
    user_iam.create_group(GroupName="pb-escape")  # boundary gone: the identity policy rules
    iam.delete_group(GroupName="pb-escape")
    # roles: boundary on the role bounds its sessions
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{cloud.account_id}:root"},
                  "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="pb-role", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="pb-role", PolicyName="all", PolicyDocument=_doc(_allow("*")))
    iam.put_role_permissions_boundary(RoleName="pb-role", PermissionsBoundary=bound)
    assert iam.get_role(RoleName="pb-role")["Role"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"] == bound
    assumed = cloud.client("sts", **creds).assume_role(
        RoleArn=f"arn:aws:iam::{cloud.account_id}:role/pb-role",
        RoleSessionName="pb-session")["Credentials"]
    role_iam = cloud.client("iam", access_key=assumed["AccessKeyId"],
                            secret_key=assumed["SecretAccessKey"], token=assumed["SessionToken"])
    role_iam.list_roles()
    with pytest.raises(ClientError) as err:
        role_iam.create_group(GroupName="pb-escape-2")
    assert _code(err) == ("AccessDenied", 403)
    last = iam.get_role(RoleName="pb-role")["Role"]["RoleLastUsed"]
    assert last["LastUsedDate"] and last["Region"] == cloud.region
    iam.delete_role_permissions_boundary(RoleName="pb-role")
    assert "PermissionsBoundary" not in iam.get_role(RoleName="pb-role")["Role"]


def test_policy_and_profile_tags(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    arn = iam.create_policy(PolicyName="tagged-pol", PolicyDocument=_doc(_allow("ec2:*")),
                            Tags=[{"Key": "team", "Value": "blue"}])["Policy"]["Arn"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    assert {t["Key"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]} == {"team", "env"}
    iam.untag_policy(PolicyArn=arn, TagKeys=["team"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    iam.create_instance_profile(InstanceProfileName="tagged-ip",
                                Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_instance_profile(InstanceProfileName="tagged-ip", Tags=[{"Key": "b", "Value": "2"}])
    assert {t["Key"] for t in iam.list_instance_profile_tags(
        InstanceProfileName="tagged-ip")["Tags"]} == {"a", "b"}
    iam.untag_instance_profile(InstanceProfileName="tagged-ip", TagKeys=["a"])
    assert iam.get_instance_profile(InstanceProfileName="tagged-ip")["InstanceProfile"][
        "Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as err:
        iam.tag_user(UserName="admin", Tags=[{"Key": "x", "Value": "1"},
                                             {"Key": "X", "Value": "2"}])
    assert _code(err) == ("InvalidInput", 400)
    with pytest.raises(ClientError) as err:
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "aws:owner", "Value": "1"}])
    assert _code(err) == ("InvalidInput", 400)
    with pytest.raises(ClientError) as err:
        iam.tag_instance_profile(InstanceProfileName="tagged-ip", Tags=[
            {"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert _code(err) == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as err:
        iam.create_role(RoleName="badtags", AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"AWS": cloud.account_id},
             "Action": "sts:AssumeRole"}), Tags=[{"Key": "bad#key", "Value": "x"}])
    assert _code(err) == ("InvalidInput", 400)
