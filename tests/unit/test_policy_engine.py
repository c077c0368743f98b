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


def _wildcard_reference(pattern: str, value: str, ignore_case: bool) -> bool:
    """The old regex translation, kept here only as the semantics to agree with."""
    import re

    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) \
        is not None


def test_wildcards_agree_with_the_regex_semantics() -> None:
    import random

    from cloudctl.services.iam.policy.wildcard import glob_match

    rng = random.Random(7)
    for _ in range(20000):
        pattern = "".join(rng.choice("ab*?") for _ in range(rng.randint(0, 7)))
        value = "".join(rng.choice("abAB*?") for _ in range(rng.randint(0, 8)))
        for ignore_case in (False, True):
            assert glob_match(pattern, value, ignore_case) == \
                _wildcard_reference(pattern, value, ignore_case), (pattern, value)


@pytest.mark.parametrize("pattern", [
    "arn:aws:s3:::b/*a*a*a*a*b", "arn:aws:s3:::b/" + "*a" * 900 + "*b",
    "arn:aws:s3:::b/*" + "a?" * 1500 + "b", "arn:aws:s3:::b/" + "?" * 4095 + "b",
    "arn:aws:s3:::b/" + "*a?" * 1200 + "b",
])
def test_wildcards_are_linear_on_a_4k_key(pattern: str) -> None:
    """A Resource and a StringLike condition with a hostile pattern against a 4 KiB key
    and a 4 KiB header value: answered well under 100 ms (the regexes took seconds)."""
    doc = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": pattern,
                "Condition": {"StringLike": {"aws:UserAgent": pattern[15:]}}},
               {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*",
                "Condition": {"ArnLike": {"aws:SourceArn": pattern}}})
    key = "a" * 4096
    request = _req(resource=f"arn:aws:s3:::b/{key}", **{"aws:UserAgent": key,
                                                         "aws:SourceArn": f"arn:aws:s3:::b/{key}"})
    evaluate(request, [doc])  # compiled once
    started = time.perf_counter()
    decision = evaluate(request, [doc])
    assert time.perf_counter() - started < 0.1
    assert decision.effect == "ImplicitDeny"


def test_substituted_variables_match_literally() -> None:
    """A user or session called ``a*`` (or a tag ``*``) matches only its own prefix."""
    doc = _doc({"Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::home/${aws:username}/*"},
               {"Effect": "Allow", "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::teams/${aws:PrincipalTag/team}/*"},
               {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::home",
                "Condition": {"StringLike": {"s3:prefix": "${aws:username}/*"}}},
               {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*",
                "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::${aws:username}"}}})

    def ask(action: str, resource: str, name: str, **context: object) -> bool:
        request = AuthzRequest(action=action, resources=[resource],
                               principal_arn=f"arn:aws:iam::{ACCT}:user/x",
                               principal_account=ACCT, principal_type="user",
                               context={"aws:username": name, **context})
        return evaluate(request, [doc]).allowed

    assert ask("s3:GetObject", "arn:aws:s3:::home/alice/doc", "alice")
    assert not ask("s3:GetObject", "arn:aws:s3:::home/alice/doc", "a*")
    assert not ask("s3:GetObject", "arn:aws:s3:::home/alice/doc", "**")
    assert not ask("s3:GetObject", "arn:aws:s3:::home/alice/doc", "?????")
    assert ask("s3:GetObject", "arn:aws:s3:::home/a*/doc", "a*")
    assert ask("s3:PutObject", "arn:aws:s3:::teams/red/x", "u", **{"aws:PrincipalTag/team": "red"})
    assert not ask("s3:PutObject", "arn:aws:s3:::teams/red/x", "u",
                   **{"aws:PrincipalTag/team": "*"})
    assert ask("s3:ListBucket", "arn:aws:s3:::home", "bob", **{"s3:prefix": "bob/x"})
    assert not ask("s3:ListBucket", "arn:aws:s3:::home", "*", **{"s3:prefix": "bob/x"})
    assert ask("s3:DeleteObject", "arn:aws:s3:::k", "u",
               **{"aws:SourceArn": "arn:aws:s3:::u"})
    assert not ask("s3:DeleteObject", "arn:aws:s3:::k", "?",
                   **{"aws:SourceArn": "arn:aws:s3:::u"})


def test_escapes_name_literal_characters() -> None:
    """``${*}``, ``${?}`` and ``${$}`` are a literal star, question mark and dollar."""
    doc = _doc({"Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/${*}${?}${$}/*"},
               {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
                "Condition": {"StringLike": {"s3:x-amz-acl": "${*}x"}}})
    assert evaluate(_req(resource="arn:aws:s3:::b/*?$/k"), [doc]).allowed
    assert not evaluate(_req(resource="arn:aws:s3:::b/ab$/k"), [doc]).allowed
    assert evaluate(_req("s3:PutObject", **{"s3:x-amz-acl": "*x"}), [doc]).allowed
    assert not evaluate(_req("s3:PutObject", **{"s3:x-amz-acl": "yx"}), [doc]).allowed


def test_compiled_policy_cache_is_bounded_in_text() -> None:
    from cloudctl.services.iam.policy import document

    big = _doc(*({"Sid": f"S{i}", "Effect": "Allow", "Action": "s3:GetObject",
                  "Resource": f"arn:aws:s3:::b/{i}/" + "x" * 400} for i in range(40)))
    for n in range(document.CACHE_BYTES // len(big) + 50):
        validate_policy(big.replace("\"Version\"", f"\"Id\":\"{n}\",\"Version\""))
    assert document._cache.size <= document.CACHE_BYTES
    assert len(document._cache.entries) <= document.CACHE_SIZE


def test_version_2008_documents_take_variables_literally() -> None:
    """IAM no longer stores identity policies of 2008-10-17 (``grammar``), but documents
    stored before, trust and bucket policies keep the old reading: no variables."""
    statement = {"Effect": "Allow", "Action": "iam:GetUser",
                 "Resource": f"arn:aws:iam::{ACCT}:user/${{aws:username}}"}
    old = json.dumps({"Version": "2008-10-17", "Statement": [statement]})
    req = AuthzRequest(action="iam:GetUser", resources=(f"arn:aws:iam::{ACCT}:user/alice",),
                       principal_arn=f"arn:aws:iam::{ACCT}:user/alice", principal_account=ACCT,
                       principal_type="user", context={"aws:username": "alice"})
    assert not evaluate(req, [old]).allowed
    assert evaluate(req, [_doc(statement)]).allowed
