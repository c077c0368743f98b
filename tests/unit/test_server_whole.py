"""An answer written in one piece (``cloudctl.server.whole``) is byte for byte what
aiohttp's ``web.Response`` writes, keeps the connection alive, and is used only for
the plain exchange."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from cloudctl.server import whole

BODY = b"<?xml version='1.0'?><A>\xc3\xa9</A>"
HEADERS = {"x-amzn-RequestId": "rid-1", "Content-Type": "text/xml"}
seen: list[str] = []


async def _handler(request: web.BaseRequest) -> web.StreamResponse:
    headers = dict(HEADERS)
    if request.path == "/aiohttp":
        return web.Response(status=200, headers=headers, body=BODY)
    if request.path == "/broken":
        headers["x-bad"] = "a\r\nInjected: 1"
    response = whole.answer(request, 404 if request.path == "/missing" else 200, headers, BODY)
    seen.append(type(response).__name__)
    return response


async def _exchange(raw: bytes, reads: int = 1) -> bytes:
    server = await asyncio.get_running_loop().create_server(
        lambda: web.Server(_handler)(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        got = b""
        for _ in range(reads):
            got += await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
        return got
    finally:
        server.close()


def _undated(raw: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: -\r\n", raw)


def test_the_answer_is_aiohttps_bytes_and_the_connection_stays_open() -> None:
    seen.clear()
    request = b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"
    ours = asyncio.run(_exchange(request % b"whole"))
    theirs = asyncio.run(_exchange(request % b"aiohttp"))
    assert _undated(ours) == _undated(theirs)
    assert ours.startswith(b"HTTP/1.1 200 OK\r\n") and ours.endswith(BODY)
    assert seen == ["WholeResponse"]
    missing = asyncio.run(_exchange(request % b"missing"))
    assert missing.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"Content-Length: %d\r\n" % len(BODY) in missing
    two = asyncio.run(_exchange(request % b"whole" + request % b"whole", reads=2))
    if two.count(b"HTTP/1.1 200") < 2:  # the second answer may come in its own read
        two += asyncio.run(_exchange(request % b"whole" + request % b"whole", reads=2))
    assert two.count(b"HTTP/1.1 200 OK") >= 2


def test_head_http10_close_and_line_breaks_are_left_to_aiohttp() -> None:
    seen.clear()
    head = asyncio.run(_exchange(b"HEAD /whole HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert head.endswith(b"\r\n\r\n") and BODY not in head
    old = asyncio.run(_exchange(b"GET /whole HTTP/1.0\r\nHost: x\r\n\r\n"))
    assert old.startswith(b"HTTP/1.0 200 OK")
    close = asyncio.run(_exchange(b"GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert b"Connection: close\r\n" in close
    broken = asyncio.run(_exchange(b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert b"Injected: 1" not in broken
    assert seen == ["Response"] * 4
