"""The service codec: one object per service that parses requests and writes responses.

Owns the public API of the protocol layer: ``codec_for(service)`` (cached per
service) returning a ``ServiceCodec`` with ``parse``, ``serialize``,
``serialize_error`` and ``detect_protocol``. It loads the pinned botocore model,
picks the protocol of each request (a service may speak several, e.g. CloudWatch:
CBOR, JSON and query), finds the operation, and runs the parsers and writers that
the per-protocol compilers built once per shape. Must not know any service beyond
what its model says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import botocore.session
import cbor2
import orjson
from botocore.exceptions import UnknownServiceError
from botocore.model import OperationModel, ServiceModel

from cloudctl.errors import AwsError, InvalidAction, MalformedQueryString, SerializationException
from cloudctl.protocol import envelopes
from cloudctl.protocol.common import ShapeError, xml_text
from cloudctl.protocol.form import is_form, query_parameters
from cloudctl.protocol.jsonlike import DocumentCompiler, Encoder
from cloudctl.protocol.query import QueryInputCompiler, build_tree
from cloudctl.protocol.restxml import (
    MalformedBody,
    RestXmlRequestParser,
    RestXmlResponseWriter,
    RestXmlRouter,
)
from cloudctl.protocol.wire import ParsedRequest, WireRequest, WireResponse
from cloudctl.protocol.xmlin import XmlInputCompiler
from cloudctl.protocol.xmlout import Writer, XmlOutputCompiler

CBOR = envelopes.CBOR_PROTOCOL


# ``json.dumps(document, separators=(",", ":"))`` without a new encoder a call (dumps
# makes one whenever an argument is not its default)
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


class UnknownOperation(InvalidAction):
    """An unknown operation on a JSON/CBOR service (AWS answers this code there)."""

    code = "UnknownOperationException"


class MissingAction(InvalidAction):
    code = "MissingAction"


@lru_cache(maxsize=1)
def _session() -> botocore.session.Session:
    """A botocore session that also sees the cloud's own models (Properties, Empyrean)."""
    session = botocore.session.get_session()
    models = str(Path(__file__).resolve().parent.parent / "models")
    session.get_component("data_loader").search_paths.insert(0, models)
    return session


@cache
def service_model(service_name: str) -> ServiceModel:
    """The pinned botocore model of a service (EC2 always answers with 2016-11-15)."""
    try:
        return _session().get_service_model(service_name)
    except UnknownServiceError as exc:
        raise KeyError(service_name) from exc


@cache
def codec_for(service_name: str) -> ServiceCodec:
    """The codec of a botocore service name (``ec2``, ``iam``, ``s3``, ``cloudwatch``...)."""
    return ServiceCodec(service_model(service_name))


def detect_protocol(req: WireRequest, service_name: str | None = None) -> str:
    """The protocol a request speaks, for errors raised before the service is known."""
    if service_name is not None:
        try:
            return codec_for(service_name).detect_protocol(req)
        except KeyError:
            pass
    if _looks_cbor(req):
        return CBOR
    if _looks_json(req):
        return "json"
    if req.query_value("Action") is not None or is_form(req):
        return "ec2" if service_name == "ec2" else "query"
    return "rest-xml"


def _looks_cbor(req: WireRequest) -> bool:
    return req.header("smithy-protocol") == "rpc-v2-cbor" or (
        req.path.startswith("/service/") and "/operation/" in req.path
    )


def _looks_json(req: WireRequest) -> bool:
    if req.header("X-Amz-Target") is not None:
        return True
    return (req.header("Content-Type") or "").startswith("application/x-amz-json")


# A body with fewer than this many ``[`` and ``{`` nests no deeper: json's parse, whose
# depth limit is the interpreter's recursion limit less the stack in use (~950 here),
# takes it as orjson does (depth <= 1024); a body with more goes to json alone
ORJSON_OPENERS = 512


