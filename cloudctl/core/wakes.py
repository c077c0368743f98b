"""Wake-ups that cross processes and hosts: an API call's ``wake(key)`` reaches the
process that leads the controller kind, wherever it runs.

A wake is a hint: it is sent after the request's transaction, never waited for, and a
lost one costs only time (the leader's periodic resync finds every key in the
database). So sending never blocks or fails a request: a message that cannot go out
now is dropped.

Two channels, chosen by the database (one per process, ``install`` at start):

- PostgreSQL (one or many hosts): ``pg_notify('cloud_wake', '<kind>:<key>')`` through a
  pooled connection, in a task of its own (after the caller's transaction); every
  process that runs controllers ``LISTEN``s on a connection of its own, and the one
  that leads ``kind`` acts (the others, standbys, drop the message).
- SQLite (one host, one or more workers): a unix datagram socket in the data
  directory (``run/wake.sock``) that the controller worker binds; other workers send to
  it without waiting (a full or missing socket drops the message).

The key ``*`` asks for a full resync of the kind. Receivers are the running
controllers of this process, by kind (``register``; ``Reconciler.run`` does it).

A process outside the running cloud that edits its database (an admin command such as
``cloudctl node register``) sends its wakes the same way, on a channel of its own that
only sends, flushed before it exits (``sending``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "cloud_wake"
ALL = "*"  # the key of a full resync; as the kind: every controller of the process
MAX_PAYLOAD = 4000  # bytes; PostgreSQL takes up to 8000, a datagram far more
MAX_PENDING = 10000  # messages waiting for the next send; more are dropped (hints)
RECONNECT = 1.0  # seconds before the listener connects again

Receiver = Callable[[str | None], None]  # a key, or None: resync everything


class Channel(Protocol):
    """How this process's wakes reach other processes (and theirs reach it)."""

    def send(self, kind: str, key: str | None) -> None:
        """Queue a wake of ``kind`` (``key`` None: a full resync); never blocks, never
        raises."""

    def start(self) -> None:
        """Start listening (a process that runs controllers) and sending."""

    async def flush(self) -> None:
        """Wait until the wakes queued so far are sent (or given up); never raises."""

    async def close(self) -> None:
        """Stop listening and drop what was not sent."""


_receivers: dict[str, Receiver] = {}
_channel: Channel | None = None


def register(kind: str, receiver: Receiver) -> None:
    """``receiver`` takes the wakes of ``kind`` sent by other processes."""
    _receivers[kind] = receiver


def unregister(kind: str, receiver: Receiver) -> None:
    if _receivers.get(kind) == receiver:  # bound methods: equal, not identical
        del _receivers[kind]


def install(channel: Channel | None) -> None:
    """Make ``channel`` the process's channel (None: wakes stay in the process)."""
    global _channel
    _channel = channel


def forward(kind: str, key: str | None) -> None:
    """Send a wake of ``kind`` to the process that leads it (best effort)."""
    if _channel is None:
        return
    try:
        _channel.send(kind, key)
    except Exception as exc:  # a hint: never the caller's failure
        log.debug("wake of %s:%s not sent: %s", kind, key, exc)


@contextlib.asynccontextmanager
async def sending(engine: AsyncEngine, url: str, run_dir: Path) -> AsyncIterator[None]:
    """The wake channel of a process that is not part of the running cloud (an admin
    command writing the database): installed for the block, so its ``forward``s go to
    the processes that lead the kinds, and flushed at the block's end when it ends
    without an error (the command's process exits right after). Never listens."""
    previous, channel = _channel, open_channel(engine, url, run_dir, listen=False)
    channel.start()
    install(channel)
    try:
        yield
        await channel.flush()
    finally:
        install(previous)
        await channel.close()


def encode(kind: str, key: str | None) -> str | None:
    """``kind:key``, or None when it cannot be sent (too long)."""
    payload = f"{kind}:{ALL if key is None else key}"
    return payload if len(payload.encode()) <= MAX_PAYLOAD else None


def deliver(payload: str) -> None:
    """A wake received: hand it to this process's controller of that kind, if any."""
    kind, sep, key = payload.partition(":")
    if not sep:
        return
    receivers = list(_receivers.values()) if kind == ALL else \
        [found] if (found := _receivers.get(kind)) is not None else []
    for receiver in receivers:
        try:
            receiver(None if key == ALL else key)
        except Exception:
            log.exception("delivering wake %s failed", payload)


