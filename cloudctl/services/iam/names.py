"""What names and tags identities may carry, checked as AWS checks them.

User and role names, role session names, federated user names and source
identities take ``[\\w+=,.@-]`` (ASCII word characters: no wildcards, spaces or
control characters, so a name cannot act as a policy wildcard or forge a log line);
session tags take AWS's tag alphabet (letters, numbers, separators and
``_.:/=+-@``), at most 50, keys unique case-insensitively and not ``aws:``.
Failures are ``ValidationError`` (400) worded like AWS, without echoing the value.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from cloudctl.errors import AwsError

NAME_PATTERN = r"[\w+=,.@-]"
_NAME_RE = re.compile(r"[A-Za-z0-9_+=,.@-]*")
_EXTERNAL_ID_RE = re.compile(r"[A-Za-z0-9_+=,.@:/-]*")
_TAG_EXTRA = frozenset("_.:/=+-@")
MAX_SESSION_TAGS = 50


def _invalid(field: str, constraint: str) -> AwsError:
    return AwsError(f"1 validation error detected: Value at '{field}' failed to satisfy "
                    f"constraint: {constraint}", code="ValidationError", status=400)


def check_name(value: Any, field: str, low: int, high: int,
               regex: re.Pattern[str] = _NAME_RE, pattern: str = NAME_PATTERN + "*") -> str:
    """``value`` if it is a string of ``low``..``high`` characters of the name alphabet."""
    if not isinstance(value, str):
        raise _invalid(field, "Member must not be null")
    if not low <= len(value) <= high:
        raise _invalid(field, f"Member must have length between {low} and {high}")
    if regex.fullmatch(value) is None:
        raise _invalid(field, f"Member must satisfy regular expression pattern: {pattern}")
    return value


def check_user_name(value: Any, field: str = "userName") -> str:
    return check_name(value, field, 1, 64, pattern=NAME_PATTERN + "+")


def check_session_name(value: Any, field: str = "roleSessionName") -> str:
    return check_name(value, field, 2, 64)


def check_federated_name(value: Any) -> str:
    return check_name(value, "name", 2, 32)


def check_external_id(value: Any) -> str:
    return check_name(value, "externalId", 2, 1224, _EXTERNAL_ID_RE, r"[\w+=,.@:\/-]*")


def _tag_text(text: str) -> bool:
    return all(ch in _TAG_EXTRA or unicodedata.category(ch)[0] in "LZN" for ch in text)


def check_session_tags(tags: Any) -> dict[str, str]:
    """Session tags (``[{"Key", "Value"}]``) as a dict, validated as STS validates them."""
    if not tags:
        return {}
    if not isinstance(tags, list) or len(tags) > MAX_SESSION_TAGS:
        raise _invalid("tags", f"Member must have length less than or equal to "
                       f"{MAX_SESSION_TAGS}")
    out: dict[str, str] = {}
    seen: set[str] = set()
    for index, tag in enumerate(tags, 1):
        key = tag.get("Key") if isinstance(tag, dict) else None
        value = tag.get("Value") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not _tag_text(key):
            raise _invalid(f"tags.{index}.member.key", "Member must have length between 1 "
                           "and 128 and satisfy regular expression pattern: "
                           r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")
        if not isinstance(value, str) or len(value) > 256 or not _tag_text(value):
            raise _invalid(f"tags.{index}.member.value", "Member must have length less than "
                           "or equal to 256 and satisfy regular expression pattern: "
                           r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")
        if key.lower().startswith("aws:"):
            raise AwsError("Tag keys beginning with 'aws:' are reserved for AWS use.",
                           code="ValidationError", status=400)
        if key.lower() in seen:
            raise AwsError("Duplicate tag keys found. Please note that Tag keys are case "
                           "insensitive.", code="InvalidParameterValue", status=400)
        seen.add(key.lower())
        out[key] = value
    return out
