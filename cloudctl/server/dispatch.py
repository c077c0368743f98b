"""The request pipeline: route, authenticate, parse, authorise, call, serialize.

Every failure becomes the AWS error of the service's protocol; an unexpected
exception is logged with the request id (never with secrets) and answered as
``InternalFailure`` without a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import os
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from cloudctl.auth.verify import authenticate
from cloudctl.db import readpool
from cloudctl.errors import (
    AwsError,
    DryRunOperation,
    InternalFailure,
    NotImplementedOperation,
    RequestEntityTooLarge,
)
from cloudctl.properties import definitions as core_props
from cloudctl.protocol import codec_for
from cloudctl.protocol.wire import WireRequest, WireResponse
from cloudctl.server import memory, router, sendfile, whole
from cloudctl.server.cloud import Cloud
from cloudctl.server.context import RequestContext
from cloudctl.server.encoding import decoded_body
from cloudctl.server.guard import BodyTimeout
from cloudctl.server.regions import serving_region
from cloudctl.server.runtime import EARLY_READ, Completed

log = logging.getLogger("cloudctl.api")

# an authenticated upload's read buffer (aiohttp pauses the socket at twice this);
# before authentication a connection holds at most twice app.READ_BUFSIZE
UPLOAD_BUFSIZE = 1 << 20


class _AiohttpStream:
    """Adapts aiohttp's body reader to ``BodyStream``."""

    def __init__(self, request: web.BaseRequest) -> None:
        self._content = request.content

    async def read(self, n: int = -1) -> bytes:
        return await self._content.read(n)


class _RequestIds:
    """Request ids shaped like UUIDs: a random 64-bit prefix per process (drawn again in
    a forked worker) and a counter. Unique without a random draw per request."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        prefix = os.urandom(8).hex()
        self._prefix = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big") << 16)

    def __call__(self) -> str:
        value = next(self._counter)
        return f"{self._prefix}{value >> 48 & 0xFFFF:04x}-{value & 0xFFFFFFFFFFFF:012x}"


_new_request_id = _RequestIds()


@functools.lru_cache(maxsize=16)
def _skew(seconds: int) -> timedelta:
    """The clock skew allowed, as a ``timedelta`` (made once per property value)."""
    return timedelta(seconds=seconds)


def _too_large(service: str, limit: int) -> AwsError:
    if service == "s3":  # S3's answer to an oversized (non-upload) request document
        return AwsError("Your request was too big.", code="MaxMessageLengthExceeded",
                        status=400, MaxMessageLengthBytes=limit)
    return RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes.")


async def _read_body(request: web.BaseRequest, limit: int, service: str) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(service, limit)
    content = request.content
    if content.is_eof():
        # the whole body is already buffered (a small request arrives in one read):
        # taken at once, without the chunk iterator's coroutine per chunk
        body = content.read_nowait()  # raises the stream's exception, if it has one
        if len(body) > limit:
            raise _too_large(service, limit)
        return body
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise _too_large(service, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _wire(request: web.BaseRequest) -> WireRequest:
    raw_path = request.raw_path
    path, _, raw_query = raw_path.partition("?")
    return WireRequest(
        method=request.method,
        path=path,
        raw_query=raw_query,
        headers=request.headers,
        host=request.host,
        remote=request.remote or "",
        scheme=request.scheme,
    )


async def _to_response(wire_response: WireResponse, request: web.BaseRequest,
                       request_id: str = "-", route: router.Route | None = None
                       ) -> web.StreamResponse:
    body = wire_response.body
    if body.__class__ is bytes and route is not None and route.service != "s3":
        # S3's answers (HEAD, its hooks' headers, access logs) keep aiohttp's response
        return whole.answer(request, wire_response.status, wire_response.headers,
                            body)  # type: ignore[arg-type]
    if isinstance(body, bytes | bytearray):
        return web.Response(status=wire_response.status, headers=wire_response.headers, body=body)
    response = web.StreamResponse(status=wire_response.status, headers=wire_response.headers)
    try:
        await _stream(response, body, request)
    except ConnectionError:
        # the client went away mid-body (a GET read in part): not a server fault; aiohttp
        # finishes the prepared response quietly
        log.info("%s: client closed connection after %d bytes", request_id,
                 response.body_length)
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    return response


def _has_sendfile(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop.sendfile`` is the loop's own (asyncio's selector loop); uvloop's is
    ``AbstractEventLoop``'s, which raises ``NotImplementedError``."""
    return type(loop).sendfile is not asyncio.AbstractEventLoop.sendfile