def _detached(coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
    """A task outside the caller's context (no fencing term, no request state)."""
    return asyncio.get_running_loop().create_task(coro_fn(), context=contextvars.Context())


class PostgresChannel:
    """NOTIFY to send, LISTEN (controller processes) to receive."""

    def __init__(self, engine: AsyncEngine, url: str, *, listen: bool) -> None:
        self.engine = engine
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.listen = listen
        self._pending: dict[str, None] = {}  # ordered, deduplicated
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        if self.listen:
            self._listener = _detached(self._listen)

    def send(self, kind: str, key: str | None) -> None:
        payload = encode(kind, key)
        if payload is None or len(self._pending) >= MAX_PENDING:
            return
        self._pending[payload] = None
        if self._sender is None or self._sender.done():
            self._sender = _detached(self._flush)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the caller's transaction ends first; wakes coalesce
        while self._pending:
            batch = list(self._pending)
            self._pending.clear()
            # sent again once on a failure: a pooled connection whose backend was ended
            # while the host was cut off looks idle and alive until it is used (the
            # server's goodbye was lost with the link); the pool drops it and the second
            # try takes a new one
            for attempt in (1, 2):
                try:
                    await self._notify(batch)
                    break
                except Exception as exc:
                    if attempt == 2:
                        log.debug("%d wakes not sent: %s", len(batch), exc)
                        return

    async def flush(self) -> None:
        while self._sender is not None and not self._sender.done():
            with contextlib.suppress(Exception):  # _flush logs and drops its failures
                await self._sender

    async def _notify(self, batch: list[str]) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, payload) "
                     "FROM unnest(CAST(:payloads AS text[])) AS payload"),
                {"channel": CHANNEL, "payloads": batch})
            await conn.commit()

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    deliver(f"{ALL}:{ALL}")  # missed while not listening
                    async for notify in conn.notifies():
                        deliver(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # a lost LISTEN connection (a restarted or terminated backend) is expected:
                # wakes are hints, the reconnect resyncs what was missed
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                log.info("wake listener: connection lost (%s); connecting again", first)
            self.listening.clear()
            await asyncio.sleep(RECONNECT)

    async def close(self) -> None:
        for task in (self._listener, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._pending.clear()


class SocketChannel:
    """A unix datagram socket in the data directory, bound by the controller worker."""

    def __init__(self, path: Path, *, listen: bool) -> None:
        self.path = path
        # a path too long for sockaddr_un: an abstract name derived from it
        self.address = str(path) if len(str(path).encode()) < 100 else \
            "\0cloudctl-wake-" + hashlib.sha256(str(path).encode()).hexdigest()[:32]
        self.listen = listen
        self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._out.setblocking(False)
        self._in: socket.socket | None = None

    def start(self) -> None:
        if not self.listen:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        if self.address == str(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # left by a dead controller worker
            sock.bind(self.address)
            self.path.chmod(0o600)
        else:
            sock.bind(self.address)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)
        self._in = sock

    def _read(self) -> None:
        assert self._in is not None
        while True:
            try:
                data = self._in.recv(MAX_PAYLOAD + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("wake socket: %s", exc)
                return
            deliver(data.decode(errors="replace"))

    def send(self, kind: str, key: str | None) -> None:
        payload = encode(kind, key)
        if payload is None:
            return
        with contextlib.suppress(OSError):  # no controller worker (yet), or a full queue
            self._out.sendto(payload.encode(), self.address)

    async def flush(self) -> None:
        pass  # ``send`` hands the datagram to the kernel at once

    async def close(self) -> None:
        if self._in is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._in.fileno())
            self._in.close()
            self._in = None
            if self.address == str(self.path):
                with contextlib.suppress(OSError):
                    self.path.unlink()
        self._out.close()


def open_channel(engine: AsyncEngine, url: str, run_dir: Path, *, listen: bool) -> Channel:
    """The channel for this cloud's database: NOTIFY on PostgreSQL, else the socket."""
    if url.startswith("postgresql"):
        return PostgresChannel(engine, url, listen=listen)
    return SocketChannel(run_dir / "wake.sock", listen=listen)
