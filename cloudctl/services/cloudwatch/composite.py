"""Composite alarm rules (PutCompositeAlarm ``AlarmRule``): ``ALARM(x)``, ``OK(x)``,
``INSUFFICIENT_DATA(x)`` of an alarm name or ARN (quoted or bare), ``TRUE``,
``FALSE``, ``NOT``, ``AND``, ``OR`` and parentheses (AND binds before OR).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cloudctl.services.cloudwatch.tokens import TokenCursor, tokenize

TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<q>"[^"]*")|'
                   r"(?P<word>[^\s()\"]+))")
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
Node = tuple[object, ...]


class RuleError(Exception):
    pass


class _Parser(TokenCursor):
    def __init__(self, text: str) -> None:
        super().__init__(tokenize(text, TOKEN, lambda pos: RuleError(
            f"Error in alarm rule near position {pos + 1}.")),
            lambda: RuleError("Error in alarm rule: unexpected end."))

    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek() is not None:
            raise RuleError(f"Error in alarm rule near '{self.peek()[1]}'.")  # type: ignore[index]
        return node

    def _word(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].upper() == word:
            self.pos += 1
            return True
        return False

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self._word("OR"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self._word("AND"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self._word("NOT"):
            return ("not", self.negation())
        return self.atom()

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "lp":
            node = self.disjunction()
            if self.take()[0] != "rp":
                raise RuleError("Error in alarm rule: missing ')'.")
            return node
        if kind == "word" and text.upper() in ("TRUE", "FALSE"):
            return ("const", text.upper() == "TRUE")
        if kind == "word" and text.upper() in STATES:
            if self.take()[0] != "lp":
                raise RuleError(f"Error in alarm rule: {text} takes an alarm in parentheses.")
            kind2, target = self.take()
            if kind2 == "q":
                target = target[1:-1]
            elif kind2 != "word":
                raise RuleError(f"Error in alarm rule: {text} takes an alarm name.")
            if self.take()[0] != "rp":
                raise RuleError("Error in alarm rule: missing ')'.")
            return ("state", text.upper(), target)
        raise RuleError(f"Error in alarm rule near '{text}'.")


def parse(text: str) -> Node:
    return _Parser(text).parse()


def alarms(node: Node) -> set[str]:
    """The alarm names or ARNs a rule names."""
    if node[0] == "state":
        return {str(node[2])}
    out: set[str] = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            out |= alarms(part)
    return out


def holds(node: Node, state_of: Callable[[str], str | None]) -> bool:
    kind = node[0]
    if kind == "const":
        return bool(node[1])
    if kind == "state":
        return state_of(str(node[2])) == node[1]
    if kind == "not":
        return not holds(node[1], state_of)  # type: ignore[arg-type]
    left = holds(node[1], state_of)  # type: ignore[arg-type]
    if kind == "and":
        return left and holds(node[2], state_of)  # type: ignore[arg-type]
    return left or holds(node[2], state_of)  # type: ignore[arg-type]
