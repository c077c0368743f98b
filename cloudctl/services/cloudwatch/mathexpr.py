"""CloudWatch metric math: the expression grammar and its evaluation over time series.

A series is a sorted ``{timestamp: value}``; ``METRICS()`` gives an array of series.
Arithmetic (``+ - * / ^``) between series keeps the timestamps both have; with a
scalar it applies to every point. ``SUM``/``AVG``/``MIN``/``MAX`` of an array give the
series of per-timestamp aggregates, of one series a scalar. ``FILL(s, v|REPEAT|
LINEAR)`` fills every period of the query without a value, ``RATE`` (per second) and
``DIFF`` compare each point with the one before, ``IF(cond, a[, b])`` keeps ``a`` where
``cond`` is non-zero (else ``b``, else drops the point), comparisons (``> < >= <= ==
!=``) and ``AND``/``OR`` give 1 or 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

from cloudctl.services.cloudwatch import tokens

Series = dict[int, float]
Value = Union[float, "Labelled", list["Labelled"]]


@dataclass
class Labelled:
    """A series with the label it is reported under."""

    label: str
    points: Series


class MathError(Exception):
    """An expression that does not parse or evaluate (the message is AWS's)."""


TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|"
                   r"(?P<str>\"[^\"]*\"|'[^']*')|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|"
                   r"(?P<op>>=|<=|==|!=|[-+*/^(),<>]))")


def tokenize(text: str) -> list[tuple[str, str]]:
    return tokens.tokenize(text, TOKEN, lambda pos: MathError(f"Syntax error at position "
                                                             f"{pos + 1}"))


# an AST node: ("num", v) ("id", name) ("str", s) ("call", NAME, args) ("bin", op, a, b)
# ("neg", a)
Node = tuple[object, ...]
PRECEDENCE = {"OR": 1, "AND": 2, ">": 3, "<": 3, ">=": 3, "<=": 3, "==": 3, "!=": 3,
              "+": 4, "-": 4, "*": 5, "/": 5, "^": 7}


class Parser(tokens.TokenCursor):
    def __init__(self, text: str) -> None:
        super().__init__(tokenize(text), lambda: MathError(
            "Syntax error: unexpected end of expression"))

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek() is not None:
            raise MathError(f"Syntax error near '{self.peek()[1]}'")  # type: ignore[index]
        return node

    def _op(self) -> str | None:
        tok = self.peek()
        if tok is None:
            return None
        if tok[0] == "op" and tok[1] in PRECEDENCE:
            return tok[1]
        if tok[0] == "name" and tok[1].upper() in ("AND", "OR"):
            return tok[1].upper()
        return None

    def expr(self, floor: int) -> Node:
        """Precedence climbing: operators binding at least ``floor`` (``^`` to the right)."""
        left = self.unary()
        while True:
            op = self._op()
            if op is None or PRECEDENCE[op] < floor:
                return left
            self.take()
            right = self.expr(PRECEDENCE[op] + (0 if op == "^" else 1))
            left = ("bin", op, left, right)

    def unary(self) -> Node:
        tok = self.peek()
        if tok == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        if tok == ("op", "+"):
            self.take()
            return self.unary()
        return self.atom()

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return ("num", float(text))
        if kind == "str":
            return ("str", text[1:-1])
        if kind == "op" and text == "(":
            node = self.expr(0)
            if self.take() != ("op", ")"):
                raise MathError("Syntax error: missing ')'")
            return node
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                args: list[Node] = []
                if self.peek() != ("op", ")"):
                    while True:
                        args.append(self.expr(0))
                        if self.peek() == ("op", ","):
                            self.take()
                            continue
                        break
                if self.take() != ("op", ")"):
                    raise MathError("Syntax error: missing ')'")
                return ("call", text.upper(), args)
            if text.upper() in ("REPEAT", "LINEAR"):
                return ("str", text.upper())
            return ("id", text)
        raise MathError(f"Syntax error near '{text}'")


def parse(text: str) -> Node:
    return Parser(text).parse()


