"""The tokenizer and token cursor shared by the composite-alarm rule parser and the
metric-math parser: a regular expression of named groups, one token a match."""

from __future__ import annotations

import re
from collections.abc import Callable

Token = tuple[str, str]  # (the group's name, the text it matched)


def tokenize(text: str, pattern: re.Pattern[str],
             error: Callable[[int], Exception]) -> list[Token]:
    """The tokens of ``text``; ``error(position)`` is raised where nothing matches."""
    out: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = pattern.match(text, pos)
        if m is None or m.end() == pos:
            raise error(pos)
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class TokenCursor:
    """A recursive-descent parser's position in its tokens."""

    def __init__(self, tokens: list[Token], at_end: Callable[[], Exception]) -> None:
        self.tokens = tokens
        self.pos = 0
        self._at_end = at_end

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise self._at_end()
        self.pos += 1
        return tok
