"""The ``rest-xml`` protocol (S3): operation routing, request parsing, response encoding.

Owns matching method + path + query flags to an operation (``requestUri``
templates with greedy labels, literal query flags, required headers and query
members as tie-breakers), reading every location trait (uri, querystring incl.
lists and maps, header, ``headers`` prefix maps, payload blob/string/structure),
and writing responses (status code, header members, payload or XML body). The
router expects path-style requests: a virtual-hosted bucket must be moved into the
path by the caller. Must not know any service.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from cloudctl.protocol.common import (
    ShapeError,
    b64encode,
    format_epoch,
    format_iso8601,
    format_rfc822,
    parse_bool_text,
    parse_float_text,
    parse_int_text,
    parse_timestamp,
    require_members,
    xml_text,
)
from cloudctl.protocol.wire import WireRequest
from cloudctl.protocol.xmlin import XmlInputCompiler, XmlSyntaxError, parse_xml
from cloudctl.protocol.xmlout import XmlOutputCompiler, member_tag

TextParser = Callable[[str], Any]

# A result key for statuses the model cannot express (S3 GetObject's 206 Partial Content).
HTTP_STATUS_KEY = "__http_status__"


@dataclass
class _Route:
    operation: OperationModel
    method: str
    segments: list[str]
    greedy: bool
    flags: dict[str, str | None]
    required_headers: list[str] = field(default_factory=list)
    required_query: list[str] = field(default_factory=list)


def _split_uri(uri: str) -> tuple[list[str], dict[str, str | None]]:
    path, _, query = uri.partition("?")
    segments = [s for s in path.strip("/").split("/") if s] if path.strip("/") else []
    flags: dict[str, str | None] = {}
    for part in query.split("&") if query else []:
        key, eq, value = part.partition("=")
        if key != "x-id":
            flags[key] = value if eq else None
    return segments, flags


def _text_parser(shape: Shape, location: str) -> TextParser:
    kind = shape.type_name
    if kind in ("integer", "long"):
        return parse_int_text
    if kind in ("float", "double"):
        return parse_float_text
    if kind == "boolean":
        return parse_bool_text
    if kind == "timestamp":
        return parse_timestamp
    if kind == "blob":
        return lambda text: base64.b64decode(text, validate=True)
    if kind == "string" and shape.serialization.get("jsonvalue") and location == "header":

        def parse_json_header(text: str) -> Any:
            try:
                return json.loads(base64.b64decode(text, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ShapeError("type", "expected base64 encoded JSON", text) from exc

        return parse_json_header
    if kind == "list":
        item = _text_parser(shape.member, location)
        if location == "header":
            return lambda text: [item(part.strip().strip('"')) for part in _split_header_list(text)]
        return lambda text: [item(text)]
    return lambda text: text


def _split_header_list(text: str) -> list[str]:
    if '"' not in text:
        return [part for part in text.split(",")]
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _header_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "timestamp":
        fmt = str(shape.serialization.get("timestampFormat", "rfc822")).lower()
        if fmt == "iso8601":
            return format_iso8601(value)
        if fmt == "unixtimestamp":
            return str(format_epoch(value))
        return format_rfc822(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "list":
        return ",".join(_header_text(shape.member, item) for item in value)
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return b64encode(json.dumps(value, separators=(",", ":")))
    if kind == "blob":
        return b64encode(value)
    return str(value)


class RestXmlRouter:
    """Finds the operation for a request among the service's ``requestUri`` templates.

    Routes are grouped by method and by path template, so a request matches each
    distinct template once (S3 has ~100 operations but a handful of templates per
    method) and only then tells the operations of a matching template apart by their
    query flags and required members.
    """

    def __init__(self, model: ServiceModel) -> None:
        self.routes: dict[str, list[_Route]] = {}
        for name in model.operation_names:
            op = model.operation_model(name)
            segments, flags = _split_uri(str(op.http.get("requestUri", "/")))
            greedy = bool(segments) and segments[-1].endswith("+}")
            route = _Route(op, str(op.http.get("method", "POST")), segments, greedy, flags)
            shape = op.input_shape
            if shape is not None:
                for member_name in shape.required_members:
                    member = shape.members[member_name]
                    loc = member.serialization.get("location")
                    wire = str(member.serialization.get("name", member_name))
                    if loc == "header":
                        route.required_headers.append(wire)
                    elif loc == "querystring":
                        route.required_query.append(wire)
            self.routes.setdefault(route.method, []).append(route)
        # per method: (template, its routes, those of them without query flags)
        self._templates: dict[str, list[tuple[_Route, list[_Route], list[_Route]]]] = {}
        for method, routes in self.routes.items():
            groups: dict[tuple[tuple[str, ...], bool], list[_Route]] = {}
            for route in routes:
                groups.setdefault((tuple(route.segments), route.greedy), []).append(route)
            self._templates[method] = [(members[0], members, [r for r in members if not r.flags])
                                       for members in groups.values()]

    def match(self, req: WireRequest) -> tuple[OperationModel, dict[str, str]] | None:
        path = req.path.split("?", 1)[0]
        parts = path[1:].split("/") if path.startswith("/") else path.split("/")
        if parts == [""]:
            parts = []
        query_keys = {key: value for key, value in reversed(req.query)}
        x_id = query_keys.get("x-id")
        best: tuple[tuple[int, int, int], OperationModel, dict[str, str]] | None = None
        for template, routes, unflagged in self._templates.get(req.method.upper(), ()):
            labels = self._match_path(template, parts)
            if labels is None:
                continue
            for route in routes if query_keys else unflagged:
                if any(
                    key not in query_keys or (want is not None and query_keys[key] != want)
                    for key, want in route.flags.items()
                ):
                    continue
                present = sum(1 for h in route.required_headers if req.header(h) is not None)
                present += sum(1 for q in route.required_query if q in query_keys)
                missing = len(route.required_headers) + len(route.required_query) - present
                score = 10 * len(route.flags) + present - 100 * missing
                if x_id is not None and x_id == route.operation.name:
                    score += 1000
                key = (score, 0 if route.operation.deprecated else 1, -len(route.operation.name))
                if best is None or key > best[0]:
                    best = (key, route.operation, labels)
        return None if best is None else (best[1], best[2])

    @staticmethod
    def _match_path(route: _Route, parts: list[str]) -> dict[str, str] | None:
        template = route.segments
        if not route.greedy and len(parts) == len(template) + 1 and parts[-1] == "":
            parts = parts[:-1]
        if route.greedy:
            if len(parts) < len(template):
                return None
        elif len(parts) != len(template):
            return None
        labels: dict[str, str] = {}
        for index, segment in enumerate(template):
            if segment.startswith("{"):
                name = segment.strip("{}+")
                if route.greedy and index == len(template) - 1:
                    value = "/".join(parts[index:])
                else:
                    value = parts[index]
                if not value:
                    return None
                labels[name] = unquote(value, errors="strict")
            elif segment != parts[index]:
                return None
        return labels


class RestXmlRequestParser:
    """Reads all location traits of one operation's input (compiled once per operation)."""

    def __init__(self, op: OperationModel, xml_in: XmlInputCompiler) -> None:
        self.steps: list[Callable[[WireRequest, dict[str, str], dict[str, Any]], None]] = []
        self.required: list[tuple[str, str]] = []
        shape = op.input_shape
        if shape is None:
            return
        claimed_query: set[str] = set(_split_uri(str(op.http.get("requestUri", "")))[1]) | {"x-id"}
        for name, member in shape.members.items():
            ser = member.serialization
            loc = ser.get("location")
            if loc == "querystring" and member.type_name != "map":
                claimed_query.add(str(ser.get("name", name)))
        payload = shape.serialization.get("payload")
        headers: dict[str, tuple[str, str, TextParser]] = {}
        header_maps: list[tuple[str, str]] = []
        for name, member in shape.members.items():
            ser = member.serialization
            loc = ser.get("location")
            wire = str(ser.get("name", name))
            if loc == "uri":
                self.steps.append(self._uri(name, wire, _text_parser(member, "uri")))
            elif loc == "querystring":
                if member.type_name == "map":
                    self.steps.append(self._query_map(name, claimed_query))
                else:
                    self.steps.append(
                        self._query(name, wire, _text_parser(member, "querystring"), member)
                    )
            elif loc == "header":
                headers[wire.lower()] = (name, wire, _text_parser(member, "header"))
            elif loc == "headers":
                header_maps.append((name, wire.lower()))
            elif name == payload:
                self.steps.append(self._payload(name, member, xml_in))
            if name in shape.required_members and (loc or name == payload):
                self.required.append((name, wire))
        if payload is None and any(
            not m.serialization.get("location") for m in shape.members.values()
        ):
            body_parser = xml_in.structure(shape, skip_located=True)

            def parse_body(req: WireRequest, labels: dict[str, str], out: dict[str, Any]) -> None:
                if req.body:
                    out.update(body_parser(_xml_root(req.body)))

            self.steps.append(parse_body)
        if headers or header_maps:
            self.steps.append(self._headers(headers, header_maps))

    def parse(self, req: WireRequest, labels: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for step in self.steps:
            step(req, labels, out)
        require_members(out, self.required)
        return out

    @staticmethod
    def _uri(name: str, wire: str, conv: TextParser) -> Callable[..., None]:
        def parse_uri(req: WireRequest, labels: dict[str, str], out: dict[str, Any]) -> None:
            value = labels.get(wire)
            if value is not None:
                out[name] = _located(conv, value, name, wire)

        return parse_uri

    @staticmethod
    def _query(name: str, wire: str, conv: TextParser, member: Shape) -> Callable[..., None]:
        many = member.type_name == "list"

        def parse_query(req: WireRequest, labels: dict[str, str], out: dict[str, Any]) -> None:
            if many:
                values = [v for k, v in req.query if k == wire]
                if values:
                    out[name] = [_located(conv, v, name, wire)[0] for v in values]
                return
            value = req.query_value(wire)
            if value is not None:
                out[name] = _located(conv, value, name, wire)

        return parse_query

    @staticmethod
    def _query_map(name: str, claimed: set[str]) -> Callable[..., None]:
        def parse_query_map(req: WireRequest, labels: dict[str, str], out: dict[str, Any]) -> None:
            extra = {k: v for k, v in req.query if k not in claimed}
            if extra:
                out[name] = extra

        return parse_query_map

    @staticmethod
    def _headers(members: dict[str, tuple[str, str, TextParser]],
                 maps: list[tuple[str, str]]) -> Callable[..., None]:
        """One pass over the request's headers (a few) instead of a lookup per header
        member of the input (PutObject has ~40): members by lower-case name, the first
        value of a repeated header, and prefix maps (``x-amz-meta-``)."""

        def parse_headers(req: WireRequest, labels: dict[str, str], out: dict[str, Any]) -> None:
            for key, value in req.headers.items():
                lower = key.lower()
                member = members.get(lower)
                if member is not None and member[0] not in out:
                    out[member[0]] = _located(member[2], value, member[0], member[1])
                for name, prefix in maps:
                    if lower.startswith(prefix):
                        out.setdefault(name, {})[lower[len(prefix):]] = value

        return parse_headers

    @staticmethod
    def _payload(name: str, member: Shape, xml_in: XmlInputCompiler) -> Callable[..., None]:
        kind = member.type_name
        if kind in ("blob", "string"):
            as_text = kind == "string"

            def parse_raw(req: WireRequest, labels: dict[str, str], out: dict[str, Any]) -> None:
                if req.stream is not None and not as_text:
                    out[name] = req.stream
                elif as_text:
                    if req.body:
                        try:
                            out[name] = req.body.decode("utf-8")
                        except UnicodeDecodeError as exc:
                            raise ShapeError("type", "body is not UTF-8", None) from exc
                else:
                    out[name] = req.body

            return parse_raw
        parser = xml_in.compile(member)

        def parse_xml_payload(
            req: WireRequest, labels: dict[str, str], out: dict[str, Any]
        ) -> None:
            if req.body:
                out[name] = parser(_xml_root(req.body))

        return parse_xml_payload


class MalformedBody(Exception):
    """The XML body could not be parsed at all."""


def _xml_root(body: bytes) -> Any:
    try:
        return parse_xml(body)
    except XmlSyntaxError as exc:
        raise MalformedBody(str(exc)) from exc


def _located(conv: TextParser, value: str, name: str, wire: str) -> Any:
    try:
        return conv(value)
    except (ShapeError, ValueError, binascii.Error) as exc:
        err = exc if isinstance(exc, ShapeError) else ShapeError("type", str(exc), value)
        err.path.append((name, wire))
        raise err from None


class RestXmlResponseWriter:
    """Writes one operation's output: status, header members, payload or XML body."""

    def __init__(self, op: OperationModel, xml_out: XmlOutputCompiler, namespace: str) -> None:
        self.status_member: str | None = None
        self.headers: list[tuple[str, str, Shape]] = []
        self.header_maps: list[tuple[str, str]] = []
        self.payload: str | None = None
        self.raw_payload = False
        self.body: Callable[[Any, list[str]], None] | None = None
        self.open_tag = ""
        self.close_tag = ""
        shape = op.output_shape
        if shape is None:
            return
        for name, member in shape.members.items():
            ser = member.serialization
            loc = ser.get("location")
            if loc == "statusCode":
                self.status_member = name
            elif loc == "header":
                self.headers.append((name, str(ser.get("name", name)), member))
            elif loc == "headers":
                self.header_maps.append((name, str(ser.get("name", ""))))
        payload = shape.serialization.get("payload")
        if payload is not None:
            self.payload = payload
            member = shape.members[payload]
            if member.type_name in ("blob", "string"):
                self.raw_payload = True
            else:
                tag = member_tag(member, payload)
                writer = xml_out.writer(member, tag)
                self.body = lambda value, out: writer(value.get(payload) or {}, out)
        elif any(not m.serialization.get("location") for m in shape.members.values()):
            root = str(shape.serialization.get("name") or f"{op.name}Result")
            self.open_tag = f'<{root} xmlns="{namespace}">'
            self.close_tag = f"</{root}>"
            self.body = xml_out.body(shape, skip_located=True)
            unlocated = [n for n, m in shape.members.items() if not m.serialization.get("location")]
            if unlocated == [root] and shape.members[root].type_name == "string":
                # the root element is the value itself (S3 GetBucketLocation)
                self.open_tag, self.close_tag = "", ""
                self.body = self._text_root(root, namespace)

    @staticmethod
    def _text_root(root: str, namespace: str) -> Callable[[Any, list[str]], None]:
        def write_text_root(value: Any, out: list[str]) -> None:
            text = value.get(root)
            if text:
                out.append(f'<{root} xmlns="{namespace}">{xml_text(str(text))}</{root}>')
            else:
                out.append(f'<{root} xmlns="{namespace}"/>')

        return write_text_root

    def write(self, result: Any, head: bool) -> tuple[int, dict[str, str], Any]:
        headers: dict[str, str] = {}
        for name, wire, member in self.headers:
            value = result.get(name)
            if value is not None:
                headers[wire] = _header_text(member, value)
        for name, prefix in self.header_maps:
            for key, value in (result.get(name) or {}).items():
                headers[prefix + key] = str(value)
        status = 200
        if self.status_member is not None and result.get(self.status_member) is not None:
            status = int(result[self.status_member])
        elif result.get(HTTP_STATUS_KEY) is not None:
            status = int(result[HTTP_STATUS_KEY])
        body: Any = b""
        if self.raw_payload and self.payload is not None:
            value = result.get(self.payload)
            if isinstance(value, str):
                body = value.encode()
            elif value is not None:
                body = value
        elif self.body is not None and (self.payload is None or result.get(self.payload)):
            out = ['<?xml version="1.0" encoding="UTF-8"?>\n', self.open_tag]
            self.body(result, out)
            out.append(self.close_tag)
            body = "".join(out).encode()
            headers.setdefault("Content-Type", "application/xml")
        if head:
            body = b""
        return status, headers, body
