"""Wakes over PostgreSQL (``cloudctl.core.wakes.PostgresChannel``) after a cut cable.

A host cut off from the database while its pooled connections sat idle: the server ended
their backends (a new leader ends a cut-off host's sessions, or TCP keepalive did), but
the goodbye was lost with the link, so after the heal each pooled connection still looks
idle and alive (nothing to read) until it is used. The first wake sent after the heal
(CreateStack through the healed host's API, forwarded to the leader on another host)
takes such a connection: it must still arrive. Real PostgreSQL; the cable is a TCP relay
on loopback that can be cut silently.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from sqlalchemy import make_url

from cloudctl.core import wakes
from cloudctl.db.engine import create_engine


class Cable:
    """A TCP relay to ``target``; ``cut`` ends the server side of every relayed
    connection and leaves the client side open and silent (its next send is answered by
    a reset, as a peer that forgot the connection answers)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._cut: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._links.append((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       client_side: bool) -> None:
            try:
                while data := await src.read(65536):
                    if client_side and writer in self._cut:
                        _reset(writer)
                        return
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            if not (writer in self._cut and not client_side):
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def cut(self) -> None:
        for client, upstream in self._links:
            self._cut.add(client)
            upstream.close()  # the backend sees its client go and ends
        self._links.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client, upstream in self._links:
            client.close()
            upstream.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def test_the_first_wake_after_a_cut_cable_arrives(pg_server: Any) -> None:
    url = pg_server.create_database("cloud_wakes_cut")
    parsed = make_url(url)

    async def scenario() -> None:
        cable = Cable((str(parsed.host), int(parsed.port or 5432)))
        await cable.start()
        sender_engine = create_engine(str(parsed.set(port=cable.port).render_as_string(
            hide_password=False)))
        listener_engine = create_engine(url)
        sender = wakes.PostgresChannel(sender_engine, url, listen=False)
        listener = wakes.PostgresChannel(listener_engine, url, listen=True)
        got: asyncio.Queue[str | None] = asyncio.Queue()
        wakes.register("stacks", got.put_nowait)
        try:
            listener.start()
            await asyncio.wait_for(listener.listening.wait(), 10)
            await asyncio.wait_for(got.get(), 5)  # the resync a new listener delivers
            sender.send("stacks", "before")
            assert await asyncio.wait_for(got.get(), 5) == "before"  # a pooled connection

            cable.cut()
            await asyncio.sleep(0.5)  # the backend is gone; the client knows nothing
            sender.send("stacks", "after")
            assert await asyncio.wait_for(got.get(), 5) == "after"
        finally:
            wakes.unregister("stacks", got.put_nowait)
            await sender.close()
            await listener.close()
            await cable.close()
            await sender_engine.dispose()
            await listener_engine.dispose()

    asyncio.run(scenario())
