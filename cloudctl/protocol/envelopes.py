"""Error envelopes per wire protocol, and validation failures mapped to AWS error codes.

Owns the shape of an error on the wire (query ``ErrorResponse``, EC2
``Response/Errors``, S3 ``Error`` with extra fields, JSON/CBOR ``__type`` with the
``x-amzn-query-error`` header for query-compatible services) and the translation of
a ``ShapeError`` into the code and message each protocol's AWS services answer.
Must not know any service.
"""

from __future__ import annotations

import json
from typing import Any

import cbor2

from cloudctl.errors import (
    AwsError,
    InvalidParameterValue,
    MissingParameter,
    SerializationException,
    ValidationError,
)
from cloudctl.protocol.common import ShapeError, xml_text
from cloudctl.protocol.wire import WireResponse

XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
CBOR_PROTOCOL = "smithy-rpc-v2-cbor"


def _show(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= 256 else text[:256] + "..."


def validation_error(protocol: str, exc: ShapeError) -> AwsError:
    """The AWS error a service speaking ``protocol`` answers for an invalid input."""
    path = exc.member_path() or "input"
    wire = exc.wire_path() or "input"
    if protocol == "ec2":
        if exc.kind == "missing":
            return MissingParameter(f"The request must contain the parameter {wire}")
        if exc.kind == "type":
            return InvalidParameterValue(f"Invalid value '{_show(exc.value)}' for {wire}")
        return InvalidParameterValue(
            f"Value ({_show(exc.value)}) for parameter {wire} is invalid. {exc.detail}"
        )
    if protocol == "rest-xml":
        if exc.kind == "missing":
            return AwsError(
                f"Missing required parameter {wire}", code="InvalidRequest", ArgumentName=wire
            )
        return AwsError(
            f"Invalid value for {wire}: {exc.detail}",
            code="InvalidArgument",
            ArgumentName=wire,
            ArgumentValue=_show(exc.value),
        )
    constraint = (
        f"Value null at '{path}' failed to satisfy constraint: {exc.detail}"
        if exc.kind == "missing"
        else f"Value '{_show(exc.value)}' at '{path}' failed to satisfy constraint: {exc.detail}"
    )
    if protocol == "query":
        if exc.kind == "type":
            return InvalidParameterValue(
                f"Invalid value '{_show(exc.value)}' for {wire}: {exc.detail}"
            )
        return ValidationError(f"1 validation error detected: {constraint}")
    if exc.kind == "type":
        return SerializationException(f"Unable to read '{path}': {exc.detail}")
    return AwsError(f"1 validation error detected: {constraint}", code="ValidationException")


def _base_headers(error: AwsError, request_id: str) -> dict[str, str]:
    headers = {"x-amzn-RequestId": request_id}
    headers.update(error.headers)
    return headers


def query_error(error: AwsError, request_id: str, namespace: str) -> WireResponse:
    fault = "Sender" if error.sender_fault else "Receiver"
    body = (
        f'{XML_DECL}<ErrorResponse xmlns="{xml_text(namespace)}"><Error><Type>{fault}</Type>'
        f"<Code>{xml_text(error.code)}</Code><Message>{xml_text(error.message)}</Message>"
        f"{_fields_xml(error)}</Error><RequestId>{xml_text(request_id)}</RequestId></ErrorResponse>"
    )
    headers = _base_headers(error, request_id)
    headers["Content-Type"] = "text/xml"
    return WireResponse(error.status, headers, body.encode())


def ec2_error(error: AwsError, request_id: str) -> WireResponse:
    body = (
        f"{XML_DECL}<Response><Errors><Error><Code>{xml_text(error.code)}</Code>"
        f"<Message>{xml_text(error.message)}</Message>{_fields_xml(error)}</Error></Errors>"
        f"<RequestID>{xml_text(request_id)}</RequestID></Response>"
    )
    headers = _base_headers(error, request_id)
    headers["Content-Type"] = "text/xml;charset=UTF-8"
    return WireResponse(error.status, headers, body.encode())


def s3_error(error: AwsError, request_id: str, head: bool = False) -> WireResponse:
    headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id}
    headers.update(error.headers)
    if head:
        return WireResponse(error.status, headers, b"")
    body = (
        f"{XML_DECL}<Error><Code>{xml_text(error.code)}</Code>"
        f"<Message>{xml_text(error.message)}</Message>{_fields_xml(error)}"
        f"<RequestId>{xml_text(request_id)}</RequestId><HostId>{xml_text(request_id)}</HostId></Error>"
    )
    headers["Content-Type"] = "application/xml"
    return WireResponse(error.status, headers, body.encode())


def _fields_xml(error: AwsError) -> str:
    parts = []
    for name, value in error.fields.items():
        if value is None or not name.isidentifier():
            continue
        parts.append(f"<{name}>{xml_text(str(value))}</{name}>")
    return "".join(parts)


def _document(error: AwsError) -> dict[str, Any]:
    doc: dict[str, Any] = {"__type": error.code, "message": error.message}
    for name, value in error.fields.items():
        if value is not None and name not in doc:
            doc[name] = value if isinstance(value, str | int | float | bool) else str(value)
    return doc


def _document_headers(error: AwsError, request_id: str, query_compatible: bool) -> dict[str, str]:
    headers = _base_headers(error, request_id)
    headers["x-amzn-ErrorType"] = error.code
    if query_compatible:
        fault = "Sender" if error.sender_fault else "Receiver"
        headers["x-amzn-query-error"] = f"{error.code};{fault}"
    return headers


def json_error(
    error: AwsError, request_id: str, json_version: str, query_compatible: bool
) -> WireResponse:
    headers = _document_headers(error, request_id, query_compatible)
    headers["Content-Type"] = f"application/x-amz-json-{json_version}"
    body = json.dumps(_document(error), separators=(",", ":")).encode()
    return WireResponse(error.status, headers, body)


def cbor_error(error: AwsError, request_id: str, query_compatible: bool) -> WireResponse:
    headers = _document_headers(error, request_id, query_compatible)
    headers["Content-Type"] = "application/cbor"
    headers["smithy-protocol"] = "rpc-v2-cbor"
    return WireResponse(error.status, headers, cbor2.dumps(_document(error)))
