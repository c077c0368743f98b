"""STS through boto3: AssumeRole (trust, ExternalId, session policy), session and
federation tokens, expiry, DecodeAuthorizationMessage."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _trust(cloud: LiveCloud, **condition: object) -> str:
    statement: dict[str, object] = {"Effect": "Allow", "Action": "sts:AssumeRole",
                                    "Principal": {"AWS": f"arn:aws:iam::{cloud.account_id}:root"}}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_assume_role_cannot_exceed_role(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    iam = cloud.client("iam")
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=_trust(cloud))
    iam.attach_role_policy(RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    sts = cloud.client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{cloud.account_id}:role/reader",
                            RoleSessionName="s1", DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    kw = {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
          "token": creds["SessionToken"]}
    ident = cloud.client("sts", **kw).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{cloud.account_id}:assumed-role/reader/s1"
    role_iam = cloud.client("iam", **kw)
    role_iam.list_users()
    with pytest.raises(ClientError) as err:
        role_iam.create_user(UserName="sneaky")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        cloud.client("ec2", **kw).describe_regions()
    assert err.value.response["Error"]["Code"] == "UnauthorizedOperation"
    encoded = err.value.response["Error"]["Message"].split("message: ", 1)[1]
    decoded = json.loads(sts.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["context"]["action"] == "ec2:DescribeRegions"
    # a session policy narrows further
    narrow = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]})
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{cloud.account_id}:role/reader",
                            RoleSessionName="s2", Policy=narrow)["Credentials"]
    narrowed = cloud.client("iam", access_key=creds["AccessKeyId"],
                            secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    narrowed.list_roles()
    with pytest.raises(ClientError) as err:
        narrowed.list_users()
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=f"arn:aws:iam::{cloud.account_id}:role/reader",
                        RoleSessionName="s3", DurationSeconds=7200)
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_trust_policy_and_external_id(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    iam = cloud.client("iam")
    iam.create_role(RoleName="ext", AssumeRolePolicyDocument=_trust(
        cloud, StringEquals={"sts:ExternalId": "secret-42"}))
    iam.create_role(RoleName="svc", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    sts = cloud.client("sts")
    arn = f"arn:aws:iam::{cloud.account_id}:role/"
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=arn + "ext", RoleSessionName="x1")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    sts.assume_role(RoleArn=arn + "ext", RoleSessionName="x1", ExternalId="secret-42")
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=arn + "svc", RoleSessionName="x2")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=arn + "missing", RoleSessionName="x3")
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_expired_token_refused(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    props = cloud.client("properties", path="/services/Properties")
    # a lifetime long enough for the first call on a loaded machine, then wait it out
    props.modify_property_value(Name="tokens.max_lifetime_seconds", Value="8")
    try:
        creds = cloud.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    finally:
        props.modify_property_value(Name="tokens.max_lifetime_seconds", Reset=True)
    expires = creds["Expiration"].timestamp()
    assert expires - time.time() < 10  # capped by the property, not the 900 s asked for
    temp = cloud.client("sts", access_key=creds["AccessKeyId"],
                        secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    temp.get_caller_identity()
    time.sleep(max(0.0, expires - time.time()) + 1.0)
    with pytest.raises(ClientError) as err:
        temp.get_caller_identity()
    assert err.value.response["Error"]["Code"] == "ExpiredToken"


def test_federation_token(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:DescribeRegions", "Resource": "*"}]})
    out = cloud.client("sts").get_federation_token(Name="fed", Policy=policy)
    creds = out["Credentials"]
    assert out["FederatedUser"]["Arn"].endswith(":federated-user/fed")
    ec2 = cloud.client("ec2", access_key=creds["AccessKeyId"],
                       secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    ec2.describe_regions()
    with pytest.raises(ClientError) as err:
        ec2.describe_availability_zones()
    assert err.value.response["Error"]["Code"] == "UnauthorizedOperation"
