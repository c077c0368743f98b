"""Compiled converters for document-shaped bodies: ``json`` 1.0/1.1 and ``smithy-rpc-v2-cbor``.

Owns validating a decoded JSON or CBOR document against an input shape (type
checks, required members, range/length/enum traits) and converting provider data
into a JSON- or CBOR-ready document for an output shape. The two encodings
differ only in timestamps (epoch numbers vs CBOR tag 1) and blobs (base64 text vs
byte strings), so one compiler serves both, parametrised by ``cbor``. Each shape is
compiled once; scalars that need no conversion compile to ``None`` so containers
copy them without a call. Must not know any service.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from cloudctl.protocol.common import (
    Inline,
    Parser,
    ShapeError,
    b64decode,
    b64encode,
    constraint_checker,
    format_epoch,
    format_iso8601,
    format_rfc822,
    fused_scalar,
    inline_of,
    parse_members,
    parse_timestamp,
    to_utc,
    with_checks,
)
from cloudctl.protocol.structgen import members_parser

Encoder = Callable[[Any], Any]


#: timestamps a list encoder remembers (a 1-minute GetMetricData page has 100,800)
_MEMO_LIMIT = 1 << 18

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def wire_name(member: Shape, name: str) -> str:
    return str(member.serialization.get("name", name))


class DocumentCompiler:
    """Compiles input parsers and output encoders for JSON (``cbor=False``) or CBOR."""

    def __init__(self, cbor: bool, check_enums: bool = True) -> None:
        self.cbor = cbor
        self.check_enums = check_enums
        self._parsers: dict[str, Parser] = {}
        self._encoders: dict[str, Encoder | None] = {}

    # ----------------------------------------------------------------- input
    def parser(self, shape: Shape) -> Parser:
        cached = self._parsers.get(shape.name)
        if cached is not None:
            return cached
        kind = shape.type_name
        if kind == "structure":
            if shape.is_document_type:
                return lambda raw: raw
            return self._parse_structure(shape)
        if kind == "list":
            return self._parse_list(shape)
        if kind == "map":
            return self._parse_map(shape)
        parser = with_checks(self._scalar_parser(kind), constraint_checker(shape, self.check_enums))
        parser = fused_scalar(kind, shape, self.check_enums, parser)
        self._parsers[shape.name] = parser
        return parser

    def _scalar_parser(self, kind: str) -> Parser:
        cbor = self.cbor
        if kind in ("string", "character"):

            def parse_string(raw: Any) -> Any:
                if not isinstance(raw, str):
                    raise ShapeError("type", "expected a string", raw)
                return raw

            return parse_string
        if kind in ("integer", "long"):

            def parse_int(raw: Any) -> Any:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    if isinstance(raw, float) and raw.is_integer():
                        return int(raw)
                    raise ShapeError("type", "expected an integer", raw)
                return raw

            return parse_int
        if kind in ("float", "double"):

            def parse_float(raw: Any) -> Any:
                if isinstance(raw, bool):
                    raise ShapeError("type", "expected a number", raw)
                if isinstance(raw, float):
                    return raw
                if isinstance(raw, int):
                    try:
                        return float(raw)
                    except OverflowError:  # an integer past a double's range
                        raise ShapeError("type", "expected a number", raw) from None
                if isinstance(raw, str) and raw in _SPECIAL_FLOATS:
                    return _SPECIAL_FLOATS[raw]
                raise ShapeError("type", "expected a number", raw)

            return parse_float
        if kind == "boolean":

            def parse_bool(raw: Any) -> Any:
                if not isinstance(raw, bool):
                    raise ShapeError("type", "expected a boolean", raw)
                return raw

            return parse_bool
        if kind == "timestamp":
            return parse_timestamp
        if kind == "blob":
            if cbor:

                def parse_bytes(raw: Any) -> Any:
                    if isinstance(raw, bytes | bytearray):
                        return bytes(raw)
                    return b64decode(raw)

                return parse_bytes
            return b64decode
        return lambda raw: raw

    def _parse_structure(self, shape: Shape) -> Parser:
        table: dict[str, tuple[str, Parser]] = {}
        inline: dict[str, Inline | None] = {}
        required: list[tuple[str, str]] = []
        made: list[Parser] = []

        def parse_structure(raw: Any) -> Any:  # what a member of the shape itself calls
            return made[0](raw)

        def not_dict(raw: Any) -> Any:
            if not isinstance(raw, dict):
                raise ShapeError("type", "expected a structure", raw)
            return parse_members(raw.items(), table, required, skip_none=True)

        self._parsers[shape.name] = parse_structure
        for name, member in shape.members.items():
            wire = wire_name(member, name)
            table[wire] = (name, self.parser(member))
            inline[wire] = inline_of(member.type_name, member, self.check_enums, True)
        for name in shape.required_members:
            required.append((name, wire_name(shape.members[name], name)))
        made.append(members_parser(table, inline, required, skip_none=True,
                                   not_dict=not_dict))
        self._parsers[shape.name] = made[0]
        return made[0]

    def _parse_list(self, shape: Shape) -> Parser:
        holder: list[Parser] = []
        check = constraint_checker(shape, False)

        def parse_list(raw: Any) -> Any:
            if not isinstance(raw, list):
                raise ShapeError("type", "expected a list", raw)
            item = holder[0]
            if None not in raw:
                try:  # the usual list: every item parsed in one C loop
                    out = list(map(item, raw))
                except ShapeError:
                    pass  # parsed again below, which names the failing item
                else:
                    if check is not None:
                        check(out)
                    return out
            out = []
            for index, element in enumerate(raw, 1):
                if element is None:
                    continue
                try:
                    out.append(item(element))
                except ShapeError as exc:
                    exc.path.append((str(index), str(index)))
                    raise
            if check is not None:
                check(out)
            return out

        self._parsers[shape.name] = parse_list
        holder.append(self.parser(shape.member))
        return parse_list

    def _parse_map(self, shape: Shape) -> Parser:
        holder: list[Parser] = []
        check = constraint_checker(shape, False)

        def parse_map(raw: Any) -> Any:
            if not isinstance(raw, dict):
                raise ShapeError("type", "expected a map", raw)
            key_parser, value_parser = holder
            out = {}
            for key, value in raw.items():
                if value is None:
                    continue
                try:
                    out[key_parser(key)] = value_parser(value)
                except ShapeError as exc:
                    exc.path.append((str(key), str(key)))
                    raise
            if check is not None:
                check(out)
            return out

        self._parsers[shape.name] = parse_map
        holder.append(self.parser(shape.key))
        holder.append(self.parser(shape.value))
        return parse_map

    # ---------------------------------------------------------------- output
    def encoder(self, shape: Shape) -> Encoder | None:
        """Provider value -> document value; None means "copy as is"."""
        fmt = shape.serialization.get("timestampFormat")
        key = f"{shape.name}|{fmt}"
        if key in self._encoders:
            return self._encoders[key]
        kind = shape.type_name
        if kind == "structure":
            if shape.is_document_type:
                return None
            return self._encode_structure(shape, key)
        if kind == "list":
            return self._encode_list(shape, key)
        if kind == "map":
            return self._encode_map(shape, key)
        encoder = self._scalar_encoder(shape)
        self._encoders[key] = encoder
        return encoder

    def _scalar_encoder(self, shape: Shape) -> Encoder | None:
        kind = shape.type_name
        if kind == "timestamp":
            fmt = str(shape.serialization.get("timestampFormat", "")).lower()
            if fmt == "iso8601":
                return format_iso8601
            if fmt == "rfc822":
                return format_rfc822
            if self.cbor:
                return to_utc
            return format_epoch
        if kind == "blob":
            if self.cbor:
                return lambda v: v.encode() if isinstance(v, str) else bytes(v)
            return b64encode
        if kind in ("float", "double"):
            if self.cbor:
                return float

            def encode_float(value: Any) -> Any:
                number = float(value)
                if math.isfinite(number):
                    return number
                if math.isnan(number):
                    return "NaN"
                return "Infinity" if number > 0 else "-Infinity"

            return encode_float
        # strings, integers and booleans are copied as the provider gave them
        return None

    def _encode_structure(self, shape: Shape, key: str) -> Encoder:
        table: dict[str, tuple[str, Encoder | None]] = {}

        def encode_structure(value: Any) -> Any:
            out = {}
            for name, member_value in value.items():
                if member_value is None:
                    continue
                entry = table.get(name)
                if entry is None:
                    continue
                wire, sub = entry
                out[wire] = member_value if sub is None else sub(member_value)
            return out

        self._encoders[key] = encode_structure
        for name, member in shape.members.items():
            table[name] = (wire_name(member, name), self.encoder(member))
        return encode_structure

    def _encode_list(self, shape: Shape, key: str) -> Encoder:
        fast = self._scalar_list_encoder(shape.member)
        if fast is not None:
            self._encoders[key] = fast
            return fast
        holder: list[Encoder | None] = []

        def encode_list(value: Any) -> Any:
            item = holder[0]
            if item is None:
                return [element for element in value if element is not None]
            return [item(element) for element in value if element is not None]

        self._encoders[key] = encode_list
        holder.append(self.encoder(shape.member))
        return encode_list

    def _scalar_list_encoder(self, member: Shape) -> Encoder | None:
        """Whole-list encoders for lists of doubles and epoch timestamps (GetMetricData
        answers carry 100,800 of each a page): C loops over the list, the per-item
        encoder only for the items that need it; the same document either way."""
        kind = member.type_name
        fmt = str(member.serialization.get("timestampFormat", "")).lower()
        if kind in ("float", "double"):
            item = self._scalar_encoder(member)
            assert item is not None
            cbor = self.cbor

            def encode_doubles(value: Any) -> Any:
                if None in value:
                    value = [element for element in value if element is not None]
                numbers = list(map(float, value))
                if cbor or all(map(math.isfinite, numbers)):
                    return numbers
                return list(map(item, numbers))

            return encode_doubles
        if kind == "timestamp" and fmt not in ("iso8601", "rfc822"):
            one = to_utc if self.cbor else format_epoch
            # the answers of a page share their period starts: each encoded once
            memo: dict[Any, Any] = {}

            def encode_times(value: Any) -> Any:
                if None in value:
                    value = [element for element in value if element is not None]
                try:
                    return list(map(memo.__getitem__, value))
                except (KeyError, TypeError):
                    pass
                if len(memo) + len(value) > _MEMO_LIMIT:
                    memo.clear()
                try:
                    for element in value:
                        if element not in memo:
                            memo[element] = one(element)
                except TypeError:  # an unhashable value: encoded as it comes
                    return list(map(one, value))
                return list(map(memo.__getitem__, value))

            return encode_times
        return None

    def _encode_map(self, shape: Shape, key: str) -> Encoder:
        holder: list[Encoder | None] = []

        def encode_map(value: Any) -> Any:
            item = holder[0]
            if item is None:
                return {str(k): v for k, v in value.items() if v is not None}
            return {str(k): item(v) for k, v in value.items() if v is not None}

        self._encoders[key] = encode_map
        holder.append(self.encoder(shape.value))
        return encode_map
