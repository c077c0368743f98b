"""The CORS wildcard matcher: glob semantics of ``*``, case-insensitive, linear time."""

from __future__ import annotations

import fnmatch
import itertools
import time

import pytest

from cloudctl.errors import AwsError
from cloudctl.services.s3.cors import match_rule, validate_rules, wildcard_match


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("*", "", True), ("*", "https://anything", True),
    ("http://*.example.org", "http://shop.EXAMPLE.org", True),
    ("http://*.example.org", "http://example.org", False),
    ("ab*ba", "aba", False), ("ab*ba", "abba", True), ("a*", "a", True),
    ("exact", "EXACT", True), ("exact", "exactly", False),
    ("*a*b*", "xxaxxbxx", True), ("*a*b*", "xxbxxaxx", False),
    ("a*a*a", "aaa", True), ("a*a*a", "aa", False),
])
def test_wildcard_match(pattern: str, value: str, expected: bool) -> None:
    assert wildcard_match(pattern, value) is expected


def test_agrees_with_fnmatch_on_every_short_case() -> None:
    """Exhaustive over patterns and values of a two-letter alphabet plus ``*``."""
    for size in range(5):
        for pattern in map("".join, itertools.product("ab*", repeat=size)):
            for length in range(6):
                for value in map("".join, itertools.product("ab", repeat=length)):
                    assert wildcard_match(pattern, value) == fnmatch.fnmatchcase(
                        value, pattern), (pattern, value)


def test_many_wildcards_and_long_values_stay_linear() -> None:
    rules = [{"AllowedOrigins": ["http://" + "*a" * 20 + "*.example"],
              "AllowedMethods": ["GET"], "AllowedHeaders": ["*-" * 20 + "*!"]}]
    started = time.perf_counter()
    for _ in range(10):
        assert match_rule(rules, "http://" + "a" * 65536, "GET", []) is None
        assert match_rule([{**rules[0], "AllowedOrigins": ["*"]}], "o", "GET",
                          ["-" * 65536]) is None
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("rules", "code"), [
    ([], "MalformedXML"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "MalformedXML"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["OPTIONS"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["**"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["a*b*"]}],
     "InvalidRequest"),
])
def test_validate_rules_refuses(rules: list[dict[str, object]], code: str) -> None:
    with pytest.raises(AwsError) as err:
        validate_rules(rules)  # type: ignore[arg-type]
    assert err.value.code == code
