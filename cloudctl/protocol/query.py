"""Request parsing for the ``query`` and ``ec2`` protocols (form-encoded key paths).

Owns turning ``Action=...&Filter.1.Name=...`` pairs into plain data: the flat pairs
are folded into a tree on ``.`` once per request, then a parser compiled once per
input shape walks the tree. The two protocols differ only in list naming (EC2
lists are always ``Name.N``; query lists are ``Name.member.N`` unless flattened)
and in how member names are spelled (EC2 ``queryName`` / capitalised
``locationName``). Must not know any service.
"""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

from cloudctl.protocol.common import (
    Inline,
    Parser,
    ShapeError,
    b64decode,
    constraint_checker,
    fused_scalar,
    inline_of,
    parse_bool_text,
    parse_float_text,
    parse_int_text,
    parse_members,
    parse_timestamp,
    with_checks,
)
from cloudctl.protocol.structgen import members_parser

Tree = dict[str, Any]


# key -> (its prefix, its last name) of the keys seen lately (the same keys come from a
# client again and again: ``MetricData.member.3.Value``); cleared when full
_SPLITS: dict[str, tuple[str | None, str]] = {}
_SPLITS_MAX = 8192


def build_tree(pairs: list[tuple[str, str]]) -> Tree:
    """Fold ``a.b.1=x`` pairs into nested dicts; a scalar that is also a prefix goes to ``""``.

    A key's parent node is found by its prefix (``a.b`` of ``a.b.1``) among the nodes
    this request made so far, walking from the root only for a new prefix (a node, once a
    dict, stays in the tree); the split of a key seen lately is remembered (its prefix a
    string whose hash is kept, so the lookup does not hash the text again)."""
    root: Tree = {}
    nodes: dict[str, Tree] = {}
    splits = _SPLITS
    for key, value in pairs:
        split = splits.get(key)
        if split is None:
            cut = key.rfind(".")
            split = (None, key) if cut < 0 else (key[:cut], key[cut + 1:])
            if len(splits) >= _SPLITS_MAX:
                splits.clear()
            splits[key] = split
        prefix, name = split
        if prefix is None:
            node = root
        else:
            found = nodes.get(prefix)
            if found is None:
                found = root
                for part in prefix.split("."):
                    child = found.get(part)
                    if child.__class__ is dict:
                        found = child
                        continue
                    fresh: Tree = {}
                    if child is not None:
                        fresh[""] = child
                    found[part] = fresh
                    found = fresh
                nodes[prefix] = found
            node = found
        existing = node.get(name)
        if existing.__class__ is dict:
            existing[""] = value
        else:
            node[name] = value
    return root


def _scalar_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and isinstance(raw.get(""), str):
        return str(raw[""])
    raise ShapeError("type", "expected a single value", None)


_INDEXES = [str(n) for n in range(1, 1001)]  # "1".."1000": a list's keys in the usual order


def _indexed(node: Any) -> list[Any]:
    """Children of ``{"1": a, "2": b}`` in index order (a lone scalar is a 1-list)."""
    if isinstance(node, str):
        return [] if node == "" else [node]
    if not isinstance(node, dict):
        raise ShapeError("type", "expected a list", None)
    keys = list(node)
    if keys == _INDEXES[:len(keys)]:  # "1", "2", ... as clients send them: in order
        return list(node.values())
    items: list[tuple[int, Any]] = []
    for key, value in node.items():
        if key.isdigit():
            items.append((int(key), value))
        elif key != "":
            raise ShapeError("type", f"unexpected list element {key!r}", key)
    items.sort(key=lambda kv: kv[0])
    return [value for _index, value in items]


