"""What the stack engine and the API read off a stack's record: the values of its
``NoEcho`` parameters and how events mask them, a resource's CreationPolicy signal
policy, the pseudo parameters its template sees, and the deadline of its operation.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from cloudctl.db.base import utcnow
from cloudctl.services.cloudformation.models import Stack

SECRET_KEYS = ("Password", "SecretAccessKey", "PrivateKey")


def secrets_of(stack: Stack) -> set[str]:
    """The values of the stack's ``NoEcho`` parameters."""
    found: set[str] = set()
    for name, spec in ((stack.template or {}).get("Parameters") or {}).items():
        if str(spec.get("NoEcho", "false")).lower() == "true":
            value = (stack.parameters or {}).get(name)
            found |= set(value) if isinstance(value, list) else {str(value)}
    return {v for v in found if v}


def masked(value: Any, secrets: set[str]) -> Any:
    """Resource properties as events show them: NoEcho values and passwords masked."""
    if isinstance(value, dict):
        return {k: "****" if k in SECRET_KEYS else masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "****")
    return value


SIGNAL_DEADLINE = "_SignalDeadline"
DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?")


def _policy(resource: dict[str, Any]) -> tuple[int, float] | None:
    signal = ((resource.get("CreationPolicy") or {}).get("ResourceSignal")) or None
    if not isinstance(signal, dict):
        return None
    found = DURATION.fullmatch(str(signal.get("Timeout") or "PT5M"))
    hours, minutes, seconds = (int(g or 0) for g in found.groups()) if found else (0, 5, 0)
    return int(signal.get("Count") or 1), float(hours * 3600 + minutes * 60 + seconds)


def signal_policy(stack: Stack, logical_id: str) -> tuple[int, float] | None:
    """A resource's CreationPolicy ResourceSignal: (count, timeout seconds)."""
    resource = ((stack.template or {}).get("Resources") or {}).get(logical_id) or {}
    return _policy(resource)


def pseudo(stack: Stack) -> dict[str, Any]:
    """The pseudo parameters (``AWS::Region``...) the stack's template sees."""
    return {"AWS::AccountId": stack.account_id, "AWS::Region": stack.region,
            "AWS::StackId": stack.stack_id, "AWS::StackName": stack.name,
            "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws",
            "AWS::NotificationARNs": list(stack.notification_arns or [])}


def deadline(minutes: int | None) -> datetime | None:
    """When an operation with a ``TimeoutInMinutes`` of ``minutes`` times out."""
    return utcnow() + timedelta(minutes=minutes) if minutes else None
