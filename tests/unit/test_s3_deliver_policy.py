"""Which bucket policies let a cloud service deliver an object (ELB access logs):
``cloudctl.services.s3.api.policy_allows_put``."""

from __future__ import annotations

import json
from typing import Any

from cloudctl.services.s3.api import policy_allows_put

SVC = "logdelivery.elasticloadbalancing.amazonaws.com"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(**over: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Service": SVC}, "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs/web/AWSLogs/123456789012/*", **over}


KEY = "web/AWSLogs/123456789012/elasticloadbalancing/r/2026/01/01/x.log"


def test_allowed_for_the_principal_action_and_prefix() -> None:
    assert policy_allows_put(_policy(_allow()), "logs", KEY, [SVC])
    assert policy_allows_put(_policy(_allow(Action=["s3:*"])), "logs", KEY, [SVC])
    assert policy_allows_put(_policy(_allow(Principal={"AWS": "arn:aws:iam::1:root"})),
                             "logs", KEY, [SVC, "arn:aws:iam::1:root"])


def test_refused_otherwise() -> None:
    assert not policy_allows_put(None, "logs", KEY, [SVC])
    assert not policy_allows_put("not json", "logs", KEY, [SVC])
    assert not policy_allows_put(_policy(_allow()), "logs", "other/" + KEY, [SVC])
    assert not policy_allows_put(_policy(_allow()), "other", KEY, [SVC])
    assert not policy_allows_put(_policy(_allow(Principal={"Service": "s3.amazonaws.com"})),
                                 "logs", KEY, [SVC])
    assert not policy_allows_put(_policy(_allow(Action="s3:GetObject")), "logs", KEY, [SVC])
    assert not policy_allows_put(_policy(_allow(), _allow(Effect="Deny")), "logs", KEY,
                                 [SVC])
