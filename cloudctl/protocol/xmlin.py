"""Compiled XML decoders for ``rest-xml`` request bodies (S3 bucket configuration etc.).

Owns turning a parsed ElementTree element into plain data for an input shape:
structures by child element name (namespaces ignored), flattened and wrapped
lists, ``entry``/``key``/``value`` maps, XML attributes (``xsi:type``), and scalar
text. Each shape is compiled once. Also owns the guarded XML parse itself: expat
driven directly, whose DOCTYPE handler refuses the document at the first ``<!DOCTYPE``
the parser meets, after decoding the body per its BOM or encoding declaration (a
byte search would miss ``<\0!\0D\0O...`` in UTF-16), so no DTD, entity declaration
or entity expansion ever runs. Must not know any service.
"""

from __future__ import annotations

from typing import Any, NoReturn
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from botocore.model import Shape

from cloudctl.protocol.common import (
    Parser,
    ShapeError,
    b64decode,
    constraint_checker,
    parse_bool_text,
    parse_float_text,
    parse_int_text,
    parse_timestamp,
    require_members,
    with_checks,
)


class XmlSyntaxError(Exception):
    """The body is not well-formed XML (or declares a DOCTYPE)."""


def _refuse_dtd(*_args: Any) -> NoReturn:
    raise XmlSyntaxError("DOCTYPE is not allowed")


def _qualified(name: str) -> str:
    """expat's ``uri}local`` as ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


def parse_xml(body: bytes) -> Element:
    """The root element of ``body``; XmlSyntaxError when malformed or carrying a DTD."""
    builder = TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(_qualified(tag), {_qualified(k): v for k, v in attrs.items()})

    def end(tag: str) -> None:
        builder.end(_qualified(tag))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        root = builder.close()
    except expat.ExpatError as exc:
        raise XmlSyntaxError(str(exc)) from exc
    except (AssertionError, LookupError, ValueError) as exc:  # no root, unknown encoding
        raise XmlSyntaxError(str(exc)) from exc
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


def _text(elem: Any) -> str:
    if not isinstance(elem, Element):
        raise ShapeError("type", "expected an element", None)
    if len(elem):
        raise ShapeError("type", "expected text, found elements", None)
    return elem.text or ""


class XmlInputCompiler:
    """Compiles input shapes into parsers of ElementTree elements."""

    def __init__(self) -> None:
        self._cache: dict[str, Parser] = {}

    def compile(self, shape: Shape) -> Parser:
        cached = self._cache.get(shape.name)
        if cached is not None:
            return cached
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        parser: Parser
        if kind in ("integer", "long"):

            def parser(elem: Any) -> Any:
                return parse_int_text(_text(elem))

        elif kind in ("float", "double"):

            def parser(elem: Any) -> Any:
                return parse_float_text(_text(elem))

        elif kind == "boolean":

            def parser(elem: Any) -> Any:
                return parse_bool_text(_text(elem).strip())

        elif kind == "timestamp":

            def parser(elem: Any) -> Any:
                return parse_timestamp(_text(elem).strip())

        elif kind == "blob":

            def parser(elem: Any) -> Any:
                return b64decode(_text(elem).strip())

        else:
            parser = _text
        parser = with_checks(parser, constraint_checker(shape, False))
        self._cache[shape.name] = parser
        return parser

    def structure(self, shape: Shape, skip_located: bool = False) -> Parser:
        """Parser for a structure element; ``skip_located`` drops uri/header members."""
        table: dict[str, tuple[str, Parser, int]] = {}
        attributes: list[tuple[str, str]] = []
        required: list[tuple[str, str]] = []

        def parse_structure(elem: Any) -> Any:
            if not isinstance(elem, Element):
                raise ShapeError("type", "expected an element", None)
            out: dict[str, Any] = {}
            for child in elem:
                tag = local_name(child.tag)
                entry = table.get(tag)
                if entry is None:
                    continue
                name, sub, flat = entry
                try:
                    if flat == 1:
                        out.setdefault(name, []).append(sub(child))
                    elif flat == 2:
                        out.setdefault(name, {}).update(sub(child))
                    else:
                        out[name] = sub(child)
                except ShapeError as exc:
                    exc.path.append((name, tag))
                    raise
            for name, attr in attributes:
                for key, value in elem.attrib.items():
                    if local_name(key) == attr:
                        out[name] = value
            require_members(out, required)
            return out

        if not skip_located:
            self._cache[shape.name] = parse_structure
        for name, member in shape.members.items():
            ser = member.serialization
            if skip_located and ser.get("location"):
                continue
            if ser.get("xmlAttribute"):
                attributes.append((name, str(ser.get("name", name)).split(":")[-1]))
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                tag = str(member.member.serialization.get("name") or ser.get("name", name))
                table[tag] = (name, self.compile(member.member), 1)
            else:
                flat = 2 if member.type_name == "map" and ser.get("flattened") else 0
                table[str(ser.get("name", name))] = (name, self.compile(member), flat)
        for name in shape.required_members:
            member = shape.members[name]
            if skip_located and member.serialization.get("location"):
                continue
            required.append((name, str(member.serialization.get("name", name))))
        return parse_structure

    def _list(self, shape: Shape) -> Parser:
        holder: list[Parser] = []

        def parse_list(elem: Any) -> Any:
            item = holder[0]
            out = []
            for index, child in enumerate(elem, 1):
                try:
                    out.append(item(child))
                except ShapeError as exc:
                    exc.path.append((str(index), str(index)))
                    raise
            return out

        self._cache[shape.name] = parse_list
        holder.append(self.compile(shape.member))
        return parse_list

    def _map(self, shape: Shape) -> Parser:
        key_tag = str(shape.key.serialization.get("name") or "key")
        value_tag = str(shape.value.serialization.get("name") or "value")
        flattened = bool(shape.serialization.get("flattened"))
        holder: list[Parser] = []

        def parse_entry(entry: Element, out: dict[Any, Any]) -> None:
            key_parser, value_parser = holder
            key: Any = None
            value: Any = None
            for part in entry:
                tag = local_name(part.tag)
                if tag == key_tag:
                    key = key_parser(part)
                elif tag == value_tag:
                    value = value_parser(part)
            if key is None:
                raise ShapeError("missing", "Member must not be null")
            out[key] = value

        def parse_map(elem: Any) -> Any:
            out: dict[Any, Any] = {}
            if flattened:
                parse_entry(elem, out)
            else:
                for entry in elem:
                    parse_entry(entry, out)
            return out

        self._cache[shape.name] = parse_map
        holder.append(self.compile(shape.key))
        holder.append(self.compile(shape.value))
        return parse_map
