"""An S3 GET of a file blob on uvloop (which has no ``loop.sendfile``) is still the
kernel's copy (``cloudctl.server.sendfile``): every byte of the span, after the
headers; a client that stops reading or goes away ends it with a ConnectionError."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvloop
from aiohttp import web

from cloudctl.server import dispatch, sendfile

DATA = os.urandom(3 * 1024 * 1024 + 17)


def _blob() -> int:
    with tempfile.TemporaryFile() as handle:
        handle.write(DATA)
        handle.flush()
        return os.dup(handle.fileno())


def _pair(sndbuf: int = 16384) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    a.setblocking(False)
    return a, b


def test_a_span_reaches_a_slow_reader_whole() -> None:
    fd = _blob()
    a, b = _pair()
    got = bytearray()

    def read() -> None:
        while chunk := b.recv(65536):
            got.extend(chunk)
            time.sleep(0.0005)  # slower than the writer: the copy meets a full socket

    reader = threading.Thread(target=read)
    reader.start()
    sent = sendfile.copy_span(a.fileno(), fd, 1000, len(DATA) - 2000, idle=5)
    a.close()
    reader.join(10)
    os.close(fd)
    b.close()
    assert sent == len(DATA) - 2000
    assert bytes(got) == DATA[1000:-1000]


def test_a_client_that_stops_reading_ends_the_copy() -> None:
    fd = _blob()
    a, b = _pair()
    started = time.monotonic()
    with pytest.raises(ConnectionAbortedError):
        sendfile.copy_span(a.fileno(), fd, 0, len(DATA), idle=0.3)
    assert time.monotonic() - started < 3
    for end in (a, b):
        end.close()
    os.close(fd)


def test_a_client_gone_ends_the_copy() -> None:
    fd = _blob()
    a, b = _pair()
    b.close()
    with pytest.raises(ConnectionError):
        sendfile.copy_span(a.fileno(), fd, 0, len(DATA), idle=5)
    a.close()
    os.close(fd)


class _FileBody:
    """A body as storagectl's file blob gives it: a span, chunks, aclose."""

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd, self.offset, self.count = fd, offset, count

    def file_span(self) -> tuple[int, int, int]:
        return self.fd, self.offset, self.count

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield os.pread(self.fd, self.count, self.offset)

    async def aclose(self) -> None:
        os.close(self.fd)


def test_a_get_on_uvloop_is_the_kernels_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    copies: list[int] = []
    real = sendfile.copy_span

    def counted(*args: Any) -> int:
        copies.append(args[3])
        return real(*args)

    monkeypatch.setattr(sendfile, "copy_span", counted)
    count = len(DATA) - 5

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": str(count)})
        await dispatch._stream(response, _FileBody(_blob(), 5, count), request)
        return response

    async def exchange() -> bytes:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, uvloop.Loop)
        server = await loop.create_server(lambda: web.Server(handler)(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /b/k HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = await asyncio.wait_for(reader.readexactly(count), 10)
            writer.close()
            return head + body
        finally:
            server.close()
            await server.wait_closed()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        got = runner.run(exchange())
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == DATA[5:]
    assert copies == [count]
