"""Condition operators of the AWS policy language, compiled once per condition block.

Owns every operator family (String*, Numeric*, Date*, Bool, BinaryEquals,
IpAddress/NotIpAddress, Arn*, Null), the ``...IfExists`` suffix and the
``ForAllValues:``/``ForAnyValue:`` set qualifiers, plus ``${...}`` policy
variables inside condition values. Request values arrive as lists of strings.
Wildcard operators (``StringLike``, ``ArnLike``...) match through the linear-time
``wildcard.Glob``; a substituted variable is literal text inside them.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from cloudctl.services.iam.policy.errors import PolicyError
from cloudctl.services.iam.policy.wildcard import Glob, Token, compile_glob, tokens_of

Context = dict[str, list[str]]
Matcher = Callable[[str, Sequence[Any]], bool]

VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def _lookup(body: str, context: Context) -> str | None:
    """The value of a ``${...}`` body: a context key, its default, or an escape."""
    body = body.strip()
    if body in _SPECIAL:
        return _SPECIAL[body]
    key, sep, default = body.partition(",")
    values = context.get(key.strip().lower())
    if values:
        return values[0]
    if sep:
        return default.strip().strip("'")
    return None


def substitute(text: str, context: Context) -> str | None:
    """Replace ``${key}`` / ``${key, 'default'}`` from the context; None if a key is missing.

    For equality operators only: the result is compared literally. Wildcard
    operators use ``substitute_glob``, which keeps substituted values literal."""
    missing = False

    def repl(match: re.Match[str]) -> str:
        nonlocal missing
        value = _lookup(match.group(1), context)
        if value is None:
            missing = True
            return ""
        return value

    result = VARIABLE_RE.sub(repl, text)
    return None if missing else result


def substitute_glob(text: str, context: Context, ignore_case: bool = False) -> Glob | None:
    """The wildcard pattern ``text`` with its variables substituted as literal text.

    ``*``/``?`` written in the policy are wildcards; those inside a substituted value
    (a user name, a tag value) and the escapes ``${*}``, ``${?}``, ``${$}`` match only
    themselves. None when a variable has no value and no default."""
    tokens: list[Token] = []
    position = 0
    for match in VARIABLE_RE.finditer(text):
        tokens.extend(tokens_of(text[position:match.start()]))
        value = _lookup(match.group(1), context)
        if value is None:
            return None
        tokens.append(value)
        position = match.end()
    tokens.extend(tokens_of(text[position:]))
    return Glob(tokens, ignore_case)


def split_arn(text: str) -> list[str] | None:
    """The six ``:``-separated parts of an ARN pattern (``:`` inside ``${...}`` kept)."""
    parts: list[str] = []
    start = depth = 0
    index = 0
    while index < len(text) and len(parts) < 5:
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        char = text[index]
        if char == "}" and depth:
            depth -= 1
        elif char == ":" and not depth:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts if len(parts) == 6 else None


def _str_eq(value: str, policy: Sequence[Any]) -> bool:
    return value in policy


def _str_eq_ic(value: str, policy: Sequence[Any]) -> bool:
    low = value.lower()
    return any(low == p.lower() for p in policy)


def _str_like(value: str, policy: Sequence[Any]) -> bool:
    return any(p.match(value) for p in policy)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Matcher:
    def match(value: str, policy: Sequence[Any]) -> bool:
        number = _number(value)
        if number is None:
            return False
        return any(compare(number, p) for p in policy if p is not None)

    return match


def parse_date(text: str) -> datetime | None:
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (OverflowError, OSError, ValueError):  # beyond the years datetime holds
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(compare: Callable[[datetime, datetime], bool]) -> Matcher:
    def match(value: str, policy: Sequence[Any]) -> bool:
        when = parse_date(value)
        if when is None:
            return False
        return any(compare(when, p) for p in policy if p is not None)

    return match


def _bool(value: str, policy: Sequence[Any]) -> bool:
    return value.lower() in policy


def _binary(value: str, policy: Sequence[Any]) -> bool:
    return value in policy


def _ip(value: str, policy: Sequence[Any]) -> bool:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return any(address.version == net.version and address in net for net in policy)


def _arn_like(value: str, policy: Sequence[Any]) -> bool:
    parts = value.split(":", 5)
    if len(parts) != 6:
        return False
    return any(pattern is not None
               and all(p.match(v) for p, v in zip(pattern, parts, strict=True))
               for pattern in policy)


def arn_globs(text: str, context: Context | None = None) -> tuple[Glob, ...] | None:
    """The six part patterns of an ArnLike value (variables substituted literally)."""
    parts = split_arn(text)
    if parts is None:
        return None
    if context is None:
        return tuple(compile_glob(part) for part in parts)
    globs = [substitute_glob(part, context) for part in parts]
    return None if any(g is None for g in globs) else tuple(g for g in globs if g is not None)


# name -> (matcher, negated, value kind)
OPERATORS: dict[str, tuple[Matcher, bool, str]] = {
    "stringequals": (_str_eq, False, "str"),
    "stringnotequals": (_str_eq, True, "str"),
    "stringequalsignorecase": (_str_eq_ic, False, "str"),
    "stringnotequalsignorecase": (_str_eq_ic, True, "str"),
    "stringlike": (_str_like, False, "like"),
    "stringnotlike": (_str_like, True, "like"),
    "numericequals": (_numeric(lambda a, b: a == b), False, "num"),
    "numericnotequals": (_numeric(lambda a, b: a == b), True, "num"),
    "numericlessthan": (_numeric(lambda a, b: a < b), False, "num"),
    "numericlessthanequals": (_numeric(lambda a, b: a <= b), False, "num"),
    "numericgreaterthan": (_numeric(lambda a, b: a > b), False, "num"),
    "numericgreaterthanequals": (_numeric(lambda a, b: a >= b), False, "num"),
    "dateequals": (_date(lambda a, b: a == b), False, "date"),
    "datenotequals": (_date(lambda a, b: a == b), True, "date"),
    "datelessthan": (_date(lambda a, b: a < b), False, "date"),
    "datelessthanequals": (_date(lambda a, b: a <= b), False, "date"),
    "dategreaterthan": (_date(lambda a, b: a > b), False, "date"),
    "dategreaterthanequals": (_date(lambda a, b: a >= b), False, "date"),
    "bool": (_bool, False, "bool"),
    "binaryequals": (_binary, False, "str"),
    "ipaddress": (_ip, False, "ip"),
    "notipaddress": (_ip, True, "ip"),
    "arnequals": (_arn_like, False, "arn"),
    "arnlike": (_arn_like, False, "arn"),
    "arnnotequals": (_arn_like, True, "arn"),
    "arnnotlike": (_arn_like, True, "arn"),
}


def _convert(kind: str, raw: str) -> Any:
    if kind == "num":
        number = _number(raw)
        if number is None:
            raise PolicyError(f"Invalid number in condition: {raw}", "condition")
        return number
    if kind == "date":
        when = parse_date(raw)
        if when is None:
            raise PolicyError(f"Invalid date in condition: {raw}", "condition")
        return when
    if kind == "bool":
        return raw.lower()
    if kind == "like":
        return compile_glob(raw)
    if kind == "arn":
        return arn_globs(raw)
    if kind == "ip":
        try:
            return ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError:
            raise PolicyError(f"Invalid IP address or CIDR in condition: {raw}",
                              "condition") from None
    return raw


_TEXT_KINDS = ("str", "like", "arn")


class Condition:
    """One ``operator: {key: values}`` entry, ready to test against a request context."""

    __slots__ = ("key", "matcher", "negated", "kind", "if_exists", "qualifier", "values",
                 "raw", "has_vars", "is_null")

    def __init__(self, operator: str, key: str, values: list[str]) -> None:
        self.key = key.lower()
        self.raw = values
        op = operator
        self.qualifier = ""
        lowered = op.lower()
        for prefix in ("forallvalues:", "foranyvalue:"):
            if lowered.startswith(prefix):
                self.qualifier = prefix[:-1]
                lowered = lowered[len(prefix):]
        self.if_exists = lowered.endswith("ifexists")
        if self.if_exists:
            lowered = lowered[: -len("ifexists")]
        self.is_null = lowered == "null"
        if self.is_null:
            if self.if_exists:
                raise PolicyError(f"Invalid Condition type : {operator}", "condition")
            self.matcher: Matcher = _str_eq
            self.negated = False
            self.kind = "bool"
            self.values: list[Any] = [v.lower() for v in values]
            self.has_vars = False
            return
        if lowered not in OPERATORS:
            raise PolicyError(f"Invalid Condition type : {operator}", "condition")
        self.matcher, self.negated, self.kind = OPERATORS[lowered]
        self.has_vars = self.kind in _TEXT_KINDS and any("${" in v for v in values)
        if lowered == "binaryequals":
            for v in values:
                try:
                    base64.b64decode(v, validate=True)
                except ValueError:
                    raise PolicyError(f"Invalid base64 value in condition: {v}",
                                      "condition") from None
        self.values = [] if self.has_vars else [_convert(self.kind, v) for v in values]

    def test(self, context: Context) -> bool:
        present = context.get(self.key)
        if self.is_null:
            absent = not present
            return ("true" if absent else "false") in self.values
        policy = self.values
        if self.has_vars:
            policy = self._substituted(context)
        if not present:
            if self.if_exists:
                return True
            if self.qualifier == "forallvalues":
                return True
            if self.qualifier == "foranyvalue":
                return False
            return self.negated
        match, negated = self.matcher, self.negated
        if self.qualifier == "forallvalues":
            return all(match(v, policy) != negated for v in present)
        if self.qualifier == "foranyvalue":
            return any(match(v, policy) != negated for v in present)
        if negated:
            return not any(match(v, policy) for v in present)
        return any(match(v, policy) for v in present)

    def _substituted(self, context: Context) -> list[Any]:
        """The policy values with the request's variables (literal inside wildcards)."""
        if self.kind == "like":
            globs = (substitute_glob(v, context) for v in self.raw)
            return [g for g in globs if g is not None]
        if self.kind == "arn":
            return [arn_globs(v, context) for v in self.raw]
        return [s for s in (substitute(v, context) for v in self.raw) if s is not None]
