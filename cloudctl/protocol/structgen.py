"""Structure parsers generated as Python source, once per input shape.

Owns ``members_parser``: the members of a structure read from its wire document as
``common.parse_members`` reads them (each known key parsed in the document's order,
unknown keys ignored, an error naming its member, then every required member there),
in one generated function per shape: a chain of key tests instead of a table lookup,
and the usual valid value of a string or double member (``common.fused_scalar``'s fast
case, and the query protocol's number given as text) taken inline instead of through a
call of its parser. Anything else is handed to
the member's compiled parser, which converts it or raises what is wrong, so the answers
and errors are the table's (``tests/unit/test_protocol_structgen.py`` compares them).
A PutMetricData of 20 data made ~200 parser calls; its MetricDatum is now one.

Structures of many members keep ``parse_members`` (a long chain of key tests would
cost more than the lookup). Must not know any service or protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudctl.protocol.common import (
    Inline,
    MemberTable,
    Parser,
    ShapeError,
    parse_members,
    require_members,
)

MAX_CHAIN = 16  # wire keys of a structure up to which the key tests are generated

def members_parser(table: MemberTable, inline: dict[str, Inline | None],
                   required: list[tuple[str, str]], *, skip_none: bool,
                   not_dict: Parser) -> Parser:
    """A parser of a structure's wire ``dict``: ``parse_members(raw.items(), table,
    required, skip_none=skip_none)`` generated for this table; ``inline`` (wire key ->
    ``common.inline_of`` its member) says which values may be taken inline; anything but a
    ``dict`` goes to ``not_dict``."""
    if len(table) > MAX_CHAIN:
        def parse_table(raw: Any) -> Any:
            if raw.__class__ is not dict:
                return not_dict(raw)
            return parse_members(raw.items(), table, required, skip_none=skip_none)

        return parse_table
    env: dict[str, Any] = {"ShapeError": ShapeError, "require_members": require_members,
                           "not_dict": not_dict, "required": required}
    lines = ["def parse_structure(raw):",
             "    if raw.__class__ is not dict:",
             "        return not_dict(raw)",
             "    out = {}",
             "    for key, value in raw.items():"]
    if skip_none:
        lines += ["        if value is None:", "            continue"]
    for index, (wire, (name, sub)) in enumerate(table.items()):
        env[f"s{index}"] = sub
        lines.append(f"        {'if' if index == 0 else 'elif'} key == {wire!r}:")
        check = inline.get(wire)
        if check is not None and check[0] == "text-float":
            lines += ["            if value.__class__ is str:",
                      "                try:",
                      f"                    out[{name!r}] = float(value)",
                      "                except ValueError:",
                      "                    pass",
                      "                else:",
                      "                    continue"]
        elif check is not None:
            kind, low, high, enum = check
            env[f"lo{index}"], env[f"hi{index}"] = low, high
            if kind == "str":
                test = f"value.__class__ is str and lo{index} <= len(value) <= hi{index}"
                if enum:
                    env[f"e{index}"] = enum
                    test += f" and value in e{index}"
            else:
                test = f"value.__class__ is float and lo{index} <= value <= hi{index}"
            lines += [f"            if {test}:",
                      f"                out[{name!r}] = value",
                      "                continue"]
        lines += [f"            name, sub = {name!r}, s{index}"]
    lines += ["        else:" if table else "        if True:",
              "            continue",
              "        try:",
              "            out[name] = sub(value)",
              "        except ShapeError as exc:",
              "            exc.path.append((name, key))",
              "            raise"]
    if required:
        tests = " or ".join(f"{name!r} not in out" for name, _ in required)
        lines += [f"    if {tests}:", "        require_members(out, required)"]
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<structure parser {len(table)}>", "exec"), env)
    made: Callable[[Any], Any] = env["parse_structure"]
    return made