def references(node: Node) -> set[str]:
    """The query ids an expression names (``METRICS()`` is reported as ``*``)."""
    if node[0] == "id":
        return {str(node[1])}
    if node[0] == "call" and node[1] == "METRICS":
        return {"*"}
    out: set[str] = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            out |= references(part)
        elif isinstance(part, list):
            for arg in part:
                out |= references(arg)
    return out


def _binary(op: str) -> Callable[[float, float], float]:
    def div(a: float, b: float) -> float:
        return a / b if b != 0 else math.nan

    table: dict[str, Callable[[float, float], float]] = {
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": div, "^": lambda a, b: math.pow(a, b) if a >= 0 or b == int(b) else math.nan,
        ">": lambda a, b: float(a > b), "<": lambda a, b: float(a < b),
        ">=": lambda a, b: float(a >= b), "<=": lambda a, b: float(a <= b),
        "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b),
        "AND": lambda a, b: float(bool(a) and bool(b)),
        "OR": lambda a, b: float(bool(a) or bool(b)),
    }
    return table[op]


def _combine(fn: Callable[[float, float], float], a: Value, b: Value) -> Value:
    if isinstance(a, list):
        return [_as_labelled(_combine(fn, x, b), x.label) for x in a]
    if isinstance(b, list):
        return [_as_labelled(_combine(fn, a, y), y.label) for y in b]
    if isinstance(a, Labelled) and isinstance(b, Labelled):
        return Labelled(a.label, {t: fn(v, b.points[t]) for t, v in a.points.items()
                                  if t in b.points})
    if isinstance(a, Labelled):
        assert isinstance(b, float)
        return Labelled(a.label, {t: fn(v, b) for t, v in a.points.items()})
    if isinstance(b, Labelled):
        return Labelled(b.label, {t: fn(a, v) for t, v in b.points.items()})
    return fn(a, b)


def _as_labelled(value: Value, label: str) -> Labelled:
    if isinstance(value, Labelled):
        return value
    raise MathError("Error in expression: expected a time series")


def _aggregate(name: str, values: Sequence[float]) -> float:
    if name == "SUM":
        return float(sum(values))
    if name == "AVG":
        return float(sum(values)) / len(values)
    if name == "MIN":
        return min(values)
    return max(values)


@dataclass
class Context:
    """What an expression sees: the series of the other queries and the periods."""

    series: dict[str, Labelled]
    timestamps: list[int]  # every period start of the query, oldest first
    order: list[str]  # query ids in request order (METRICS())


