"""MaxResults/NextToken pagination for the EC2 Describe calls: one set of rules, one token.

``BOUNDS`` holds each paginated operation's ``MaxResults`` range. Most calls refuse a
value outside it; the EBS Describe calls (``clamp``) refuse a value below the minimum and
serve one above the maximum as the maximum, as AWS documents ("if MaxResults is given a
value larger than 500, only 500 items are returned"; the AWS CLI v2 sends 1000).

The token is opaque: URL-safe base64 (no padding) of ``[version, scope, last key]``.
``last key`` is the sort key of the last item served (keyset pagination: the next page
starts strictly after it, found by bisection, so page N costs what page 1 does and items
added or removed meanwhile never shift the pages). ``scope`` is a digest of the operation
and every request parameter except ``MaxResults``/``NextToken``/``DryRun``: a token
minted by another operation or for other filters does not resume this query and is
refused with the operation's token error (``InvalidNextToken`` today).

``encode_cursor``/``decode_cursor`` are the encoder; other services with their own wire
semantics (IAM ``Marker``, S3 ``ContinuationToken``) may share it.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cloudctl.errors import AwsError

T = TypeVar("T")

_VERSION = 1
_UNBOUND = frozenset({"MaxResults", "NextToken", "DryRun"})
_EC2_TOKEN = "The token '{token}' is invalid."
_EBS_TOKEN = "The pagination token is invalid."


@dataclass(frozen=True)
class Bounds:
    """One operation's ``MaxResults`` rule and its answer to a bad token."""

    minimum: int
    maximum: int
    clamp: bool = False  # above ``maximum``: serve ``maximum`` (EBS) instead of refusing
    token_message: str = _EC2_TOKEN  # ``{token}`` is the token as sent
    token_code: str = "InvalidNextToken"


BOUNDS: dict[str, Bounds] = {
    "DescribeInstances": Bounds(5, 1000),
    "DescribeInstanceStatus": Bounds(5, 1000),
    "DescribeInstanceTypes": Bounds(5, 100),
    "DescribeImages": Bounds(5, 1000),
    "DescribeTags": Bounds(5, 1000),
    "DescribeSecurityGroups": Bounds(5, 1000),
    "DescribeSecurityGroupRules": Bounds(5, 1000),
    "DescribeVolumes": Bounds(5, 500, clamp=True, token_message=_EBS_TOKEN),
    "DescribeVolumesModifications": Bounds(1, 500, clamp=True, token_message=_EBS_TOKEN),
    "DescribeVolumeStatus": Bounds(5, 1000, clamp=True, token_message=_EBS_TOKEN),
    "DescribeSnapshots": Bounds(5, 1000, clamp=True, token_message=_EBS_TOKEN),
    "DescribeLaunchTemplates": Bounds(1, 200),
    "DescribeLaunchTemplateVersions": Bounds(1, 200),
    # VPC (cloudctl.services.ec2.vpc)
    "DescribeVpcs": Bounds(5, 1000),
    "DescribeSubnets": Bounds(5, 1000),
    "DescribeRouteTables": Bounds(5, 100),
    "DescribeInternetGateways": Bounds(5, 1000),
    "DescribeNatGateways": Bounds(5, 1000),
    "DescribeNetworkAcls": Bounds(5, 1000),
    "DescribeDhcpOptions": Bounds(5, 1000),
    "DescribeNetworkInterfaces": Bounds(5, 1000),
    "DescribeVpcPeeringConnections": Bounds(5, 1000),
}


class BadCursor(ValueError):
    """A token that does not decode, or was minted for another scope."""


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists), so keys compare alike."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def encode_cursor(key: Any, scope: str = "") -> str:
    """The opaque token resuming after ``key`` within ``scope``."""
    raw = json.dumps([_VERSION, scope, _plain(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, scope: str = "") -> Any:
    """The key ``token`` resumes after; ``BadCursor`` unless minted for ``scope``."""
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode())
        version, minted_for, key = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise BadCursor(token) from None
    if version != _VERSION or minted_for != scope:
        raise BadCursor(token)
    return key


def scope_of(operation: str, params: dict[str, Any]) -> str:
    """The digest a token is bound to: the operation and the query's parameters."""
    query = {k: v for k, v in params.items() if k not in _UNBOUND}
    text = json.dumps([operation, query], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class PageRequest:
    """A validated ``MaxResults``/``NextToken`` pair of one call.

    ``cursor`` is the last key served before (None on the first page); a provider may
    push ``key > cursor`` into its query, ``page`` applies it in any case."""

    operation: str
    bounds: Bounds
    limit: int | None
    cursor: Any
    scope: str
    token: str | None

    @classmethod
    def of(cls, operation: str, params: dict[str, Any]) -> PageRequest:
        bounds = BOUNDS[operation]
        limit = check_max_results(params.get("MaxResults"), bounds)
        scope = scope_of(operation, params)
        sent = params.get("NextToken")
        token = str(sent) if sent else None
        cursor = None
        if token is not None:
            try:
                cursor = decode_cursor(token, scope)
            except BadCursor:
                raise cls._bad_token(bounds, token) from None
        return cls(operation, bounds, limit, cursor, scope, token)

    @staticmethod
    def _bad_token(bounds: Bounds, token: str) -> AwsError:
        return AwsError(bounds.token_message.format(token=token), code=bounds.token_code)

    def page(self, items: Sequence[T], key: Callable[[T], Any]) -> tuple[list[T], str | None]:
        """This page of ``items`` and the token of the next one (None: last page).

        Without MaxResults nor NextToken the items come back as given; otherwise in
        ``key`` order (a stable sort, free when they already are)."""
        if self.limit is None and self.token is None:
            return list(items), None
        keys = [_plain(key(item)) for item in items]
        try:
            if any(a > b for a, b in zip(keys, keys[1:], strict=False)):
                order = sorted(range(len(items)), key=keys.__getitem__)
                items = [items[i] for i in order]
                keys = [keys[i] for i in order]
            start = 0 if self.token is None else bisect.bisect_right(keys, self.cursor)
        except TypeError:  # a cursor of another shape than this query's keys
            raise self._bad_token(self.bounds, self.token or "") from None
        if self.limit is None:
            return list(items[start:]), None
        end = start + self.limit
        page = list(items[start:end])
        if end < len(items) and page:
            return page, encode_cursor(keys[end - 1], self.scope)
        return page, None


def check_max_results(value: Any, bounds: Bounds) -> int | None:
    """``MaxResults`` under ``bounds`` (None when absent)."""
    if value is None:
        return None
    number = int(value)
    if number < bounds.minimum or (number > bounds.maximum and not bounds.clamp):
        raise AwsError(f"Value ( {number} ) for parameter maxResults is invalid. Parameter "
                       f"must be between {bounds.minimum} and {bounds.maximum}.",
                       code="InvalidParameterValue")
    return min(number, bounds.maximum)


def paginate(operation: str, params: dict[str, Any], items: Sequence[T],
             key: Callable[[T], Any]) -> tuple[list[T], str | None]:
    """One page of ``items`` for ``operation`` under ``params``, and the next token."""
    return PageRequest.of(operation, params).page(items, key)

