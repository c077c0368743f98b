"""netd's metadata proxy on loopback, in process, before a real upstream HTTP server:
an IMDSv2 token response leaves with the IP TTL the server names (the hop limit),
the hop-limit header never reaches the instance, other responses keep the default
TTL, and a token request carrying X-Forwarded-For is refused without reaching the
upstream."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from netd import mdproxy


class _Recorder:
    """The proxy's writer, recording the socket's IP TTL when the proxy closes it."""

    def __init__(self, writer: asyncio.StreamWriter, ttls: list[int]) -> None:
        self._writer, self._ttls = writer, ttls

    def close(self) -> None:
        sock = self._writer.get_extra_info("socket")
        self._ttls.append(sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
        self._writer.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


async def _scenario() -> tuple[list[bytes], list[bytes], list[int]]:
    seen: list[bytes] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        token = head.startswith(b"PUT")
        extra = b"X-Cloud-Metadata-Hop-Limit: 1\r\n" if token else b""
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + extra + b"\r\ntoken")
        await writer.drain()
        writer.close()

    up = await asyncio.start_server(upstream, "127.0.0.1", 0)
    up_port = up.sockets[0].getsockname()[1]
    ttls: list[int] = []

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await mdproxy.handle(f"tcp:127.0.0.1:{up_port}", reader,
                             _Recorder(writer, ttls))  # type: ignore[arg-type]

    proxy = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    answers: list[bytes] = []
    for request in (b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60"
                    b"\r\n\r\n",
                    b"GET /latest/meta-data/ HTTP/1.1\r\n\r\n",
                    b"PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        answers.append(await reader.read())
        writer.close()
    await asyncio.sleep(0.1)
    for server in (proxy, up):
        server.close()
        await server.wait_closed()
    return seen, answers, ttls


def test_token_ttl_and_forwarded_refusal() -> None:
    seen, answers, ttls = asyncio.run(_scenario())
    with socket.socket() as probe:
        default = probe.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
    assert answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b"token")
    assert b"hop-limit" not in answers[0].lower()
    assert answers[1].startswith(b"HTTP/1.1 200")
    assert answers[2].startswith(b"HTTP/1.1 403")
    assert ttls == [1, default, default]
    assert len(seen) == 2 and all(b"X-Forwarded-For: 127.0.0.1" in h for h in seen)
