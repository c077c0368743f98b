"""Virtual MFA devices through boto3: TOTP enable/resync/deactivate, listing, tags, and
``aws:MultiFactorAuthPresent`` on sessions from GetSessionToken/AssumeRole with a code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

# SQLite only (TOTP codes: no database-specific path; IAM's storage runs on both in test_iam_core)


def _code(seed: str, step: int) -> str:
    """RFC 6238 (SHA-1, 6 digits) written here independently of the product."""
    key = base64.b32decode(seed + "=" * (-len(seed) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000
               ).zfill(6)


def _step_with_margin() -> int:
    """The current 30 s step, waiting past a boundary so the next seconds stay in it."""
    if time.time() % 30 > 24:
        time.sleep(30 - time.time() % 30 + 0.2)
    return int(time.time() // 30)


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def _user(cloud: LiveCloud, name: str, policy: dict[str, object]) -> dict[str, str]:
    iam = cloud.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def test_virtual_mfa_device_lifecycle(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    iam.create_user(UserName="mfa-life")
    device = iam.create_virtual_mfa_device(
        VirtualMFADeviceName="life-dev", Tags=[{"Key": "team", "Value": "a"}])["VirtualMFADevice"]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{cloud.account_id}:mfa/life-dev"
    seed = device["Base32StringSeed"].decode()
    assert len(seed) == 32 and base64.b32decode(seed)
    png = device["QRCodePNG"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 100
    with pytest.raises(ClientError) as err:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="life-dev")
    assert _err(err) == ("EntityAlreadyExists", 409)
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert serial in [d["SerialNumber"] for d in unassigned]
    step = _step_with_margin()
    # wrong codes, and two codes that are not consecutive, are refused
    with pytest.raises(ClientError) as err:
        iam.enable_mfa_device(UserName="mfa-life", SerialNumber=serial,
                              AuthenticationCode1="000000", AuthenticationCode2="000001")
    assert _err(err) == ("InvalidAuthenticationCode", 403)
    with pytest.raises(ClientError) as err:
        iam.enable_mfa_device(UserName="mfa-life", SerialNumber=serial,
                              AuthenticationCode1=_code(seed, step - 2),
                              AuthenticationCode2=_code(seed, step))
    assert _err(err) == ("InvalidAuthenticationCode", 403)
    iam.enable_mfa_device(UserName="mfa-life", SerialNumber=serial,
                          AuthenticationCode1=_code(seed, step - 1),
                          AuthenticationCode2=_code(seed, step))
    listed = iam.list_mfa_devices(UserName="mfa-life")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial] and listed[0]["EnableDate"]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    mine = [d for d in assigned if d["SerialNumber"] == serial]
    assert mine and mine[0]["User"]["UserName"] == "mfa-life"
    assert serial not in [d["SerialNumber"] for d in
                          iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")
                          ["VirtualMFADevices"]]
    with pytest.raises(ClientError) as err:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert _err(err) == ("DeleteConflict", 409)
    # resync accepts two consecutive codes a few steps off (a drifting clock)
    iam.resync_mfa_device(UserName="mfa-life", SerialNumber=serial,
                          AuthenticationCode1=_code(seed, step + 3),
                          AuthenticationCode2=_code(seed, step + 4))
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["team"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [
        {"Key": "env", "Value": "prod"}]
    iam.deactivate_mfa_device(UserName="mfa-life", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="mfa-life")["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as err:
        iam.list_mfa_device_tags(SerialNumber=serial)
    assert _err(err) == ("NoSuchEntity", 404)


def test_mfa_protected_action_needs_a_code(cloud: LiveCloud) -> None:
    account = cloud.account_id
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:ListUsers", "sts:GetSessionToken",
                                       "sts:AssumeRole"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                       "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}]}
    keys = _user(cloud, "mfa-guard", policy)
    iam = cloud.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="guard-dev")["VirtualMFADevice"]
    serial, seed = device["SerialNumber"], device["Base32StringSeed"].decode()
    step = _step_with_margin()
    iam.enable_mfa_device(UserName="mfa-guard", SerialNumber=serial,
                          AuthenticationCode1=_code(seed, step - 2),
                          AuthenticationCode2=_code(seed, step - 1))
    sts = cloud.client("sts", **keys)
    # long-term keys and a session without a code: refused
    with pytest.raises(ClientError) as err:
        cloud.client("iam", **keys).list_roles()
    assert _err(err) == ("AccessDenied", 403)
    plain = sts.get_session_token(DurationSeconds=900)["Credentials"]
    plain_iam = cloud.client("iam", access_key=plain["AccessKeyId"],
                             secret_key=plain["SecretAccessKey"], token=plain["SessionToken"])
    plain_iam.list_users()
    with pytest.raises(ClientError) as err:
        plain_iam.list_roles()
    assert _err(err) == ("AccessDenied", 403)
    # a wrong code, another user's serial form, a code already used: refused
    with pytest.raises(ClientError) as err:
        sts.get_session_token(SerialNumber=serial, TokenCode=_code(seed, step + 5))
    assert _err(err) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as err:
        sts.get_session_token(SerialNumber=serial, TokenCode=_code(seed, step - 1))
    assert _err(err) == ("AccessDenied", 403)  # consumed by EnableMFADevice
    creds = sts.get_session_token(SerialNumber=serial, TokenCode=_code(seed, step),
                                  DurationSeconds=900)["Credentials"]
    with pytest.raises(ClientError) as err:  # the same code again: a replay
        sts.get_session_token(SerialNumber=serial, TokenCode=_code(seed, step))
    assert _err(err) == ("AccessDenied", 403)
    mfa_iam = cloud.client("iam", access_key=creds["AccessKeyId"],
                           secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    mfa_iam.list_roles()
    # a role whose trust policy demands MFA: AssumeRole with the next code
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:aws:iam::{account}:user/mfa-guard"},
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}
    iam.create_role(RoleName="mfa-only", AssumeRolePolicyDocument=json.dumps(trust))
    role_arn = f"arn:aws:iam::{account}:role/mfa-only"
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="nomfa")
    assert _err(err) == ("AccessDenied", 403)
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="withmfa",
                              SerialNumber=serial, TokenCode=_code(seed, step + 1))
    assert assumed["Credentials"]["AccessKeyId"].startswith("ASIA")
