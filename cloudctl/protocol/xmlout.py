"""Compiled XML encoders for output shapes (``query``, ``ec2`` and ``rest-xml`` bodies).

Owns turning plain provider data into XML text. Each (shape, element name) pair is
compiled once into a closure that appends string fragments to a list; a request
only runs closures (no shape walking, no ElementTree). Member element names follow
botocore's reading rules (``locationName``, flattened lists named after their
member, ``item``/``member`` wrappers, ``entry``/``key``/``value`` maps, XML
attributes and namespaces). ``None`` members are omitted, keys the shape does not
know are ignored. Must not know any service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from cloudctl.protocol.common import b64encode, timestamp_formatter, xml_text
from cloudctl.protocol.xmlgen import BOOL as _BOOL
from cloudctl.protocol.xmlgen import CALL as _CALL
from cloudctl.protocol.xmlgen import INT as _INT
from cloudctl.protocol.xmlgen import LIST as _LIST
from cloudctl.protocol.xmlgen import STRING as _STRING
from cloudctl.protocol.xmlgen import STRUCT as _STRUCT
from cloudctl.protocol.xmlgen import TIME as _TIME
from cloudctl.protocol.xmlgen import RawWriter, compile_body, compile_raw_body, needs_escape

#: writes one element (its tags included) for a value into the fragment list
Writer = Callable[[Any, list[str]], None]

# how a structure's member is written (``XmlOutputCompiler._member``): a kind (one of
# ``xmlgen``'s), two texts (tags, or the true/false elements, or the empty list) and a
# writer/formatter
_Member = tuple[int, str, str, Any]


def _ns_attr(shape: Shape) -> str:
    ns = shape.serialization.get("xmlNamespace")
    if ns is None:
        return ""
    if isinstance(ns, str):
        return f' xmlns="{xml_text(ns)}"'
    prefix = ns.get("prefix")
    name = f"xmlns:{prefix}" if prefix else "xmlns"
    return f' {name}="{xml_text(str(ns.get("uri", "")))}"'


def member_tag(member: Shape, name: str) -> str:
    """The element name botocore expects for a structure member."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        item_name = member.member.serialization.get("name")
        if item_name:
            return str(item_name)
    return str(member.serialization.get("name", name))


def _empty_list(shape: Shape, tag: str) -> str:
    """What an empty list member is written as."""
    if shape.serialization.get("flattened"):
        return ""
    # EC2 leaves out the tagSet of a resource without tags (boto3 shows no "Tags")
    if shape.name == "TagList" and tag == "tagSet":
        return ""
    return f"<{tag}{_ns_attr(shape)}/>"


def _has_attributes(shape: Shape) -> bool:
    """Whether a structure writes members as XML attributes of its element."""
    return any(sub.serialization.get("xmlAttribute") for sub in shape.members.values())


