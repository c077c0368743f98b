"""MaxResults/NextToken pagination shared by the compute Describe calls.

The token is an opaque, URL-safe encoding of the sort key of the last item
returned; a page resumes strictly after it, so concurrent inserts never repeat or
skip items that sort before the cursor. A token that does not decode answers
``InvalidNextToken`` (EC2's ``InvalidParameterValue`` variant for tokens).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cloudctl.errors import AwsError

T = TypeVar("T")


def _encode(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> Any:
    try:
        padded = token + "=" * (-len(token) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise AwsError(f"The token '{token}' is invalid.", code="InvalidNextToken") from None


def check_max_results(value: Any, minimum: int = 5, maximum: int = 1000) -> int | None:
    """The MaxResults parameter, validated as EC2 does (None when absent)."""
    if value is None:
        return None
    number = int(value)
    if number < minimum or number > maximum:
        raise AwsError(f"Value ( {number} ) for parameter maxResults is invalid. Parameter "
                       f"must be between {minimum} and {maximum}.", code="InvalidParameterValue")
    return number


def paginate(items: Sequence[T], params: dict[str, Any], key: Callable[[T], Any],
             minimum: int = 5, maximum: int = 1000) -> tuple[list[T], str | None]:
    """One page of ``items`` (already sorted by ``key``) and the next token, if any."""
    limit = check_max_results(params.get("MaxResults"), minimum, maximum)
    token = params.get("NextToken")
    start = 0
    if token:
        cursor = _decode(str(token))
        start = len(items)
        for index, item in enumerate(items):
            if _after(key(item), cursor):
                start = index
                break
    if limit is None:
        return list(items[start:]), None
    page = list(items[start:start + limit])
    more = start + limit < len(items)
    return page, (_encode(key(page[-1])) if more and page else None)


def _after(item_key: Any, cursor: Any) -> bool:
    if isinstance(item_key, tuple):
        item_key = list(item_key)
    try:
        return bool(item_key > cursor)
    except TypeError:
        return bool(json.dumps(item_key) > json.dumps(cursor))
