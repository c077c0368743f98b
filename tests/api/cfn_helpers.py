"""Helpers of the CloudFormation API tests: templates, waiting for a stack, events."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.support import LiveCloud

TERMINAL_SUFFIXES = ("_COMPLETE", "_FAILED")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def body(template: dict[str, Any]) -> str:
    return json.dumps(template)


def settle(cloud: LiveCloud, stack: str, timeout: float = 90) -> dict[str, Any]:
    """The stack once its status is no longer in progress."""
    cf = cloud.client("cloudformation")
    deadline = time.time() + timeout
    while True:
        found: dict[str, Any] = cf.describe_stacks(StackName=stack)["Stacks"][0]
        if not found["StackStatus"].endswith("IN_PROGRESS"):
            return found
        if time.time() > deadline:
            raise AssertionError(f"stack {stack} still {found['StackStatus']}")
        time.sleep(0.2)


def events(cloud: LiveCloud, stack: str) -> list[dict[str, Any]]:
    """The stack's events, oldest first."""
    cf = cloud.client("cloudformation")
    pages = cf.get_paginator("describe_stack_events").paginate(StackName=stack)
    found = [e for page in pages for e in page["StackEvents"]]
    return list(reversed(found))


def physical(cloud: LiveCloud, stack: str, logical: str) -> str:
    cf = cloud.client("cloudformation")
    detail = cf.describe_stack_resource(StackName=stack, LogicalResourceId=logical)
    return str(detail["StackResourceDetail"]["PhysicalResourceId"])