class XmlOutputCompiler:
    """Compiles and caches XML writers; one instance per service model."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], Writer] = {}
        self._bodies: dict[str, Writer] = {}
        self._raw_bodies: dict[str, RawWriter | None] = {}

    def writer(self, shape: Shape, tag: str) -> Writer:
        ser = shape.serialization
        traits = f"{ser.get('xmlNamespace')}|{ser.get('timestampFormat')}|{ser.get('flattened')}"
        key = (shape.name, tag, traits)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape, tag, key)
        if kind == "list":
            return self._list(shape, tag, key)
        if kind == "map":
            return self._map(shape, tag, key)
        writer = self._scalar(shape, tag)
        self._cache[key] = writer
        return writer

    def _scalar(self, shape: Shape, tag: str) -> Writer:
        kind = shape.type_name
        open_tag = f"<{tag}{_ns_attr(shape)}>"
        close_tag = f"</{tag}>"
        if kind in ("string", "character"):

            def write_string(value: Any, out: list[str]) -> None:
                text = xml_text(value if isinstance(value, str) else str(value))
                out.append(f"{open_tag}{text}{close_tag}")

            return write_string
        if kind == "boolean":
            true_text = f"{open_tag}true{close_tag}"
            false_text = f"{open_tag}false{close_tag}"

            def write_bool(value: Any, out: list[str]) -> None:
                out.append(true_text if value else false_text)

            return write_bool
        if kind in ("integer", "long"):

            def write_int(value: Any, out: list[str]) -> None:
                out.append(f"{open_tag}{int(value)}{close_tag}")

            return write_int
        if kind in ("float", "double"):

            def write_float(value: Any, out: list[str]) -> None:
                out.append(f"{open_tag}{float(value)!r}{close_tag}")

            return write_float
        if kind == "timestamp":
            fmt = timestamp_formatter(shape, "iso8601")

            def write_timestamp(value: Any, out: list[str]) -> None:
                out.append(f"{open_tag}{fmt(value)}{close_tag}")  # digits and separators

            return write_timestamp
        if kind == "blob":

            def write_blob(value: Any, out: list[str]) -> None:
                out.append(f"{open_tag}{b64encode(value)}{close_tag}")

            return write_blob

        def write_other(value: Any, out: list[str]) -> None:
            out.append(f"{open_tag}{xml_text(str(value))}{close_tag}")

        return write_other

    def body(self, shape: Shape, skip_located: bool = False) -> Writer:
        """A writer of the structure's members only (no wrapping element), in the
        shape's order: compiled to one function (``xmlgen``) once the members' writers
        exist; a recursive shape's own members reach it through a forwarder."""
        cache_key = f"{shape.name}|{skip_located}"
        cached = self._bodies.get(cache_key)
        if cached is not None:
            return cached
        compiled: list[Writer] = []

        def forward(value: Any, out: list[str]) -> None:
            compiled[0](value, out)

        self._bodies[cache_key] = forward  # what a member of the same shape writes with
        members: list[tuple[str, _Member]] = []
        for name, member in shape.members.items():
            ser = member.serialization
            if ser.get("xmlAttribute"):
                continue
            if skip_located and ser.get("location"):
                continue
            members.append((name, self._member(member, member_tag(member, name))))
        compiled.append(compile_body(members))
        self._bodies[cache_key] = compiled[0]
        self._raw_bodies[cache_key] = compile_raw_body(members)
        return compiled[0]

    def _member(self, member: Shape, tag: str) -> _Member:
        """How ``write_members`` writes one member: inline for the common kinds."""
        kind = member.type_name
        open_tag = f"<{tag}{_ns_attr(member)}>"
        close_tag = f"</{tag}>"
        if kind in ("string", "character"):
            return (_STRING, open_tag, close_tag, None)
        if kind in ("integer", "long"):
            return (_INT, open_tag, close_tag, None)
        if kind == "boolean":
            return (_BOOL, f"{open_tag}true{close_tag}", f"{open_tag}false{close_tag}", None)
        if kind == "timestamp":
            return (_TIME, open_tag, close_tag, timestamp_formatter(member, "iso8601"))
        writer = self.writer(member, tag)
        if kind == "list":
            return (_LIST, _empty_list(member, tag), "", writer)
        if kind == "structure" and not _has_attributes(member):
            return (_STRUCT, open_tag, close_tag, self.body(member))
        return (_CALL, "", "", writer)

    def _structure(self, shape: Shape, tag: str, key: tuple[str, str, str]) -> Writer:
        ns = _ns_attr(shape)
        open_plain = f"<{tag}{ns}>"
        close_tag = f"</{tag}>"
        attributes: list[tuple[str, str]] = [
            (name, str(member.serialization["name"]))
            for name, member in shape.members.items()
            if member.serialization.get("xmlAttribute")
        ]
        body_holder: list[Writer] = []

        def write_structure(value: Any, out: list[str]) -> None:
            if attributes:
                attrs = "".join(
                    f' {attr}="{xml_text(str(value[name]))}"'
                    for name, attr in attributes
                    if value.get(name) is not None
                )
                out.append(f"<{tag}{ns}{attrs}>")
            else:
                out.append(open_plain)
            body_holder[0](value, out)
            out.append(close_tag)

        self._cache[key] = write_structure
        body_holder.append(self.body(shape))
        return write_structure

    def _list(self, shape: Shape, tag: str, key: tuple[str, str, str]) -> Writer:
        member = shape.member
        if shape.serialization.get("flattened"):
            holder: list[Writer] = []

            def write_flat(value: Any, out: list[str]) -> None:
                item = holder[0]
                for element in value:
                    item(element, out)

            self._cache[key] = write_flat
            holder.append(self.writer(member, tag))
            return write_flat
        open_tag = f"<{tag}{_ns_attr(shape)}>"
        close_tag = f"</{tag}>"
        empty = _empty_list(shape, tag)
        item_tag = str(member.serialization.get("name", "member"))
        wrapped: list[Writer] = []
        scalar = _scalar_list_text(member, item_tag)
        if scalar is not None:

            def write_scalars(value: Any, out: list[str]) -> None:
                if not value:
                    out.append(empty)
                    return
                out.append(open_tag)
                out.append(scalar(value))
                out.append(close_tag)

            self._cache[key] = write_scalars
            return write_scalars

        if member.type_name == "structure" and not _has_attributes(member):
            # a list of plain structures (a page of users): each item's tags written
            # here and its members by the body writer, without a writer call between;
            # items of text, numbers, flags and times are written unescaped first and
            # their texts checked at once (written again, escaped, if one needs it)
            item_open, item_close = f"<{item_tag}{_ns_attr(member)}>", f"</{item_tag}>"
            bodies: list[Writer] = []
            raws: list[RawWriter | None] = []

            def write_structures(value: Any, out: list[str]) -> None:
                if not value:
                    out.append(empty)
                    return
                append = out.append
                raw = raws[0]
                if raw is not None:
                    start = len(out)
                    texts: list[str] = []
                    seen = texts.append
                    append(open_tag)
                    for element in value:
                        append(item_open)
                        raw(element, out, seen)
                        append(item_close)
                    append(close_tag)
                    if not needs_escape("".join(texts)):
                        return
                    del out[start:]
                body = bodies[0]
                append(open_tag)
                for element in value:
                    append(item_open)
                    body(element, out)
                    append(item_close)
                append(close_tag)

            self._cache[key] = write_structures
            bodies.append(self.body(member))
            raws.append(self._raw_bodies.get(f"{member.name}|False"))
            return write_structures

        def write_list(value: Any, out: list[str]) -> None:
            if not value:
                out.append(empty)
                return
            item = wrapped[0]
            out.append(open_tag)
            for element in value:
                item(element, out)
            out.append(close_tag)

        self._cache[key] = write_list
        wrapped.append(self.writer(member, item_tag))
        return write_list

    def _map(self, shape: Shape, tag: str, key: tuple[str, str, str]) -> Writer:
        key_tag = str(shape.key.serialization.get("name") or "key")
        value_tag = str(shape.value.serialization.get("name") or "value")
        flattened = bool(shape.serialization.get("flattened"))
        entry_open = f"<{tag}>" if flattened else "<entry>"
        entry_close = f"</{tag}>" if flattened else "</entry>"
        open_tag = f"<{tag}{_ns_attr(shape)}>"
        close_tag = f"</{tag}>"
        subs: list[Writer] = []

        def write_map(value: Any, out: list[str]) -> None:
            key_writer, value_writer = subs
            if not flattened:
                out.append(open_tag)
            for map_key, map_value in value.items():
                out.append(entry_open)
                key_writer(map_key, out)
                if map_value is not None:
                    value_writer(map_value, out)
                out.append(entry_close)
            if not flattened:
                out.append(close_tag)

        self._cache[key] = write_map
        subs.append(self.writer(shape.key, key_tag))
        subs.append(self.writer(shape.value, value_tag))
        return write_map


