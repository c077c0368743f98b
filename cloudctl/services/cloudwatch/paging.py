"""CloudWatch's NextToken: an opaque offset bound to a digest of the call's other
parameters (a token from another call or other filters answers ``InvalidNextToken``)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cloudctl.errors import AwsError

SKIP = ("NextToken", "MaxRecords", "MaxDatapoints", "MaxResults")


class InvalidNextToken(AwsError):
    code = "InvalidNextToken"
    status = 400


def _digest(operation: str, params: dict[str, Any]) -> str:
    kept = {k: v for k, v in params.items() if k not in SKIP}
    text = json.dumps([operation, kept], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make(operation: str, params: dict[str, Any], offset: int) -> str:
    raw = json.dumps({"o": offset, "d": _digest(operation, params)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def offset(operation: str, params: dict[str, Any]) -> int:
    token = params.get("NextToken")
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        value = int(data["o"])
        good = data["d"] == _digest(operation, params) and value >= 0
    except (ValueError, KeyError, TypeError):
        good = False
    if not good:
        raise InvalidNextToken("The service cannot find the specified token.")
    return value