class Evaluator:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def eval(self, node: Node) -> Value:
        kind = node[0]
        if kind == "num":
            return float(node[1])  # type: ignore[arg-type]
        if kind == "id":
            name = str(node[1])
            if name not in self.ctx.series:
                raise MathError(f"Unrecognized metric or expression id: {name}")
            found = self.ctx.series[name]
            return Labelled(found.label, dict(found.points))
        if kind == "neg":
            return _combine(lambda a, b: a * b, self.eval(node[1]), -1.0)  # type: ignore[arg-type]
        if kind == "bin":
            return _combine(_binary(str(node[1])), self.eval(node[2]),  # type: ignore[arg-type]
                            self.eval(node[3]))  # type: ignore[arg-type]
        if kind == "call":
            return self.call(str(node[1]), list(node[2]))  # type: ignore[call-overload]
        raise MathError("Syntax error: unexpected string")

    def call(self, name: str, args: list[Node]) -> Value:
        if name == "METRICS":
            prefix = ""
            if args:
                if args[0][0] != "str":
                    raise MathError("METRICS() takes a string filter")
                prefix = str(args[0][1])
            return [Labelled(s.label, dict(s.points)) for i, s in
                    ((i, self.ctx.series[i]) for i in self.ctx.order if i in self.ctx.series)
                    if prefix.lower() in s.label.lower()]
        if name in ("SUM", "AVG", "MIN", "MAX"):
            if len(args) != 1:
                raise MathError(f"{name} takes one argument")
            value = self.eval(args[0])
            if isinstance(value, list):
                stamps = sorted({t for s in value for t in s.points})
                out: Series = {}
                for t in stamps:
                    present = [s.points[t] for s in value if t in s.points]
                    out[t] = _aggregate(name, present)
                return Labelled(name, out)
            if isinstance(value, Labelled):
                if not value.points:
                    return math.nan
                return _aggregate(name, list(value.points.values()))
            return value
        if name in ("RATE", "DIFF"):
            if len(args) != 1:
                raise MathError(f"{name} takes one argument")
            return self._map(self.eval(args[0]), self._rate if name == "RATE" else self._diff)
        if name == "FILL":
            if len(args) != 2:
                raise MathError("FILL takes two arguments")
            how = args[1]
            fill: float | str
            if how[0] == "str" and str(how[1]).upper() in ("REPEAT", "LINEAR"):
                fill = str(how[1]).upper()
            else:
                filler = self.eval(how)
                if not isinstance(filler, float):
                    raise MathError("FILL takes a number, REPEAT or LINEAR")
                fill = filler
            return self._map(self.eval(args[0]), lambda s: self._fill(s, fill))
        if name == "IF":
            if len(args) not in (2, 3):
                raise MathError("IF takes two or three arguments")
            cond = self.eval(args[0])
            then = self.eval(args[1])
            other = self.eval(args[2]) if len(args) == 3 else None
            return self._if(cond, then, other)
        if name == "ABS":
            return self._map_values(self.eval(args[0]), abs)
        raise MathError(f"Unknown function: {name}")

    @staticmethod
    def _map(value: Value, fn: Callable[[Series], Series]) -> Value:
        if isinstance(value, list):
            return [Labelled(s.label, fn(s.points)) for s in value]
        if isinstance(value, Labelled):
            return Labelled(value.label, fn(value.points))
        raise MathError("Error in expression: expected a time series")

    @staticmethod
    def _map_values(value: Value, fn: Callable[[float], float]) -> Value:
        if isinstance(value, float):
            return fn(value)
        return Evaluator._map(value, lambda s: {t: fn(v) for t, v in s.items()})

    @staticmethod
    def _rate(points: Series) -> Series:
        items = sorted(points.items())
        return {t: (v - pv) / (t - pt) for (pt, pv), (t, v) in zip(items, items[1:],
                                                                     strict=False)}

    @staticmethod
    def _diff(points: Series) -> Series:
        items = sorted(points.items())
        return {t: v - pv for (_, pv), (t, v) in zip(items, items[1:], strict=False)}

    def _fill(self, points: Series, how: float | str) -> Series:
        out: Series = {}
        known = sorted(points.items())
        last: float | None = None
        for t in self.ctx.timestamps:
            if t in points:
                out[t] = last = points[t]
            elif isinstance(how, float):
                out[t] = how
            elif how == "REPEAT":
                if last is not None:
                    out[t] = last
            else:
                before = [(kt, kv) for kt, kv in known if kt < t]
                after = [(kt, kv) for kt, kv in known if kt > t]
                if before and after:
                    (t0, v0), (t1, v1) = before[-1], after[0]
                    out[t] = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return out

    def _if(self, cond: Value, then: Value, other: Value | None) -> Value:
        if isinstance(cond, list):
            return [_as_labelled(self._if(c, then, other), c.label) for c in cond]
        if isinstance(cond, float):
            return then if cond else (other if other is not None else math.nan)
        out: Series = {}
        for t, c in cond.points.items():
            pick = then if c else other
            if pick is None:
                continue
            if isinstance(pick, float):
                out[t] = pick
            elif isinstance(pick, Labelled) and t in pick.points:
                out[t] = pick.points[t]
        return Labelled(cond.label, out)


def evaluate(text: str, ctx: Context) -> Value:
    """The value of ``text`` (raises ``MathError``)."""
    try:
        return Evaluator(ctx).eval(parse(text))
    except (ZeroDivisionError, OverflowError, ValueError) as exc:
        raise MathError(f"Error in expression: {exc}") from exc
