"""Policy evaluation conformance: every case is a real request through the server.

One user, one inline policy replaced per case; the user's keys call an API and
the case asserts allowed or denied. Table-driven: actions, resources,
NotAction/NotResource, explicit deny, every condition operator family, set
qualifiers, IfExists, policy variables and global condition keys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

ALLOW, DENY = True, False


def st(action: Any = "*", resource: Any = "*", effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    out = {"Effect": effect, "Resource": resource, **extra}
    if action is not None:
        out["Action"] = action
    if "NotAction" in extra or "NotResource" in extra:
        if "NotAction" in extra:
            out.pop("Action", None)
        if "NotResource" in extra:
            out.pop("Resource", None)
    return out


def cond(op: str, key: str, value: Any, action: str = "iam:ListUsers") -> list[dict[str, Any]]:
    return [st(action, Condition={op: {key: value}})]


# (id, statements, call name, expected)
CASES: list[tuple[str, list[dict[str, Any]], str, bool]] = [
    ("no-policy", [], "list_users", DENY),
    ("star", [st("*")], "list_users", ALLOW),
    ("exact", [st("iam:ListUsers")], "list_users", ALLOW),
    ("exact-other", [st("iam:ListUsers")], "list_groups", DENY),
    ("case-insensitive-action", [st("IAM:listusers")], "list_users", ALLOW),
    ("prefix-wild", [st("iam:List*")], "list_groups", ALLOW),
    ("prefix-wild-miss", [st("iam:Get*")], "list_groups", DENY),
    ("qmark", [st("iam:ListUser?")], "list_users", ALLOW),
    ("qmark-miss", [st("iam:ListUse?")], "list_users", DENY),
    ("service-wild", [st("iam:*")], "list_roles", ALLOW),
    ("other-service", [st("ec2:*")], "list_users", DENY),
    ("ec2-allowed", [st("ec2:Describe*")], "describe_regions", ALLOW),
    ("ec2-denied", [st("iam:*")], "describe_regions", DENY),
    ("action-list", [st(["iam:ListGroups", "iam:ListUsers"])], "list_users", ALLOW),
    ("notaction", [st(None, NotAction="iam:ListUsers")], "list_users", DENY),
    ("notaction-other", [st(None, NotAction="iam:ListUsers")], "list_groups", ALLOW),
    ("explicit-deny", [st("*"), st("iam:ListUsers", effect="Deny")], "list_users", DENY),
    ("deny-other", [st("*"), st("iam:ListGroups", effect="Deny")], "list_users", ALLOW),
    ("deny-wild", [st("*"), st("iam:List*", effect="Deny")], "list_roles", DENY),
    ("deny-notaction", [st("*"), st(None, effect="Deny", NotAction="iam:ListUsers")],
     "list_users", ALLOW),
    ("deny-notaction-2", [st("*"), st(None, effect="Deny", NotAction="iam:ListUsers")],
     "list_groups", DENY),
    ("resource-user", [st("iam:GetUser", "arn:aws:iam::{acct}:user/target")], "get_target",
     ALLOW),
    ("resource-user-other", [st("iam:GetUser", "arn:aws:iam::{acct}:user/other")],
     "get_target", DENY),
    ("resource-wild", [st("iam:GetUser", "arn:aws:iam::{acct}:user/t*")], "get_target", ALLOW),
    ("resource-other-acct", [st("iam:GetUser", "arn:aws:iam::000000000000:user/target")],
     "get_target", DENY),
    ("notresource", [st("iam:GetUser", None, NotResource="arn:aws:iam::{acct}:user/target")],
     "get_target", DENY),
    ("notresource-other", [st("iam:GetUser", None, NotResource="arn:aws:iam::{acct}:user/x")],
     "get_target", ALLOW),
    ("deny-resource", [st("*"), st("iam:GetUser", "arn:aws:iam::{acct}:user/target",
                                   effect="Deny")], "get_target", DENY),
    ("var-username", [st("iam:GetUser", "arn:aws:iam::{acct}:user/${aws:username}")],
     "get_self", ALLOW),
    ("var-username-other", [st("iam:GetUser", "arn:aws:iam::{acct}:user/${aws:username}")],
     "get_target", DENY),
    ("var-default", [st("iam:GetUser", "arn:aws:iam::{acct}:user/${aws:nokey, 'target'}")],
     "get_target", ALLOW),
    ("var-in-condition", cond("StringEquals", "aws:PrincipalArn",
                              "arn:aws:iam::${aws:PrincipalAccount}:user/conf"), "list_users",
     ALLOW),
    ("getcalleridentity-always", [], "caller", ALLOW),
    ("properties-denied", [st("*")], "properties", DENY),
]

# Condition operator families against global keys with known values.
_OPS: list[tuple[str, str, Any, bool]] = [
    ("StringEquals", "aws:username", "conf", ALLOW),
    ("StringEquals", "aws:username", "CONF", DENY),
    ("StringNotEquals", "aws:username", "bob", ALLOW),
    ("StringNotEquals", "aws:username", "conf", DENY),
    ("StringEqualsIgnoreCase", "aws:username", "CONF", ALLOW),
    ("StringNotEqualsIgnoreCase", "aws:username", "CONF", DENY),
    ("StringLike", "aws:username", "co*", ALLOW),
    ("StringLike", "aws:username", "c?nf", ALLOW),
    ("StringLike", "aws:username", "x*", DENY),
    ("StringNotLike", "aws:username", "x*", ALLOW),
    ("StringNotLike", "aws:username", "c*", DENY),
    ("StringEquals", "aws:username", ["a", "conf"], ALLOW),
    ("StringEquals", "aws:PrincipalType", "User", ALLOW),
    ("StringEquals", "aws:PrincipalAccount", "{acct}", ALLOW),
    ("StringEquals", "aws:PrincipalAccount", "000000000000", DENY),
    ("StringEquals", "aws:RequestedRegion", "eucalyptus", ALLOW),
    ("StringEquals", "aws:RequestedRegion", "us-east-1", DENY),
    ("StringEquals", "aws:PrincipalTag/team", "blue", ALLOW),
    ("StringEquals", "aws:PrincipalTag/team", "red", DENY),
    ("StringLike", "aws:userid", "AIDA*", ALLOW),
    ("NumericGreaterThan", "aws:EpochTime", "1000", ALLOW),
    ("NumericLessThan", "aws:EpochTime", "1000", DENY),
    ("NumericEquals", "aws:EpochTime", "1000", DENY),
    ("NumericNotEquals", "aws:EpochTime", "1000", ALLOW),
    ("NumericLessThanEquals", "aws:EpochTime", "99999999999", ALLOW),
    ("NumericGreaterThanEquals", "aws:EpochTime", "99999999999", DENY),
    ("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", ALLOW),
    ("DateLessThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", DENY),
    ("DateLessThanEquals", "aws:CurrentTime", "2999-01-01T00:00:00Z", ALLOW),
    ("DateGreaterThanEquals", "aws:CurrentTime", "2999-01-01T00:00:00Z", DENY),
    ("DateEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", DENY),
    ("DateNotEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", ALLOW),
    ("DateGreaterThan", "aws:EpochTime", "2020-01-01T00:00:00Z", ALLOW),
    ("Bool", "aws:SecureTransport", "false", ALLOW),
    ("Bool", "aws:SecureTransport", "true", DENY),
    ("Bool", "aws:SecureTransport", False, ALLOW),
    ("IpAddress", "aws:SourceIp", "127.0.0.0/8", ALLOW),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", DENY),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "127.0.0.1/32"], ALLOW),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", ALLOW),
    ("NotIpAddress", "aws:SourceIp", "127.0.0.0/8", DENY),
    ("IpAddress", "aws:SourceIp", "::1/128", DENY),
    ("ArnEquals", "aws:PrincipalArn", "arn:aws:iam::{acct}:user/conf", ALLOW),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:user/c*", ALLOW),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/*", DENY),
    ("ArnNotLike", "aws:PrincipalArn", "arn:aws:iam::*:role/*", ALLOW),
    ("ArnNotEquals", "aws:PrincipalArn", "arn:aws:iam::{acct}:user/conf", DENY),
    ("Null", "aws:PrincipalTag/missing", "true", ALLOW),
    ("Null", "aws:PrincipalTag/missing", "false", DENY),
    ("Null", "aws:username", "false", ALLOW),
    ("Null", "aws:username", "true", DENY),
    ("StringEquals", "aws:PrincipalTag/missing", "x", DENY),
    ("StringEqualsIfExists", "aws:PrincipalTag/missing", "x", ALLOW),
    ("StringEqualsIfExists", "aws:username", "bob", DENY),
    ("StringEqualsIfExists", "aws:username", "conf", ALLOW),
    ("NumericLessThanIfExists", "aws:nosuchkey", "5", ALLOW),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", ALLOW),
    ("Bool", "aws:MultiFactorAuthPresent", "true", DENY),
    ("IpAddressIfExists", "aws:SourceIp", "10.0.0.0/8", DENY),
    ("ArnLikeIfExists", "aws:SourceArn", "arn:aws:s3:::x", ALLOW),
    ("StringNotEquals", "aws:PrincipalTag/missing", "x", ALLOW),
    ("ForAnyValue:StringEquals", "aws:PrincipalTag/team", ["blue", "red"], ALLOW),
    ("ForAnyValue:StringEquals", "aws:PrincipalTag/team", ["red"], DENY),
    ("ForAllValues:StringEquals", "aws:PrincipalTag/team", ["blue", "red"], ALLOW),
    ("ForAllValues:StringEquals", "aws:PrincipalTag/missing", ["red"], ALLOW),
    ("ForAnyValue:StringEquals", "aws:PrincipalTag/missing", ["red"], DENY),
    ("ForAllValues:StringLike", "aws:username", ["c*"], ALLOW),
    ("ForAnyValue:StringLike", "aws:username", ["x*"], DENY),
]
for index, (op, key, value, expected) in enumerate(_OPS):
    CASES.append((f"op{index}-{op}-{key}", cond(op, key, value), "list_users", expected))

# Request tags (aws:RequestTag, aws:TagKeys) on TagUser of the target user.
_TAGS: list[tuple[str, str, Any, bool]] = [
    ("StringEquals", "aws:RequestTag/env", "dev", ALLOW),
    ("StringEquals", "aws:RequestTag/env", "prod", DENY),
    ("StringLike", "aws:RequestTag/env", "d*", ALLOW),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env", "owner"], ALLOW),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["owner"], DENY),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], ALLOW),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["cost"], DENY),
    ("Null", "aws:RequestTag/env", "false", ALLOW),
    ("Null", "aws:RequestTag/env", "true", DENY),
    ("StringNotEquals", "aws:RequestTag/env", "prod", ALLOW),
]
for index, (op, key, value, expected) in enumerate(_TAGS):
    CASES.append((f"tag{index}-{op}-{key}", cond(op, key, value, "iam:TagUser"), "tag_target",
                  expected))

# Multiple statements and policies: combinations.
CASES += [
    ("two-allows", [st("iam:ListGroups"), st("iam:ListUsers")], "list_users", ALLOW),
    ("allow-cond-fails-other-allows", cond("StringEquals", "aws:username", "x")
     + [st("iam:ListUsers")], "list_users", ALLOW),
    ("deny-cond-matches", [st("*")] + [st("iam:ListUsers", effect="Deny",
                                          Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1"}})],
     "list_users", DENY),
    ("deny-cond-misses", [st("*")] + [st("iam:ListUsers", effect="Deny",
                                         Condition={"IpAddress": {"aws:SourceIp": "10.0.0.1"}})],
     "list_users", ALLOW),
    ("two-conditions-and", [st("iam:ListUsers", Condition={
        "StringEquals": {"aws:username": "conf"}, "Bool": {"aws:SecureTransport": "true"}})],
     "list_users", DENY),
    ("two-keys-and", [st("iam:ListUsers", Condition={
        "StringEquals": {"aws:username": "conf", "aws:PrincipalType": "User"}})],
     "list_users", ALLOW),
    ("ec2-unauthorized-deny", [st("*"), st("ec2:DescribeRegions", effect="Deny")],
     "describe_regions", DENY),
    ("ec2-zones", [st("ec2:DescribeAvailabilityZones")], "describe_zones", ALLOW),
    ("ec2-zones-not-regions", [st("ec2:DescribeAvailabilityZones")], "describe_regions", DENY),
    ("sts-session-token", [st("sts:GetSessionToken")], "session_token", ALLOW),
    ("sts-session-token-denied", [st("iam:*")], "session_token", DENY),
    ("managed-readonly-style", [st(["iam:Get*", "iam:List*"])], "list_roles", ALLOW),
    ("managed-readonly-no-write", [st(["iam:Get*", "iam:List*"])], "tag_target", DENY),
]


@pytest.fixture(scope="module")
def conf(sqlite_cloud: LiveCloud) -> Iterator[dict[str, Any]]:
    iam = sqlite_cloud.client("iam")
    iam.create_user(UserName="conf", Tags=[{"Key": "team", "Value": "blue"}])
    iam.create_user(UserName="target")
    key = iam.create_access_key(UserName="conf")["AccessKey"]
    creds = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    yield {"iam": iam, "user_iam": sqlite_cloud.client("iam", **creds),
           "user_ec2": sqlite_cloud.client("ec2", **creds),
           "user_sts": sqlite_cloud.client("sts", **creds),
           "user_props": sqlite_cloud.client("properties", path="/services/Properties", **creds)}


def _calls(c: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    ui = c["user_iam"]
    return {
        "list_users": ui.list_users, "list_groups": ui.list_groups, "list_roles": ui.list_roles,
        "get_target": lambda: ui.get_user(UserName="target"),
        "get_self": lambda: ui.get_user(UserName="conf"),
        "tag_target": lambda: ui.tag_user(UserName="target", Tags=[
            {"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "me"}]),
        "describe_regions": c["user_ec2"].describe_regions,
        "describe_zones": c["user_ec2"].describe_availability_zones,
        "caller": c["user_sts"].get_caller_identity,
        "session_token": c["user_sts"].get_session_token,
        "properties": c["user_props"].describe_properties,
    }


DENIAL_CODES = {"AccessDenied", "UnauthorizedOperation"}


@pytest.mark.parametrize("name,statements,call,expected", CASES, ids=[c[0] for c in CASES])
def test_policy_case(sqlite_cloud: LiveCloud, conf: dict[str, Any], name: str,
                     statements: list[dict[str, Any]], call: str, expected: bool) -> None:
    iam = conf["iam"]
    text = json.dumps(statements).replace("{acct}", sqlite_cloud.account_id)
    if statements:
        iam.put_user_policy(UserName="conf", PolicyName="case", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": json.loads(text)}))
    else:
        try:
            iam.delete_user_policy(UserName="conf", PolicyName="case")
        except ClientError:
            pass
    try:
        _calls(conf)[call]()
        allowed = True
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        allowed = code not in DENIAL_CODES
    assert allowed is expected, name
    if call in SIMULATED:
        # the policy simulator decides the same request the same way
        action, resource, context = SIMULATED[call]
        acct = sqlite_cloud.account_id
        entries = [{"ContextKeyName": k, "ContextKeyValues": v if isinstance(v, list) else [v],
                    "ContextKeyType": "stringList" if isinstance(v, list) else "string"}
                   for k, v in {**_REQUEST_KEYS, **context}.items()]
        entries.append({"ContextKeyName": "aws:EpochTime", "ContextKeyType": "numeric",
                        "ContextKeyValues": [str(int(time.time()))]})
        entries.append({"ContextKeyName": "aws:CurrentTime", "ContextKeyType": "date",
                        "ContextKeyValues": [time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                           time.gmtime())]})
        result = iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{acct}:user/conf", ActionNames=[action],
            ResourceArns=[resource.replace("{acct}", acct)], ContextEntries=entries,
        )["EvaluationResults"][0]
        assert (result["EvalDecision"] == "allowed") is expected, (name, result)
        if not expected and any(s.get("Effect") == "Deny" for s in statements) \
                and result["MatchedStatements"]:
            assert result["EvalDecision"] == "explicitDeny", (name, result)


# what each call is, for the simulator: (action, resource, request condition keys)
SIMULATED: dict[str, tuple[str, str, dict[str, Any]]] = {
    "list_users": ("iam:ListUsers", "*", {}), "list_groups": ("iam:ListGroups", "*", {}),
    "list_roles": ("iam:ListRoles", "*", {}),
    "get_target": ("iam:GetUser", "arn:aws:iam::{acct}:user/target", {}),
    "get_self": ("iam:GetUser", "arn:aws:iam::{acct}:user/conf", {}),
    "get_self_2008": ("iam:GetUser", "arn:aws:iam::{acct}:user/conf", {}),
    "tag_target": ("iam:TagUser", "arn:aws:iam::{acct}:user/target",
                   {"aws:RequestTag/env": "dev", "aws:RequestTag/owner": "me",
                    "aws:TagKeys": ["env", "owner"]}),
    "describe_regions": ("ec2:DescribeRegions", "*", {}),
    "describe_zones": ("ec2:DescribeAvailabilityZones", "*", {}),
    "session_token": ("sts:GetSessionToken", "*", {}),
}
# what every real request of the suite carries (plain HTTP from loopback)
_REQUEST_KEYS: dict[str, Any] = {"aws:SourceIp": "127.0.0.1", "aws:SecureTransport": "false",
                                 "aws:RequestedRegion": "eucalyptus"}


def test_simulation_covers_cases() -> None:
    assert sum(1 for case in CASES if case[2] in SIMULATED) >= 120


def test_case_count() -> None:
    assert len(CASES) >= 100