async def _stream(response: web.StreamResponse, body: Any, request: web.BaseRequest) -> None:
    await response.prepare(request)
    span = getattr(body, "file_span", lambda: None)()
    loop = asyncio.get_running_loop()
    if span is not None and request.transport is not None:
        # a blob in a local file (S3 GET): the kernel copies it to the socket, in
        # loop.sendfile on asyncio's loop, on a thread on uvloop's (it has none)
        if _has_sendfile(loop):
            with os.fdopen(os.dup(span[0]), "rb") as source:
                await loop.sendfile(request.transport, source, span[1], span[2])
        else:
            await sendfile.send_span(request.transport, span[0], span[1], span[2])
        await body.aclose()
        await response.write_eof()
        return
    async for chunk in body:
        await response.write(chunk)
    await response.write_eof()


async def handle(cloud: Cloud, request: web.BaseRequest) -> web.StreamResponse:
    """Serve one API request end to end."""
    started = time.perf_counter()
    request_id = _new_request_id()
    wire = _wire(request)
    for hook in cloud.hooks:
        answered = await hook.intercept(wire, request, request_id)
        if answered is not None:
            return await _to_response(answered, request)
    route: router.Route | None = None
    protocol: str | None = None
    caller = "-"
    operation = "-"
    codec = None
    ctx: RequestContext | None = None
    params: dict[str, Any] = {}
    error_code: str | None = None
    try:
        max_query = int(cloud.properties.get(core_props.MAX_QUERY_BYTES))
        if len(wire.raw_query) > max_query:
            raise RequestEntityTooLarge(f"Query string exceeds the limit of {max_query} bytes.")
        route = router.resolve(wire)
        limit = int(cloud.properties.get(core_props.MAX_REQUEST_BYTES))
        for hook in cloud.hooks:
            if hook.streams_body(route, wire):
                wire.stream = _AiohttpStream(request)
                break
        else:
            wire.body = await _read_body(request, limit, route.service)
            if route.service == "s3" and _looks_like_query_form(wire):
                fields = dict(parse_qsl(wire.body.decode("utf-8", "replace"), keep_blank_values=True))
                route = router.resolve(wire, fields)
        codec = codec_for(route.service)
        protocol = codec.detect_protocol(wire)
        skew = _skew(int(cloud.properties.get(core_props.CLOCK_SKEW)))
        early = _early_read(cloud, route, wire)  # runs while the request is authenticated
        auth = await authenticate(
            wire, cloud.credentials, service=router.SIGNING_NAMES.get(route.service, route.service),
            clock_skew=skew, protocol=protocol, virtual_host_bucket=route.virtual_host_bucket)
        credential = auth.credential
        if wire.stream is not None:
            request.content.set_read_chunk_size(UPLOAD_BUFSIZE)
        if credential is not None:
            caller = credential.principal_arn
        if route.service != "s3" and wire.body:
            wire.body = decoded_body(wire.header("Content-Encoding"), wire.body, limit)
        parse_wire = replace(wire, path=route.path) if route.path != wire.path else wire
        parsed = codec.parse(parse_wire)
        protocol = parsed.protocol
        operation = parsed.operation.name
        params = parsed.params
        ctx = RequestContext(
            request_id=request_id,
            service=route.service,
            operation=operation,
            region=serving_region(cloud, route.service, auth.region or route.scope_region),
            credential=credential,
            wire=parse_wire,
            source_ip=wire.remote,
        )
        ctx.extra["auth"] = auth
        if early is not None:
            ctx.extra[EARLY_READ] = early
        reads = readpool.reading(operation)  # a read's sessions: the read pool
        try:
            await cloud.authorizer.authorize(ctx, parsed)
            handler = cloud.handler(route.service, operation)
            if handler is None:
                raise NotImplementedOperation(
                    f"The operation {operation} is not implemented by this cloud.",
                )
            for check in cloud.authorizations(route.service, operation):
                await check(ctx, parsed.params)
            if parsed.params.get("DryRun") is True and route.service == "ec2":
                # the one DryRun check of every EC2 operation: authorised, implemented,
                # not done
                raise DryRunOperation("Request would have succeeded, but DryRun flag is set.")
            result = await handler(ctx, parsed.params)
        finally:
            readpool.done(reads)
        wire_response = codec.serialize(parsed, result, request_id)
    except AwsError as error:
        error_code = error.code
        wire_response = _error(codec, route, error, request_id, protocol)
    except BodyTimeout:
        wire_response = _error(codec, route, AwsError(REQUEST_TIMEOUT, code="RequestTimeout"),
                               request_id, protocol)
    except Exception as exc:
        if client_gone(request, exc):
            # nobody to answer, nothing broken: one line, no traceback
            log.info("%s %s %s %s aborted by the client after %.1fms", request_id,
                     route.service if route else "-", operation, caller,
                     (time.perf_counter() - started) * 1000)
            drop_frames(exc)
            memory.collect_soon()
            return web.Response(status=400)
        log.exception("request %s (%s %s) failed", request_id,
                      route.service if route else "?", operation)
        drop_frames(exc)
        wire_response = _error(codec, route, InternalFailure(
            "We encountered an internal error. Please try again."), request_id, protocol)
    wire_response.headers.setdefault("x-amzn-RequestId", request_id)
    if route is not None:
        for hook in cloud.hooks:
            await hook.decorate(route, wire, request, request_id, wire_response)
    response = await _to_response(wire_response, request, request_id, route)
    if route is not None and cloud.hooks:
        done = Completed(route=route, wire=wire if ctx is None else ctx.wire, ctx=ctx,
                         params=params, status=wire_response.status, error_code=error_code,
                         headers=response.headers, bytes_sent=response.body_length,
                         started=started, request_id=request_id)
        for hook in cloud.hooks:
            hook.completed(done)
    if cloud.properties.get(core_props.LOG_REQUESTS):
        log.info("%s %s %s %s %d %.1fms", request_id, route.service if route else "-",
                 operation, caller, wire_response.status, (time.perf_counter() - started) * 1000)
    return response


