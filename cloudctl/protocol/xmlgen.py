"""A structure's XML body writer compiled to Python source, one function a shape.

Owns turning the member table ``XmlOutputCompiler.body`` builds (for each member: its
kind, its texts and its writer) into one function that reads each member by name in
the shape's order and writes it inline: no table lookup, no tuple unpacking and no
branch on the kind per member at run time (a page of 100 users is 500 members). The
source names no value from the request: member names are ``repr`` literals, tags and
writers are globals of the function. Must not know any service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cloudctl.protocol.common import IsoTimestamp, format_iso8601, xml_text

Writer = Callable[[Any, list[str]], None]
#: a flat structure's unchecked writer: (value, fragments, seen) with seen(text)
RawWriter = Callable[[Any, list[str], Callable[[str], None]], None]

# the member kinds of ``xmlout`` (kept in step with its ``_CALL ... _STRUCT``)
CALL, STRING, INT, BOOL, TIME, LIST, STRUCT = range(7)

# a string member's text is escaped only when it needs it (the usual text does not)
_STRING = """\
    v = get({name!r})
    if v is not None:
        if v.__class__ is not str and not isinstance(v, str):
            v = str(v)
        if not v.isprintable() or "&" in v or "<" in v or ">" in v or '"' in v:
            v = xml_text(v)
        append(f"{{A{i}}}{{v}}{{B{i}}}")
"""
# the same, unchecked: the text is also handed to ``seen``, whose texts the caller checks
# at once (a page of users: one check of the page's text instead of one a member)
_RAW_STRING = """\
    v = get({name!r})
    if v is not None:
        if v.__class__ is not str and not isinstance(v, str):
            v = str(v)
        seen(v)
        append(f"{{A{i}}}{{v}}{{B{i}}}")
"""
_INT = """\
    v = get({name!r})
    if v is not None:
        append(f"{{A{i}}}{{int(v)}}{{B{i}}}")
"""
_BOOL = """\
    v = get({name!r})
    if v is not None:
        append(A{i} if v else B{i})
"""
# an ISO 8601 member passes an ``IsoTimestamp`` through without a formatter call
_ISO_TIME = """\
    v = get({name!r})
    if v is not None:
        if v.__class__ is not IsoTimestamp:
            v = S{i}(v)
        append(f"{{A{i}}}{{v}}{{B{i}}}")
"""
_TIME = """\
    v = get({name!r})
    if v is not None:
        append(f"{{A{i}}}{{S{i}(v)}}{{B{i}}}")
"""
_LIST = """\
    v = get({name!r})
    if v is not None:
        if v:
            S{i}(v, out)
        else:
            append(A{i})
"""
_STRUCT = """\
    v = get({name!r})
    if v is not None:
        append(A{i})
        S{i}(v, out)
        append(B{i})
"""
_CALL = """\
    v = get({name!r})
    if v is not None:
        S{i}(v, out)
"""


Members = Sequence[tuple[str, tuple[int, str, str, Any]]]


def compile_body(members: Members) -> Writer:
    """One writer of a structure's members, given as (member name, (kind, first text,
    second text, writer or formatter)) in the order to write them; a ``None`` member
    and a key of the value that is no member are left out."""
    return _compile(members, raw=False)  # type: ignore[no-any-return]


def compile_raw_body(members: Members) -> RawWriter | None:
    """A writer like :func:`compile_body`'s that leaves the structure's own text
    members unescaped and hands each text to its third argument (``seen``), for the
    caller to check them all at once and write the structure again with
    :func:`compile_body`'s writer if any needs escaping (its lists and structures
    escape their own text). None for a structure without text members."""
    if not any(kind == STRING for _, (kind, *_rest) in members):
        return None
    return _compile(members, raw=True)  # type: ignore[no-any-return]


def needs_escape(text: str) -> bool:
    """Whether ``xml_text`` would change ``text`` (or may: a non-printable character)."""
    return not text.isprintable() or "&" in text or "<" in text or ">" in text or \
        '"' in text


def _compile(members: Members, *, raw: bool) -> Any:
    namespace: dict[str, Any] = {"xml_text": xml_text, "IsoTimestamp": IsoTimestamp}
    lines = ["def write_members(value, out, seen):\n" if raw else
             "def write_members(value, out):\n"]
    if members:
        lines.append("    append = out.append\n    get = value.get\n")
    else:
        lines.append("    return None\n")
    for i, (name, (kind, first, second, sub)) in enumerate(members):
        namespace[f"A{i}"], namespace[f"B{i}"], namespace[f"S{i}"] = first, second, sub
        if kind == STRING:
            template = _RAW_STRING if raw else _STRING
        elif kind == INT:
            template = _INT
        elif kind == BOOL:
            template = _BOOL
        elif kind == TIME:
            template = _ISO_TIME if sub is format_iso8601 else _TIME
        elif kind == LIST:
            template = _LIST
        elif kind == STRUCT:
            template = _STRUCT
        else:
            template = _CALL
        lines.append(template.format(name=name, i=i))
    exec(compile("".join(lines), "<xml body writer>", "exec"), namespace)
    return namespace["write_members"]
