"""EC2 ``Filter.N.Name`` / ``Filter.N.Value.M`` semantics shared by Describe calls.

Values of one filter are ORed, filters are ANDed, ``*`` and ``?`` are wildcards,
and an unknown filter name answers ``InvalidParameterValue`` as EC2 does.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from cloudctl.errors import AwsError

T = TypeVar("T")
Extractor = Callable[[T], Iterable[str]]


@lru_cache(maxsize=4096)
def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(value), re.DOTALL)


def matches(candidates: Iterable[str], values: list[str]) -> bool:
    for candidate in candidates:
        for value in values:
            if ("*" in value or "?" in value) and _pattern(value).match(candidate):
                return True
            if candidate == value:
                return True
    return False


def apply_filters(items: list[T], filters: list[dict[str, Any]] | None,
                  extractors: Mapping[str, Extractor[T]]) -> list[T]:
    """Keep the items that pass every filter."""
    if not filters:
        return items
    checks: list[tuple[Extractor[T], list[str]]] = []
    for flt in filters:
        name = flt.get("Name")
        if not name:
            raise AwsError("The filter 'null' is invalid", code="InvalidParameterValue")
        extractor = extractors.get(name)
        if extractor is None and name.startswith("tag:"):
            key = name[4:]
            tag_extractor = extractors.get("tag:")
            if tag_extractor is not None:
                def extractor(item: T, _key: str = key, _fn: Extractor[T] = tag_extractor) -> Iterable[str]:
                    return [v.split("=", 1)[1] for v in _fn(item) if v.split("=", 1)[0] == _key]
        if extractor is None:
            raise AwsError(f"The filter '{name}' is invalid", code="InvalidParameterValue")
        checks.append((extractor, list(flt.get("Values") or [])))
    return [item for item in items if all(matches(fn(item), vals) for fn, vals in checks)]
