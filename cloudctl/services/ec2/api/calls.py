"""What the functions of EC2's public API share: the call of an operation as a caller,
its tag specifications, and what "not found" answers look like."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

Tags = list[dict[str, str]]


def tag_specs(resource_type: str, tags: Tags) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tags}] if tags else []


async def ec2_call(cloud: Cloud, caller: Caller, operation: str,
                   params: dict[str, Any]) -> dict[str, Any]:
    return await call(cloud, caller, "ec2", operation, params)


def not_found(error: AwsError) -> bool:
    return error.code.endswith(".NotFound") or error.code.endswith("NotFound")