def _early_read(cloud: Cloud, route: router.Route, wire: WireRequest) -> object | None:
    """The read a hook starts before authentication for the handler (None: none)."""
    for hook in cloud.hooks:
        early = hook.early_read(route, wire)
        if early is not None:
            return early
    return None


REQUEST_TIMEOUT = ("Your socket connection to the server was not read from or written to "
                   "within the timeout period. Idle connections will be closed.")


def drop_frames(exc: BaseException | None) -> None:
    """Cut the tracebacks of ``exc`` and its causes. The exception a failed body read
    raises is also kept by the body stream (its ``exception()``); its traceback holds the
    frames of the request, which hold the stream: a cycle that kept each aborted
    upload's buffers until a full garbage collection."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def client_gone(request: web.BaseRequest, exc: BaseException) -> bool:
    """Whether ``exc`` is the client hanging up (the connection is closed, or reading the
    body failed because it was), not a fault of the server."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return True
    return isinstance(exc, ConnectionResetError | web.RequestPayloadError)


def _looks_like_query_form(wire: WireRequest) -> bool:
    content_type = (wire.header("Content-Type") or "").lower()
    return wire.method == "POST" and content_type.startswith("application/x-www-form-urlencoded")


def error_response(route: router.Route | None, error: AwsError,
                   request_id: str) -> WireResponse:
    """``error`` in the envelope of ``route``'s service (for request hooks)."""
    return _error(None, route, error, request_id, None)


def _error(codec: object, route: router.Route | None, error: AwsError, request_id: str,
           protocol: str | None) -> WireResponse:
    if isinstance(error, router.UnknownService):
        return _unknown_service(error, request_id)
    if codec is None:
        codec = codec_for(route.service if route else "s3")
    response: WireResponse = codec.serialize_error(error, request_id, protocol)  # type: ignore[attr-defined]
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


def _unknown_service(error: router.UnknownService, request_id: str) -> WireResponse:
    """A service the cloud does not run, in the envelope its client parses: a JSON error
    for the JSON protocols (no model here to serialize it from), else a query error."""
    if not error.json:
        response: WireResponse = codec_for("sts").serialize_error(error, request_id, None)
        return response
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    return WireResponse(status=error.status, headers={
        "Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": error.code,
        "x-amzn-RequestId": request_id}, body=body)
