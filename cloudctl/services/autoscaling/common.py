"""What every Auto Scaling module shares: AWS's errors, ARNs, the paging token, the
group lookup and the activity record."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.services.autoscaling.models import AsActivity, AsGroup
from cloudctl.services.paging import BadCursor, decode_cursor, encode_cursor, scope_of

T = TypeVar("T")


class ValidationError(AwsError):
    code = "ValidationError"
    status = 400


class AlreadyExists(AwsError):
    code = "AlreadyExists"
    status = 400


class ResourceInUse(AwsError):
    code = "ResourceInUse"
    status = 400


class ScalingActivityInProgress(AwsError):
    code = "ScalingActivityInProgress"
    status = 400


class LimitExceeded(AwsError):
    code = "LimitExceeded"
    status = 400


def where(ctx: RequestContext) -> tuple[str, str]:
    return ctx.require_account(), ctx.region


def arn(region: str, account: str, kind: str, *parts: str) -> str:
    return f"arn:aws:autoscaling:{region}:{account}:{kind}:{uuid.uuid4()}:" + ":".join(parts)


def loads(text: str) -> dict[str, Any]:
    value = json.loads(text or "{}")
    assert isinstance(value, dict)
    return value


def dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def name(params: dict[str, Any], member: str, *, required: bool = True) -> str:
    value = params.get(member)
    if value is None or value == "":
        if required:
            raise ValidationError(f"1 validation error detected: Value null at '{member[0].lower()}"
                                  f"{member[1:]}' failed to satisfy constraint: Member must "
                                  f"not be null")
        return ""
    text = str(value)
    if len(text) > 255:
        raise ValidationError(f"1 validation error detected: Value '{text}' at "
                              f"'{member[0].lower()}{member[1:]}' failed to satisfy constraint: "
                              f"Member must have length less than or equal to 255")
    return text


def window(operation: str, params: dict[str, Any], default: int = 50,
           maximum: int = 100) -> tuple[int, Any, str]:
    """A call's validated ``MaxRecords`` and the key its ``NextToken`` resumes after
    (None on the first page), and the scope the next token is bound to."""
    limit = params.get("MaxRecords")
    size = default if limit is None else int(limit)
    if size < 1 or size > maximum:
        raise ValidationError(f"1 validation error detected: Value '{limit}' at 'maxRecords' "
                              f"failed to satisfy constraint: Member must have value less "
                              f"than or equal to {maximum}" if size > maximum else
                              f"1 validation error detected: Value '{limit}' at 'maxRecords' "
                              f"failed to satisfy constraint: Member must have value greater "
                              f"than or equal to 1")
    scope = scope_of(operation, {k: v for k, v in params.items() if k != "MaxRecords"})
    token = params.get("NextToken")
    if not token:
        return size, None, scope
    try:
        return size, decode_cursor(str(token), scope), scope
    except BadCursor:
        raise AwsError("The token is invalid.", code="InvalidNextToken") from None


def page(operation: str, params: dict[str, Any], items: Sequence[T], key: Any,
         default: int = 50, maximum: int = 100) -> tuple[list[T], str | None]:
    """``MaxRecords``/``NextToken`` over ``items`` (sorted by ``key``)."""
    size, after, scope = window(operation, params, default, maximum)
    start = 0
    if after is not None:
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    chunk = list(items[start:start + size])
    more = start + size < len(items)
    return chunk, (encode_cursor(key(chunk[-1]), scope) if more and chunk else None)


async def find_group(session: AsyncSession, account: str, region: str,
                     group_name: str) -> AsGroup | None:
    """A group by name or by ARN (every operation naming a group takes both)."""
    column = AsGroup.arn if group_name.startswith("arn:") else AsGroup.name
    return (await session.execute(select(AsGroup).where(
        AsGroup.account_id == account, AsGroup.region == region,
        column == group_name))).scalar_one_or_none()


async def group_or_error(session: AsyncSession, account: str, region: str,
                         group_name: str) -> AsGroup:
    group = await find_group(session, account, region, group_name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup "
                              f"{group_name} not found")
    return group


def activity(session: AsyncSession, group: AsGroup, description: str, cause: str, *,
             status: str = "InProgress", details: dict[str, Any] | None = None,
             at: datetime | None = None) -> AsActivity:
    """Record a scaling activity (``Cause`` in AWS's words, with its time)."""
    now = at or utcnow()
    row = AsActivity(activity_id=str(uuid.uuid4()), account_id=group.account_id,
                     region=group.region, group_name=group.name, group_arn=group.arn,
                     description=description, cause=cause, status_code=status,
                     progress=100 if status in ("Successful", "Failed", "Cancelled") else 0,
                     details=dumps(details or {}), started_at=now,
                     ended_at=now if status in ("Successful", "Failed", "Cancelled") else None)
    session.add(row)
    return row


def stamp(at: datetime) -> str:
    """AWS's time in causes: ``2026-12-05T00:20:01Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
