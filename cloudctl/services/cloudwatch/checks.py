"""Input checks shared by CloudWatch's operations, with AWS's error codes and messages
(``InvalidParameterValue``, ``InvalidParameterCombination``, ``MissingParameter``)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cloudctl.errors import InvalidParameterValue, MissingParameter

UNITS = frozenset((
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
    "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
    "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
    "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
    "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"))
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
LIMIT = 2.0 ** 360
MAX_DIMENSIONS = 30


def invalid(name: str, value: Any, why: str = "") -> InvalidParameterValue:
    text = f"The value {value} for parameter {name} is invalid."
    return InvalidParameterValue(f"{text} {why}".strip())


def given(params: dict[str, Any], key: str, default: Any) -> Any:
    """``params[key]``, or ``default`` only when absent (0 is a value to check)."""
    value = params.get(key)
    return default if value is None else value


def text(params: dict[str, Any], key: str, where: str, *, required: bool = True,
         low: int = 1, high: int = 255) -> str | None:
    value = params.get(key)
    if value is None:
        if required:
            raise MissingParameter(f"The parameter {where} is required.")
        return None
    value = str(value)
    if not low <= len(value) <= high:
        raise invalid(where, value, f"It must be between {low} and {high} characters long.")
    return value


def number(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise invalid(where, value) from exc
    if math.isnan(out) or math.isinf(out) or abs(out) > LIMIT or \
            (out != 0 and abs(out) < 1.0 / LIMIT):
        raise InvalidParameterValue(f"The value {value} for parameter {where} is invalid.")
    return out


def unit(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if str(value) not in UNITS:
        raise InvalidParameterValue(
            f"The value {value} for parameter {where} is not a valid unit.")
    return str(value)


def dimensions(items: Sequence[dict[str, Any]] | None, where: str, *,
               values_required: bool = True) -> tuple[tuple[str, str | None], ...]:
    """``Dimensions`` as (name, value) pairs, checked (value None: a filter without one)."""
    if not items:
        return ()
    items = list(items)
    if len(items) > MAX_DIMENSIONS:
        raise InvalidParameterValue(
            f"The collection {where} must not have a size greater than {MAX_DIMENSIONS}.")
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for i, item in enumerate(items, 1):
        name, value = item.get("Name"), item.get("Value")
        # the common case checked inline; the messages are built only for an error
        if not (isinstance(name, str) and 1 <= len(name) <= 255):
            name = text(item, "Name", f"{where}.member.{i}.Name")
        if not (isinstance(value, str) and 1 <= len(value) <= 1024):
            value = text(item, "Value", f"{where}.member.{i}.Value",
                         required=values_required, high=1024)
        assert name is not None
        if name in seen:
            raise InvalidParameterValue(
                f"No Metric may specify the same dimension name twice: {name}.")
        seen.add(name)
        out.append((name, value))
    return tuple(out)


def full_dimensions(items: Sequence[dict[str, Any]] | None,
                    where: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, v or "") for k, v in dimensions(items, where))


def when(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime):
        raise invalid(where, value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def period(value: Any, where: str = "Period") -> int:
    if value is None:
        raise MissingParameter(f"The parameter {where} is required.")
    p = int(value)
    if p < 1:
        raise InvalidParameterValue(f"The parameter {where} must be greater than 0.")
    if p < 60 and p not in (1, 5, 10, 20, 30):
        raise InvalidParameterValue(
            f"The parameter {where} must be 1, 5, 10, 20, 30, or a multiple of 60.")
    if p >= 60 and p % 60:
        raise InvalidParameterValue(f"The parameter {where} must be a multiple of 60.")
    return p


def statistic_names(stats: Sequence[str] | None, extended: Sequence[str] | None) -> list[str]:
    from cloudctl.services.cloudwatch.stats import is_percentile

    stats = list(stats or [])
    extended = list(extended or [])
    if not stats and not extended:
        raise MissingParameter("Must specify either Statistics or ExtendedStatistics.")
    if len(stats) > 5:
        raise InvalidParameterValue(
            "The collection Statistics must not have a size greater than 5.")
    if len(extended) > 10:
        raise InvalidParameterValue(
            "The collection ExtendedStatistics must not have a size greater than 10.")
    for i, s in enumerate(stats, 1):
        if s not in STATISTICS:
            raise invalid(f"Statistics.member.{i}", s)
    for s in extended:
        if not is_percentile(s):
            raise InvalidParameterValue(
                f"The value {s} for parameter ExtendedStatistics is not supported.")
    return stats + extended


ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
