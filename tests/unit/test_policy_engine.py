"""The policy engine without a server: validation messages, evaluation logic, speed."""

from __future__ import annotations

import json
import time

import pytest

from cloudctl.services.iam.model_extras import EXTRAS_PATH, render
from cloudctl.services.iam.policy import (
    AuthzRequest,
    PolicyError,
    PolicySet,
    evaluate,
    validate_policy,
)

ACCT = "123456789012"


def _req(action: str = "s3:GetObject", resource: str = "arn:aws:s3:::b/k",
         **context: object) -> AuthzRequest:
    return AuthzRequest(action=action, resources=[resource],
                        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
                        principal_account=ACCT, principal_type="user",
                        context={"aws:username": "alice", **context})


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize("doc,kind,message", [
    ("{", "identity", "Syntax errors in policy."),
    (_doc({"Effect": "Allow", "Resource": "*"}), "identity", "Policy statement must contain actions."),
    (_doc({"Effect": "Allow", "Action": "s3:*"}), "identity", "Policy statement must contain resources."),
    (_doc({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}), "identity", "Invalid effect: Maybe"),
    (_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}), "identity",
     "Policy document should not specify a principal."),
    (_doc({"Effect": "Allow", "Action": "nope", "Resource": "*"}), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}), "identity",
     'Resource bucket must be in ARN format or "*".'),
    (_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
           "Condition": {"StringEqualz": {"a:b": "c"}}}), "identity",
     "Invalid Condition type : StringEqualz"),
    (json.dumps({"Version": "2099-01-01", "Statement": []}), "identity",
     "The policy failed legacy parsing"),
    (_doc({"Sid": "a", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
          {"Sid": "a", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}), "identity",
     "Statement IDs (SID) in a single policy must be unique."),
    (_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), "resource",
     "Missing required field Principal"),
])
def test_validation_messages(doc: str, kind: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        validate_policy(doc, kind)  # type: ignore[arg-type]
    assert err.value.message == message


def test_cross_account_needs_both() -> None:
    bucket = _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                   "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    allow = _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    req = _req()
    assert evaluate(req, [], bucket, resource_account="999999999999").effect == "ImplicitDeny"
    assert evaluate(req, [allow], bucket, resource_account="999999999999").allowed
    assert evaluate(req, [], bucket, resource_account=ACCT).allowed
    deny = _doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})
    assert evaluate(req, [allow], deny, resource_account=ACCT).effect == "Deny"


def test_session_policy_intersects() -> None:
    allow = _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    session = _doc({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})
    assert not evaluate(_req(), [allow], session_policies=[session]).allowed
    assert evaluate(_req("s3:PutObject"), [allow], session_policies=[session]).allowed


def test_model_extras_file_is_current() -> None:
    assert EXTRAS_PATH.read_text() == render()


def test_authorisation_under_budget() -> None:
    """10 attached policies of 10 statements each: < 0.2 ms per decision."""
    docs = [_doc(*[{"Effect": "Allow", "Action": [f"ec2:Describe{p}{s}*", f"s3:Get{p}{s}"],
                    "Resource": f"arn:aws:s3:::bucket{p}{s}/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
                   for s in range(10)]) for p in range(10)]
    policies = PolicySet(docs)
    n = 2000
    started = time.perf_counter()
    for i in range(n):
        req = _req("s3:GetObject" if i % 2 else "ec2:DescribeInstances",
                   "arn:aws:s3:::bucket99/key", **{"aws:SourceIp": "10.1.2.3"})
        evaluate(req, policies)
    per_call = (time.perf_counter() - started) / n
    assert per_call < 0.0002, per_call