#: timestamps a list writer remembers (a 1-minute GetMetricData page has 100,800)
_MEMO_LIMIT = 1 << 18


def _scalar_list_text(member: Shape, item_tag: str) -> Callable[[Any], str] | None:
    """The items of a list of doubles or timestamps as one text, written by C loops
    (GetMetricData answers carry 100,800 of each a page); None for other lists."""
    kind = member.type_name
    if member.serialization.get("xmlNamespace") or kind not in ("float", "double",
                                                                 "timestamp"):
        return None
    open_item, close_item = f"<{item_tag}>", f"</{item_tag}>"
    between = close_item + open_item
    if kind != "timestamp":

        def doubles(value: Any) -> str:
            return f"{open_item}{between.join(map(repr, map(float, value)))}{close_item}"

        return doubles
    fmt = timestamp_formatter(member, "iso8601")
    memo: dict[Any, str] = {}  # the answers of a page share their period starts

    def times(value: Any) -> str:
        try:
            texts = list(map(memo.__getitem__, value))
        except (KeyError, TypeError):
            if len(memo) + len(value) > _MEMO_LIMIT:
                memo.clear()
            try:
                for element in value:
                    if element not in memo:
                        memo[element] = fmt(element)
                texts = list(map(memo.__getitem__, value))
            except TypeError:  # an unhashable value: formatted as it comes
                texts = list(map(fmt, value))
        return f"{open_item}{between.join(texts)}{close_item}"

    return times
