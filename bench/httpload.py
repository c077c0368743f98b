"""A lean HTTP/1.1 load generator for the API benches, in the manner of ``wrk``.

A capacity bench must not be limited by its client: an aiohttp client session spends
about as much CPU a request as the server it measures, and on a machine of two cores
the clients then take the core the server would use. Here each connection is an
``asyncio.Protocol`` sending pre-encoded requests (signed once, before the run) one
after another on a keep-alive connection and reading each answer by its
``Content-Length``: a few tens of microseconds of client CPU a request.

Every answer's status is checked (anything but 200 stops the run with the answer) and
its latency recorded. Only what the API benches need: answers framed by
``Content-Length`` (the query, JSON and CBOR services' answers), no chunked bodies.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

Signed = tuple[str, bytes, dict[str, str]]  # URL, body, headers


def encode(url: str, body: bytes | str, headers: dict[str, str],
           method: str = "POST") -> bytes:
    """A signed request as the bytes an HTTP/1.1 client writes (keep-alive)."""
    if isinstance(body, str):
        body = body.encode()
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1"]
    names = {name.lower() for name in headers}
    if "host" not in names:
        lines.append(f"Host: {parts.netloc}")
    lines += [f"{name}: {value}" for name, value in headers.items()
              if name.lower() != "content-length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection posting the next request as each answer arrives.
    ``done`` is True when the run's time is up, False when the server ended the
    connection after an answer (``Connection: close``, as moto's server does): the
    caller opens another."""

    def __init__(self, requests: Iterator[bytes], stop_at: float, latencies: list[float],
                 done: asyncio.Future[bool]) -> None:
        self.requests = requests
        self.stop_at = stop_at
        self.latencies = latencies
        self.done = done
        self.buffer = bytearray()
        self.sent = 0.0
        self.waiting = False  # a request is out, its answer not whole yet
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.time() >= self.stop_at:
            self._end(True)
            return
        self.sent = time.perf_counter()
        self.waiting = True
        self.transport.write(next(self.requests))

    def _end(self, finished: bool) -> None:
        if not self.done.done():
            self.done.set_result(finished)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end])
        length, close = _framing(head)
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return
        if head[9:12] != b"200":
            self._fail(RuntimeError(f"answer {bytes(self.buffer[:end])!r}"))
            return
        if len(self.buffer) > end:
            self._fail(RuntimeError("an answer came that was not asked for"))
            return
        self.latencies.append(time.perf_counter() - self.sent)
        self.waiting = False
        self.buffer.clear()
        if close:
            self._end(False)
        else:
            self._send()

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if self.waiting:
            self.done.set_exception(exc or ConnectionError("closed by the server mid-answer"))
        else:
            self.done.set_result(False)


def _framing(head: bytes) -> tuple[int, bool]:
    """An answer head's Content-Length and whether it closes the connection."""
    length: int | None = None
    close = head.startswith(b"HTTP/1.0")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length is None:
        raise RuntimeError(f"an answer without Content-Length: {head!r}")
    return length, close


async def run(endpoint: str, requests: Sequence[bytes], connections: int,
              stop_at: float) -> list[float]:
    """``connections`` connections to ``endpoint`` posting ``requests`` in turn until
    the wall-clock ``stop_at``; the answers' latencies in seconds."""
    parts = urlsplit(endpoint)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    cycle = itertools.cycle(requests)

    async def slot() -> None:
        while True:
            done: asyncio.Future[bool] = loop.create_future()
            await loop.create_connection(
                lambda done=done: _Connection(cycle, stop_at, latencies, done),  # type: ignore[misc]
                parts.hostname or "127.0.0.1", parts.port or 80)
            if await done:
                return

    await asyncio.gather(*(slot() for _ in range(connections)))
    return latencies
