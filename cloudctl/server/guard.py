"""Connection timeouts of the API listener: slow or stalled clients are shed.

aiohttp closes an idle keep-alive connection but has no limit on how long a client
may take to send its headers or how long a request body may stall, so a slowloris
(headers one byte a second, bodies never finished) holds connections and memory
forever. ``GuardedHandler`` notes when a request's head started and when body bytes
last arrived; one watchdog task per process checks every connection each second:

- head: the request line and headers must be complete within
  ``bootstrap.webservices.header_timeout_sec`` of the connection's start or of the
  request's first byte, else the connection is closed (no answer, as nginx does);
- body: a body whose bytes stopped arriving for
  ``bootstrap.webservices.body_idle_timeout_sec`` while the server was ready to read
  fails with :class:`BodyTimeout` (answered ``400 RequestTimeout`` like S3) and the
  connection is closed a moment later whatever the handler does;
- idle keep-alive: ``bootstrap.webservices.keepalive_timeout_sec`` (aiohttp's own timer).

A client that half-closes after its request (HTTP/1.0 ``nc``) still gets its answer:
aiohttp closes the transport on the first FIN, before the handler has written anything.

Uses aiohttp's ``RequestHandler`` internals (the message queue, the request count,
the reading-paused flags); ``tests/api/test_slow_clients.py`` fails if they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from cloudctl.core import ticks

log = logging.getLogger("cloudctl.server")

WATCH_INTERVAL = 1.0
CLOSE_GRACE = 2.0  # seconds a body-timed-out request has to answer before the socket goes


class BodyTimeout(asyncio.TimeoutError):
    """The request body stalled past ``body_idle_timeout_sec``.

    A ``TimeoutError`` so aiohttp's lingering read after the response ends quietly."""


class GuardedHandler(RequestHandler):
    """aiohttp's protocol with the clocks the watchdog reads."""

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.head_since: float | None = None
        self.body: Any = None  # the payload stream of the request being received
        self.body_seen = 0.0
        self.timed_out_at: float | None = None
        self.half_closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.head_since = self._loop.time()

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        body = self.body
        if body is not None and body.is_eof():
            body = self.body = None
        if body is None:
            if self.head_since is None:
                self.head_since = now
        else:
            self.body_seen = now
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self.head_since = None
            if self._messages:
                payload = self._messages[-1][1]
                self.body = None if payload.is_eof() else payload
                self.body_seen = now

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol's contract
        """The client shut its sending side. HTTP/1.0 clients such as ``nc`` do so once
        their request is out: keep the connection open to write the answer of a request
        already received whole, then close it (no keep-alive). Otherwise (nothing asked,
        or a body cut short) close at once, as aiohttp does."""
        body = self.body
        if body is not None and not body.is_eof():
            return None  # a body cut short: nothing to answer
        # a request received whole and not answered yet: queued, being handled, or taken
        # from the queue by the connection's task but not yet handed to its handler
        if self._messages or self._request_in_progress \
                or (self._waiter is None and self._request_count and self.head_since is None):
            self.keep_alive(False)
            self.half_closed = True
            return True
        return None

    def check(self, now: float, header_timeout: float, body_timeout: float) -> None:
        """Close this connection if a clock ran out (called by the watchdog)."""
        if self.transport is None:
            return
        if self.half_closed and self._waiter is not None and not self._messages \
                and not self._request_in_progress:
            self.force_close()  # answered; a half-closed client sends nothing more
            return
        if self.timed_out_at is not None:
            if now - self.timed_out_at >= CLOSE_GRACE:
                self.force_close()
            return
        body = self.body
        if body is not None:
            if body.is_eof():
                self.body = None
            elif not (self._reading_paused or self._buffer_paused) \
                    and now - self.body_seen > body_timeout:
                log.info("request body from %s stalled for %ds: closing", self.peer(),
                         int(now - self.body_seen))
                self.timed_out_at = now
                self.keep_alive(False)
                body.set_exception(BodyTimeout())
            return
        if self.head_since is not None and not self._messages \
                and not self._request_in_progress and now - self.head_since > header_timeout:
            log.info("headers from %s not complete after %ds: closing", self.peer(),
                     int(now - self.head_since))
            self.force_close()

    def peer(self) -> str:
        peer = self.peername
        return str(peer[0]) if isinstance(peer, tuple) else str(peer or "?")


Timeouts = Callable[[], tuple[float, float, float]]


class GuardedListener:
    """Serves ``runner``'s server on ``sock`` with :class:`GuardedHandler` and a
    watchdog; ``timeouts()`` gives (header, body idle, keep-alive) seconds, read again
    for every connection and every check, so property changes apply at once."""

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, timeouts: Timeouts,
                 **handler_args: Any) -> None:
        self.runner = runner
        self.sock = sock
        self.timeouts = timeouts
        self.handler_args = handler_args
        self._server: asyncio.AbstractServer | None = None
        self._watchdog: asyncio.Task[None] | None = None

    def _protocol(self) -> GuardedHandler:
        manager = self.runner.server
        assert manager is not None
        return GuardedHandler(manager, loop=asyncio.get_running_loop(),
                              keepalive_timeout=self.timeouts()[2], **self.handler_args)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, sock=self.sock, backlog=1024)
        self._watchdog = loop.create_task(self._watch(), name="connection-watchdog")

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        manager = self.runner.server
        assert manager is not None
        while True:
            await ticks.sleep(WATCH_INTERVAL)  # with the property poll: one wake-up a second
            header, body, _ = self.timeouts()
            now = loop.time()
            for conn in list(manager.connections):
                if isinstance(conn, GuardedHandler):
                    try:
                        conn.check(now, header, body)
                    except Exception:  # one odd connection must not stop the watchdog
                        log.exception("connection check failed")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._server is not None:
            self._server.close()