def decode_json(body: bytes) -> Any:
    """A JSON request body, answered exactly as ``json.loads`` answers it: orjson's
    parse (~2x faster) where it agrees, the standard library's otherwise. json accepts
    what orjson refuses (NaN and Infinity, integers past 64 bits, numbers past a double:
    1e400 is inf, lone surrogate escapes, UTF-16/32, a UTF-8 byte order mark): on
    orjson's refusal json parses (and raises what it raised). orjson accepts nesting
    json refuses (up to 1024 levels): a body that could nest that deep skips orjson."""
    if body.count(b"[") + body.count(b"{") < ORJSON_OPENERS:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


class ServiceCodec:
    """Parses requests to and writes responses from one service, in any of its protocols."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        meta = model.metadata
        self.service_name = model.service_name
        self.default_protocol = str(meta.get("protocol"))
        self.protocols: list[str] = list(meta.get("protocols") or [self.default_protocol])
        self.namespace = str(
            meta.get("xmlNamespace")
            or f"http://{meta.get('endpointPrefix')}.amazonaws.com/doc/{meta.get('apiVersion')}/"
        )
        if not self.namespace.endswith("/"):
            self.namespace += "/"
        self.json_version = str(meta.get("jsonVersion", "1.0"))
        self.target_prefix = str(meta.get("targetPrefix", ""))
        self.query_compatible = "awsQueryCompatible" in meta
        self.operations: dict[str, OperationModel] = {}
        for name in model.operation_names:
            self.operations[name] = model.operation_model(name)
        ec2 = self.default_protocol == "ec2"
        self._query_in = QueryInputCompiler(ec2=ec2, check_enums=not ec2)
        self._json = DocumentCompiler(cbor=False)
        self._cbor = DocumentCompiler(cbor=True)
        self._xml_out = XmlOutputCompiler()
        self._xml_in = XmlInputCompiler()
        self._router: RestXmlRouter | None = None
        self._rest_in: dict[str, RestXmlRequestParser] = {}
        self._rest_out: dict[str, RestXmlResponseWriter] = {}
        self._xml_envelopes: dict[str, tuple[str, str, str, Writer | None]] = {}
        self._doc_out: dict[tuple[str, str], Encoder | None] = {}
        self._accepted: dict[str, Callable[[Any], dict[str, Any] | None]] = {}

    # ------------------------------------------------------------ dispatch
    def operation(self, name: str, protocol: str | None = None) -> OperationModel:
        op = self.operations.get(name)
        if op is None:
            shown = name if len(name) <= 128 else name[:128] + "..."
            message = f"The action {shown} is not valid for this web service."
            if (protocol or self.default_protocol) in ("json", CBOR):
                raise UnknownOperation(message)
            raise InvalidAction(message)
        return op

    def accept(self, name: str, check: Callable[[Any], dict[str, Any] | None]) -> None:
        """Let ``check`` take operation ``name``'s decoded JSON documents before the
        model's parse: what it returns (it may be the document itself) is the input, and
        must be what the parse would give; None hands the document to the parse. A
        service's usual call read in one pass (CloudWatch's PutMetricData)."""
        self._accepted[name] = check

    def detect_protocol(self, req: WireRequest) -> str:
        protocols = self.protocols
        if len(protocols) == 1:
            return protocols[0]
        if CBOR in protocols and _looks_cbor(req):
            return CBOR
        if "json" in protocols and _looks_json(req):
            return "json"
        for candidate in ("query", "ec2", "rest-xml"):
            if candidate in protocols:
                return candidate
        return self.default_protocol

    def parse(self, req: WireRequest) -> ParsedRequest:
        """The operation and its input as plain data; raises AwsError (4xx) otherwise."""
        protocol = self.detect_protocol(req)
        try:
            if protocol in ("query", "ec2"):
                return self._parse_query(req, protocol)
            if protocol == "json":
                return self._parse_json(req)
            if protocol == CBOR:
                return self._parse_cbor(req)
            if protocol == "rest-xml":
                return self._parse_rest_xml(req)
        except ShapeError as exc:
            raise envelopes.validation_error(protocol, exc) from None
        except RecursionError:
            raise self._malformed(protocol, "The request is nested too deeply.") from None
        raise AwsError(f"Protocol {protocol} is not supported.", code="InvalidRequest")

    def _malformed(self, protocol: str, message: str) -> AwsError:
        if protocol in ("json", CBOR):
            return SerializationException(message)
        if protocol == "rest-xml":
            return AwsError(message, code="MalformedXML")
        return MalformedQueryString(message)

    # --------------------------------------------------------- query / ec2
    def _parse_query(self, req: WireRequest, protocol: str) -> ParsedRequest:
        # the very parameters SigV2 signed (form.py): form body only, each name once
        tree = build_tree(query_parameters(req))
        action = tree.get("Action")
        if not isinstance(action, str) or not action:
            raise MissingAction("The request must contain the parameter Action.")
        op = self.operation(action, protocol)
        shape = op.input_shape
        params = self._query_in.compile(shape)(tree) if shape is not None else {}
        return ParsedRequest(op, params, protocol)

    def _xml_envelope(
        self, op: OperationModel, protocol: str
    ) -> tuple[str, str, str, Writer | None]:
        cached = self._xml_envelopes.get(op.name)
        if cached is not None:
            return cached
        name = op.name
        shape = op.output_shape
        writer = self._xml_out.body(shape) if shape is not None else None
        decl = envelopes.XML_DECL
        if protocol == "ec2":
            head = f'{decl}<{name}Response xmlns="{self.namespace}"><requestId>'
            middle = "</requestId>"
            tail = f"</{name}Response>" if writer else f"<return>true</return></{name}Response>"
        else:
            wrapper = shape.serialization.get("resultWrapper") if shape is not None else None
            head = f'{decl}<{name}Response xmlns="{self.namespace}">'
            if wrapper:
                head += f"<{wrapper}>"
            middle = ""
            tail = (f"</{wrapper}>" if wrapper else "") + "<ResponseMetadata><RequestId>"
        result = (head, middle, tail, writer)
        self._xml_envelopes[op.name] = result
        return result

    def _serialize_query(self, parsed: ParsedRequest, result: Any, request_id: str) -> WireResponse:
        op = parsed.operation
        head, middle, tail, writer = self._xml_envelope(op, parsed.protocol)
        rid = xml_text(request_id)
        if parsed.protocol == "ec2":
            out = [head, rid, middle]
            if writer is not None:
                writer(result, out)
            out.append(tail)
        else:
            out = [head]
            if writer is not None:
                writer(result, out)
            out.append(tail)
            out.append(rid)
            out.append(f"</RequestId></ResponseMetadata></{op.name}Response>")
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        return WireResponse(200, headers, "".join(out).encode())

    # ---------------------------------------------------------- json / cbor
    def _parse_json(self, req: WireRequest) -> ParsedRequest:
        target = req.header("X-Amz-Target") or ""
        prefix, _, name = target.rpartition(".")
        if not name:
            raise UnknownOperation("The request must contain the X-Amz-Target header.")
        op = self.operation(name, "json")
        try:
            body = req.body
            document = decode_json(body) if body and not body.isspace() else {}
        except (ValueError, RecursionError) as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc}") from None
        check = self._accepted.get(name)
        if check is not None:
            params = check(document)
            if params is not None:
                return ParsedRequest(op, params, "json")
        return ParsedRequest(op, self._document_params(op, document, self._json), "json")

    def _parse_cbor(self, req: WireRequest) -> ParsedRequest:
        parts = req.path.split("?", 1)[0].split("/")
        if len(parts) != 5 or parts[1] != "service" or parts[3] != "operation":
            raise UnknownOperation("The request path must be /service/<Service>/operation/<Op>.")
        op = self.operation(parts[4], CBOR)
        try:
            document = cbor2.loads(req.body) if req.body else {}
        except Exception as exc:  # cbor2 raises several unrelated types on garbage
            raise SerializationException(f"The request body is not valid CBOR: {exc}") from None
        return ParsedRequest(op, self._document_params(op, document, self._cbor), CBOR)

    @staticmethod
    def _document_params(op: OperationModel, document: Any, compiler: DocumentCompiler) -> Any:
        shape = op.input_shape
        if shape is None:
            if not isinstance(document, dict):
                raise ShapeError("type", "expected a structure", document)
            return {}
        params: dict[str, Any] = compiler.parser(shape)(document)
        return params

    def _serialize_document(
        self, parsed: ParsedRequest, result: Any, request_id: str
    ) -> WireResponse:
        op = parsed.operation
        cbor = parsed.protocol == CBOR
        key = (op.name, parsed.protocol)
        if key not in self._doc_out:
            compiler = self._cbor if cbor else self._json
            shape = op.output_shape
            self._doc_out[key] = compiler.encoder(shape) if shape is not None else None
        encoder = self._doc_out[key]
        document = encoder(result) if encoder is not None else {}
        headers = {"x-amzn-RequestId": request_id}
        if cbor:
            headers["Content-Type"] = "application/cbor"
            headers["smithy-protocol"] = "rpc-v2-cbor"
            body = cbor2.dumps(document, datetime_as_timestamp=True)
        else:
            headers["Content-Type"] = f"application/x-amz-json-{self.json_version}"
            body = _compact_json(document).encode()
        return WireResponse(200, headers, body)

    # ------------------------------------------------------------- rest-xml
    def _parse_rest_xml(self, req: WireRequest) -> ParsedRequest:
        if self._router is None:
            self._router = RestXmlRouter(self.model)
        try:
            found = self._router.match(req)
        except UnicodeDecodeError:
            raise AwsError("Couldn't parse the specified URI.", code="InvalidURI") from None
        if found is None:
            raise AwsError(
                "The specified method is not allowed against this resource.",
                code="MethodNotAllowed",
                status=405,
                Method=req.method,
                ResourceType="OBJECT" if req.path.count("/") > 1 else "BUCKET",
            )
        op, labels = found
        parser = self._rest_in.get(op.name)
        if parser is None:
            parser = self._rest_in[op.name] = RestXmlRequestParser(op, self._xml_in)
        try:
            params = parser.parse(req, labels)
        except MalformedBody:
            raise AwsError(
                "The XML you provided was not well-formed or did not validate against our "
                "published schema",
                code="MalformedXML",
            ) from None
        return ParsedRequest(op, params, "rest-xml")

    def _serialize_rest_xml(
        self, parsed: ParsedRequest, result: Any, request_id: str
    ) -> WireResponse:
        op = parsed.operation
        writer = self._rest_out.get(op.name)
        if writer is None:
            writer = self._rest_out[op.name] = RestXmlResponseWriter(
                op, self._xml_out, self.namespace
            )
        method = str(op.http.get("method", ""))
        status, headers, body = writer.write(result, head=method == "HEAD")
        if method == "DELETE" and status == 200 and not body:
            status = 204
        headers["x-amz-request-id"] = request_id
        headers["x-amz-id-2"] = request_id
        return WireResponse(status, headers, body)

    # ---------------------------------------------------------- responses
    def serialize(self, parsed: ParsedRequest, result: Any, request_id: str) -> WireResponse:
        """The success response for ``result`` (plain data keyed by output member names)."""
        protocol = parsed.protocol
        if result is None:
            result = {}
        if protocol in ("query", "ec2"):
            return self._serialize_query(parsed, result, request_id)
        if protocol in ("json", CBOR):
            return self._serialize_document(parsed, result, request_id)
        return self._serialize_rest_xml(parsed, result, request_id)

    def serialize_error(
        self,
        error: AwsError,
        request_id: str,
        protocol: str | None = None,
        method: str | None = None,
    ) -> WireResponse:
        """The error envelope of ``protocol`` (default: the service's main protocol)."""
        protocol = protocol or self.default_protocol
        if protocol == "ec2":
            return envelopes.ec2_error(error, request_id)
        if protocol == "query":
            return envelopes.query_error(error, request_id, self.namespace)
        if protocol == "json":
            return envelopes.json_error(error, request_id, self.json_version, self.query_compatible)
        if protocol == CBOR:
            return envelopes.cbor_error(error, request_id, self.query_compatible)
        return envelopes.s3_error(error, request_id, head=(method or "").upper() == "HEAD")
