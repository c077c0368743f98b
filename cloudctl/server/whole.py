"""A complete API answer written to the socket in one piece, without aiohttp's
response object.

Owns the common answer of the query, JSON and CBOR services: a whole body in memory,
to an HTTP/1.1 keep-alive request that is not HEAD, with a status that carries a body.
aiohttp's ``web.Response`` copies the headers into a multidict, prepares them (date,
server, length, connection), serialises them and joins them to the body in four more
calls; here the head is one string and the answer one ``transport.write``, with the
same header lines aiohttp writes (``Content-Length``, ``Date``, ``Server``; no
``Connection`` on a keep-alive HTTP/1.1 exchange). Anything else (S3's answers and
hooks, HEAD, HTTP/1.0, ``Connection: close``, 1xx/204/304, a header carrying a line
break, which aiohttp refuses) is left to :func:`answer`'s ``web.Response``.

Relies on what aiohttp's ``RequestHandler.finish_response`` asks of a response:
``prepare(request)``, ``write_eof()`` and ``keep_alive`` (``tests/unit/test_server_whole.py``
fails if that changes).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import cast

from aiohttp import HttpVersion11, web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE

_REASONS = {status.value: status.phrase for status in HTTPStatus}
# headers aiohttp sets itself (or a service would make it frame differently)
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "date", "server"})
_HEAD_METHOD = "HEAD"


class WholeResponse:
    """One answer with its body, written by ``prepare`` in one ``transport.write``."""

    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = True

    @property
    def body_length(self) -> int:
        """Bytes of body written (0 before ``prepare``, as aiohttp's response)."""
        return 0

    async def prepare(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            # what aiohttp's writer raises: the handler's loop ends without an answer
            raise ConnectionResetError("Cannot write to closing transport")
        body = self.body
        head = [f"HTTP/1.1 {self.status} {_REASONS[self.status]}\r\n"]
        head.extend(f"{name}: {value}\r\n" for name, value in self.headers.items())
        head.append(f"Content-Length: {len(body)}\r\nDate: {rfc822_formatted_time()}\r\n"
                    f"Server: {SERVER_SOFTWARE}\r\n\r\n")
        transport.write("".join(head).encode() + body)
        if transport.get_write_buffer_size():  # the socket took part: wait while paused
            await request.writer.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def _plain_headers(headers: dict[str, str]) -> bool:
    """Whether aiohttp would write these headers as given (``str`` names and values,
    no line break) and adds none that change the framing."""
    if "Content-Type" not in headers:
        return False  # aiohttp would add application/octet-stream: left to it
    for name, value in headers.items():
        if name.__class__ is not str or value.__class__ is not str:
            return False
        if name.lower() in _FRAMING or "\r" in value or "\n" in value or "\r" in name \
                or "\n" in name:
            return False
    return True


def answer(request: web.BaseRequest, status: int, headers: dict[str, str],
           body: bytes) -> web.StreamResponse:
    """The response of a whole body: written in one piece when the exchange is the
    plain one (see the module docstring), else aiohttp's ``web.Response``."""
    if request.version == HttpVersion11 and request.method != _HEAD_METHOD \
            and 200 <= status < 600 and status not in (204, 304) and status in _REASONS \
            and request.keep_alive and _plain_headers(headers):
        return cast(web.StreamResponse, WholeResponse(status, headers, body))
    return web.Response(status=status, headers=headers, body=body)