class QueryInputCompiler:
    """Compiles input shapes into parsers of the folded key tree (one per protocol)."""

    def __init__(self, ec2: bool, check_enums: bool) -> None:
        self.ec2 = ec2
        self.check_enums = check_enums
        self._cache: dict[str, Parser] = {}

    def member_key(self, shape: Shape, default: str) -> str:
        ser = shape.serialization
        if self.ec2:
            if "queryName" in ser:
                return str(ser["queryName"])
            if "name" in ser:
                name = str(ser["name"])
                return name[:1].upper() + name[1:]
            return default
        return str(ser.get("name", default))

    def compile(self, shape: Shape) -> Parser:
        cached = self._cache.get(shape.name)
        if cached is not None:
            return cached
        kind = shape.type_name
        parser: Parser
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind in ("string", "character"):

            def parser(raw: Any) -> Any:
                return _scalar_text(raw)

        elif kind in ("integer", "long"):

            def parser(raw: Any) -> Any:
                return parse_int_text(_scalar_text(raw))

        elif kind in ("float", "double"):

            def parser(raw: Any) -> Any:
                return parse_float_text(_scalar_text(raw))

        elif kind == "boolean":

            def parser(raw: Any) -> Any:
                return parse_bool_text(_scalar_text(raw))

        elif kind == "timestamp":

            def parser(raw: Any) -> Any:
                return parse_timestamp(_scalar_text(raw))

        elif kind == "blob":

            def parser(raw: Any) -> Any:
                return b64decode(_scalar_text(raw))

        else:

            def parser(raw: Any) -> Any:
                return raw

        parser = fused_scalar(kind, shape, self.check_enums,
                              with_checks(parser, constraint_checker(shape, self.check_enums)),
                              floats=False)
        self._cache[shape.name] = parser
        return parser

    def _structure(self, shape: Shape) -> Parser:
        table: dict[str, tuple[str, Parser]] = {}
        inline: dict[str, Inline | None] = {}
        required: list[tuple[str, str]] = []
        made: list[Parser] = []

        def parse_structure(raw: Any) -> Any:  # what a member of the shape itself calls
            return made[0](raw)

        def not_dict(raw: Any) -> Any:
            if isinstance(raw, str):
                if raw == "":
                    return {}
                raise ShapeError("type", "expected a structure", raw)
            return parse_members(raw.items(), table, required)

        self._cache[shape.name] = parse_structure
        members = shape.members
        for name, member in members.items():
            key = self._member_wire_key(member, name)
            table[key] = (name, self.compile(member))
            inline[key] = inline_of(member.type_name, member, self.check_enums, False)
        for name, member in members.items():
            # Hand-written clients sometimes use the model member name.
            if name not in table:
                table[name] = (name, self.compile(member))
                inline[name] = inline_of(member.type_name, member, self.check_enums, False)
        for name in shape.required_members:
            required.append((name, self._member_wire_key(members[name], name)))
        made.append(members_parser(table, inline, required, skip_none=False,
                                   not_dict=not_dict))
        self._cache[shape.name] = made[0]
        return made[0]

    def _member_wire_key(self, member: Shape, name: str) -> str:
        if (
            not self.ec2
            and member.type_name == "list"
            and member.serialization.get("flattened")
            and member.member.serialization.get("name")
        ):
            return str(member.member.serialization["name"])
        return self.member_key(member, name)

    def _list(self, shape: Shape) -> Parser:
        item_parser = self.compile(shape.member)
        check = constraint_checker(shape, False)
        wrapper: str | None
        if self.ec2 or shape.serialization.get("flattened"):
            wrapper = None
        else:
            wrapper = str(shape.member.serialization.get("name", "member"))

        def parse_list(raw: Any) -> Any:
            node = raw
            if wrapper is not None and isinstance(raw, dict):
                node = raw.get(wrapper)
                if node is None:
                    if set(raw) - {""}:
                        raise ShapeError("type", f"expected {wrapper}.N elements", None)
                    node = raw.get("", "")
            items = _indexed(node)
            try:  # every item parsed in one C loop; on a failure again, naming the item
                out = list(map(item_parser, items))
            except ShapeError:
                out = []
            else:
                if check is not None:
                    check(out)
                return out
            for index, item in enumerate(items, 1):
                try:
                    out.append(item_parser(item))
                except ShapeError as exc:
                    exc.path.append((str(index), str(index)))
                    raise
            if check is not None:
                check(out)
            return out

        self._cache[shape.name] = parse_list
        return parse_list

    def _map(self, shape: Shape) -> Parser:
        key_parser = self.compile(shape.key)
        value_parser = self.compile(shape.value)
        key_name = self.member_key(shape.key, "key")
        value_name = self.member_key(shape.value, "value")
        flattened = bool(shape.serialization.get("flattened"))

        def parse_map(raw: Any) -> Any:
            node = raw
            if not flattened and isinstance(raw, dict):
                node = raw.get("entry", raw.get("", ""))
            out: dict[Any, Any] = {}
            for index, entry in enumerate(_indexed(node), 1):
                if not isinstance(entry, dict) or key_name not in entry:
                    err = ShapeError("missing", "Member must not be null")
                    err.path.append((str(index), f"{index}.{key_name}"))
                    raise err
                try:
                    out[key_parser(entry[key_name])] = value_parser(entry.get(value_name, ""))
                except ShapeError as exc:
                    exc.path.append((str(index), str(index)))
                    raise
            return out

        self._cache[shape.name] = parse_map
        return parse_map
