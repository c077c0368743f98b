"""Shared pieces of the IAM providers: errors, names, ARNs, pagination, accounts, tags.

Owns AWS's IAM error vocabulary (NoSuchEntity 404, EntityAlreadyExists 409,
DeleteConflict 409, LimitExceeded 409, MalformedPolicyDocument 400,
ValidationError 400), Marker/MaxItems pagination exactly as AWS answers it, and
``IamBase``: the provider base that resolves the account a call acts on
(the caller's, or ``DelegateAccount`` for the cloud admin).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AccessDenied, AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider
from cloudctl.services.iam.models import Account
from cloudctl.services.iam.policy import PolicyError, validate_policy

T = TypeVar("T")

ACCESS_KEYS_LIMIT = registry.define(PropertyDef(
    "authentication.access_keys_limit", PropertyType.INTEGER, "2",
    "Most access keys one user (or account root) may have.", minimum=1, maximum=100,
))
INLINE_LIMITS = {"user": 2048, "group": 5120, "role": 10240}
MANAGED_LIMIT = 6144


def no_such_entity(message: str) -> AwsError:
    return AwsError(message, code="NoSuchEntity", status=404)


def already_exists(message: str) -> AwsError:
    return AwsError(message, code="EntityAlreadyExists", status=409)


def delete_conflict(message: str) -> AwsError:
    return AwsError(message, code="DeleteConflict", status=409)


def limit_exceeded(message: str) -> AwsError:
    return AwsError(message, code="LimitExceeded", status=409)


def validation(message: str) -> AwsError:
    return AwsError(message, code="ValidationError", status=400)


def malformed(message: str) -> AwsError:
    return AwsError(message, code="MalformedPolicyDocument", status=400)


def policy_size(text: str) -> int:
    """The size AWS counts against the IAM policy quotas: characters, whitespace left out."""
    return len("".join(text.split()))


def check_policy(text: str, kind: str, limit: int, managed: bool = False) -> None:
    """Validate a policy document on input as AWS does (LimitExceeded past the size
    quota, before parsing; MalformedPolicyDocument)."""
    if policy_size(text) > limit:
        if managed:
            raise limit_exceeded(f"Cannot exceed quota for PolicySize: {limit}")
        raise limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for this entity.")
    try:
        validate_policy(text, kind)  # type: ignore[arg-type]
    except PolicyError as exc:
        raise malformed(exc.message) from None


def check_path(path: str | None) -> str:
    path = path or "/"
    if not (path.startswith("/") and path.endswith("/")) or "//" in path:
        raise validation("The specified value for path is invalid. It must begin and end with "
                         "/ and contain only alphanumeric characters and/or / characters.")
    return path


def arn(account_id: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


def tags_out(tags_json: str) -> list[dict[str, str]]:
    return list(json.loads(tags_json or "[]"))


def invalid_input(message: str) -> AwsError:
    return AwsError(message, code="InvalidInput", status=400)


_TAG_TEXT = re.compile(r"[\w\s_.:/=+\-@]*", re.UNICODE)
MAX_TAGS = 50


def check_tag_keys(keys: Sequence[str]) -> None:
    """The keys of a tag or untag request as IAM accepts them (InvalidInput otherwise)."""
    for key in keys:
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise invalid_input("Tag keys must be between 1 and 128 characters long.")
        if not _TAG_TEXT.fullmatch(key):
            raise invalid_input(f"Tag key '{key}' contains invalid characters.")
        if key.lower().startswith("aws:"):
            raise invalid_input("User-defined tag keys cannot begin with the reserved prefix "
                                "'aws:'.")


def check_tags(new: Sequence[dict[str, str]]) -> None:
    """Tags of one request: keys and values valid, no key twice (case-insensitively)."""
    keys = [tag.get("Key", "") for tag in new]
    check_tag_keys(keys)
    for tag in new:
        value = tag.get("Value", "")
        if not isinstance(value, str) or len(value) > 256 or not _TAG_TEXT.fullmatch(value):
            raise invalid_input("Tag values must be at most 256 characters of letters, "
                                "digits, spaces and _.:/=+-@.")
    if len({k.lower() for k in keys}) != len(keys):
        raise invalid_input("Duplicate tag keys found. Please note that Tag keys are "
                            "case insensitive.")
    if len(keys) > MAX_TAGS:
        raise limit_exceeded("The number of tags has reached the maximum limit.")


def merge_tags(tags_json: str, new: Sequence[dict[str, str]]) -> str:
    """``tags_json`` with ``new`` added or overwritten, validated as IAM does."""
    check_tags(new)
    if not new and tags_json == "[]":  # nothing to merge: what is stored stays
        return tags_json
    replaced = {tag["Key"].lower() for tag in new}  # IAM tag keys ignore case
    current = {t["Key"]: t["Value"] for t in tags_out(tags_json)
               if t["Key"].lower() not in replaced}
    for tag in new:
        current[tag["Key"]] = tag.get("Value", "")
    if len(current) > MAX_TAGS:
        raise limit_exceeded("The number of tags has reached the maximum limit.")
    return json.dumps([{"Key": k, "Value": v} for k, v in current.items()])


def drop_tags(tags_json: str, keys: Sequence[str]) -> str:
    check_tag_keys(keys)
    gone = {key.lower() for key in keys}
    return json.dumps([t for t in tags_out(tags_json) if t["Key"].lower() not in gone])


def paginate(items: Sequence[T], params: dict[str, Any], key: Callable[[T], str],
             field: str) -> dict[str, Any]:
    """AWS Marker/MaxItems pagination over ``items`` already sorted by ``key``."""
    limit = 100 if params.get("MaxItems") is None else int(params["MaxItems"])
    if not 1 <= limit <= 1000:
        raise validation("1 validation error detected: Value at 'maxItems' failed to satisfy "
                         "constraint: Member must have value between 1 and 1000")
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except ValueError:
            raise validation("Invalid Marker.") from None
        while start < len(items) and key(items[start]) <= after:
            start += 1
    page = items[start:start + limit]
    out: dict[str, Any] = {field: page, "IsTruncated": start + limit < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = encode_marker(key(page[-1]))
    return out


def encode_marker(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_marker(params: dict[str, Any]) -> str | None:
    marker = params.get("Marker")
    if not marker:
        return None
    try:
        return base64.urlsafe_b64decode(str(marker).encode()).decode()
    except ValueError:
        raise validation("Invalid Marker.") from None


def max_items(params: dict[str, Any]) -> int:
    limit = 100 if params.get("MaxItems") is None else int(params["MaxItems"])
    if not 1 <= limit <= 1000:
        raise validation("1 validation error detected: Value at 'maxItems' failed to satisfy "
                         "constraint: Member must have value between 1 and 1000")
    return limit


def is_cloud_admin(ctx: RequestContext) -> bool:
    return bool(ctx.credential and ctx.credential.attributes.get("cloud_admin"))


class IamBase(Provider):
    """Base of the IAM providers: the account a call acts on, one session per call."""

    service = "iam"

    async def target_account(self, ctx: RequestContext, params: dict[str, Any],
                             session: AsyncSession) -> Account:
        delegate = params.get("DelegateAccount")
        if delegate:
            if not is_cloud_admin(ctx):
                raise AccessDenied("Only the cloud administrator may act on another account.")
            column = Account.account_id if delegate.isdigit() else Account.name
            account = (await session.execute(select(Account).where(column == delegate))
                       ).scalar_one_or_none()
            if account is None:
                raise no_such_entity(f"The account {delegate} cannot be found.")
            return account
        account_id = ctx.require_account()
        account = await session.get(Account, account_id)
        if account is None:
            raise no_such_entity("The caller's account no longer exists.")
        return account

    async def set_boundary(self, ctx: RequestContext, params: dict[str, Any],
                           entity: Callable[[AsyncSession, str], Awaitable[Any]],
                           policy_arn: str | None) -> None:
        """Put (an ARN) or delete (None) the permissions boundary of the user or role
        ``entity(session, account_id)`` finds; cached credentials in every worker learn it
        (they record whether a boundary applies)."""
        from cloudctl.services.iam.boundary import check_boundary
        from cloudctl.services.iam.credentials import bump_epoch

        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            found = await entity(session, account.account_id)
            found.permissions_boundary = (None if policy_arn is None else
                                          await check_boundary(session, account.account_id,
                                                               policy_arn))
            await bump_epoch(session)
        self.invalidate()

    def invalidate(self, access_key_id: str | None = None) -> None:
        """Drop cached credentials and compiled policy sets after an identity change."""
        store = self.cloud.credentials
        hook = getattr(store, "invalidate", None)
        if hook is not None:
            hook(access_key_id)
        authz = getattr(self.cloud, "authorizer", None)
        drop = getattr(authz, "invalidate", None)
        if drop is not None:
            drop()
