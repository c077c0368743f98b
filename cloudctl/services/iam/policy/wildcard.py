"""Policy wildcards (``*`` any run, ``?`` one character) matched in linear time.

Every wildcard of the policy language (Action, Resource, StringLike, ArnLike...)
goes through ``Glob``: no regular expressions, so no backtracking. A pattern is
a sequence of tokens: literal text, ``STAR`` and ``ONE``. Without ``?`` the
literal runs between stars are found in order with ``str.find`` (leftmost is
always right for star-separated runs); with ``?`` the pattern runs as a
bit-parallel NFA (one big-integer step per character of the value). Either way
the time is linear in the value, whatever the pattern.

Literal tokens come from substituted policy variables too (``Glob.build``): a
``*`` inside a user name or tag value is a star character, never a wildcard.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Final


class _Wild:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STAR: Final = _Wild("STAR")
ONE: Final = _Wild("ONE")
Token = str | _Wild


def tokens_of(pattern: str) -> list[Token]:
    """``*`` and ``?`` of ``pattern`` as wildcards, every other character literal."""
    out: list[Token] = []
    start = 0
    for index, char in enumerate(pattern):
        if char in "*?":
            if index > start:
                out.append(pattern[start:index])
            out.append(STAR if char == "*" else ONE)
            start = index + 1
    if start < len(pattern):
        out.append(pattern[start:])
    return out


class Glob:
    """A compiled wildcard pattern; ``match`` is the whole-value test."""

    __slots__ = ("exact", "segments", "accept", "any_bits", "star_bits", "final", "ignore_case")

    def __init__(self, tokens: Iterable[Token], ignore_case: bool = False) -> None:
        self.ignore_case = ignore_case
        merged: list[Token] = []
        for token in tokens:
            if isinstance(token, str):
                if not token:
                    continue
                text = token.lower() if ignore_case else token
                if merged and isinstance(merged[-1], str):
                    merged[-1] += text
                else:
                    merged.append(text)
            elif token is STAR and merged and merged[-1] is STAR:
                continue  # a run of stars is one star
            else:
                merged.append(token)
        self.exact: str | None = None
        self.segments: list[str] | None = None
        self.accept: dict[str, int] = {}
        self.any_bits = self.star_bits = self.final = 0
        if ONE not in merged:
            if STAR not in merged:
                self.exact = "".join(t for t in merged if isinstance(t, str))
            else:
                segments = [""]
                for token in merged:
                    if token is STAR:
                        segments.append("")
                    else:
                        segments[-1] += str(token)
                self.segments = segments
            return
        position = 0
        for token in merged:
            if token is STAR:
                self.star_bits |= 1 << position
                position += 1
            elif token is ONE:
                self.any_bits |= 1 << position
                position += 1
            else:
                for char in str(token):
                    self.accept[char] = self.accept.get(char, 0) | (1 << position)
                    position += 1
        self.final = 1 << position

    def match(self, value: str) -> bool:
        if self.ignore_case:
            value = value.lower()
        if self.exact is not None:
            return value == self.exact
        if self.segments is not None:
            return _segments_match(self.segments, value)
        return self._nfa(value)

    def _nfa(self, value: str) -> bool:
        stars, anys, accept = self.star_bits, self.any_bits, self.accept
        state = 1 | ((1 & stars) << 1)
        for char in value:
            state = ((state & (accept.get(char, 0) | anys)) << 1) | (state & stars)
            if not state:
                return False
            state |= (state & stars) << 1
        return bool(state & self.final)


def _segments_match(segments: list[str], value: str) -> bool:
    """``segments[0]*segments[1]*...*segments[-1]`` (at least one star) against ``value``."""
    first, last = segments[0], segments[-1]
    if len(first) + len(last) > len(value):
        return False
    if not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for middle in segments[1:-1]:
        found = value.find(middle, position, end)
        if found < 0:
            return False
        position = found + len(middle)
    return True


CACHED_LENGTH = 512  # longer patterns are compiled each time (bounds the cache's memory)


@lru_cache(maxsize=4096)
def _cached(pattern: str, ignore_case: bool) -> Glob:
    return Glob(tokens_of(pattern), ignore_case)


def compile_glob(pattern: str, ignore_case: bool = False) -> Glob:
    """The ``Glob`` of a plain wildcard pattern (short ones cached, LRU-bounded)."""
    if len(pattern) > CACHED_LENGTH:
        return Glob(tokens_of(pattern), ignore_case)
    return _cached(pattern, ignore_case)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches the wildcard ``pattern`` as a whole."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return compile_glob(pattern, ignore_case).match(value)
