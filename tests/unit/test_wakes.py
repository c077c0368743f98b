"""Wakes between processes (``cloudctl.core.wakes``): a controller that does not lead
its kind sends the wake on; the leading one takes it (``woken``); a standby drops it.
The unix socket channel of an SQLite cloud's workers, end to end in one process; the
PostgreSQL channel is exercised across hosts by tests/api/test_multihost.py. An admin
command's wakes (``sending``) on both channels: sent before its block ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudctl.core import wakes
from cloudctl.db.engine import create_engine
from tests.unit.test_reconcile import Scripted


class Recorded:
    """A channel that keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def send(self, kind: str, key: str | None) -> None:
        self.sent.append((kind, key))

    def start(self) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    channel = Recorded()
    wakes.install(channel)
    try:
        yield channel
    finally:
        wakes.install(None)


async def test_a_wake_not_led_here_is_sent_on(recorded: Recorded) -> None:
    api = Scripted(["i-1"], leader=lambda: False)  # an API process: never leads
    api.wake("i-1")
    api.resync_now()
    assert recorded.sent == [("scripted", "i-1"), ("scripted", None)]
    await api.drain()
    assert api.synced == []

    leader = Scripted([])
    leader.wake("i-2")  # led here: queued, not sent
    assert recorded.sent == [("scripted", "i-1"), ("scripted", None)]
    await leader.drain()
    assert leader.synced == ["i-2"]


async def test_woken_acts_only_while_leading(recorded: Recorded) -> None:
    leading = [True]
    ctl = Scripted([], leader=lambda: leading[0])
    wakes.register(ctl.name, ctl.woken)
    try:
        wakes.deliver("scripted:vol-1")
        wakes.deliver("other:vol-2")  # another kind: not this controller's
        wakes.deliver("malformed")
        await ctl.drain()
        assert ctl.synced == ["vol-1"]
        leading[0] = False  # a standby: drops it, never sends it on (no loop)
        wakes.deliver("scripted:vol-3")
        await ctl.drain()
        assert ctl.synced == ["vol-1"] and recorded.sent == []
    finally:
        wakes.unregister(ctl.name, ctl.woken)
    assert ctl.name not in wakes._receivers


async def test_the_socket_channel_carries_wakes_between_workers(tmp_path: Path) -> None:
    ctl = Scripted([])
    wakes.register(ctl.name, ctl.woken)
    worker0 = wakes.SocketChannel(tmp_path / "run" / "wake.sock", listen=True)
    worker1 = wakes.SocketChannel(tmp_path / "run" / "wake.sock", listen=False)
    try:
        worker1.send("scripted", "a-key")  # before worker 0 listens: dropped, no error
        worker0.start()
        assert (tmp_path / "run" / "wake.sock").stat().st_mode & 0o777 == 0o600
        worker1.send("scripted", "i-1")
        worker1.send("scripted", "x" * (wakes.MAX_PAYLOAD + 1))  # too long: not sent
        for _ in range(100):
            if not ctl._queue.empty():
                break
            await asyncio.sleep(0.01)
        await ctl.drain()
        assert ctl.synced == ["i-1"]
    finally:
        wakes.unregister(ctl.name, ctl.woken)
        await worker1.close()
        await worker0.close()
    assert not (tmp_path / "run" / "wake.sock").exists()


async def test_a_long_data_directory_uses_an_abstract_socket(tmp_path: Path) -> None:
    path = tmp_path / ("d" * 120) / "wake.sock"
    channel = wakes.SocketChannel(path, listen=True)
    assert channel.address.startswith("\0cloudctl-wake-")
    channel.start()
    try:
        assert not path.exists()
    finally:
        await channel.close()


async def _synced(ctl: Scripted, wanted: list[str], timeout: float = 5.0) -> None:
    """Drain ``ctl`` until it synced ``wanted`` (a wake received by its channel)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while ctl.synced != wanted:
        assert loop.time() < deadline, ctl.synced
        await asyncio.sleep(0.01)
        await ctl.drain()


async def test_a_command_outside_the_cloud_wakes_the_controller_worker(
        tmp_path: Path) -> None:
    ctl = Scripted([])
    wakes.register(ctl.name, ctl.woken)
    worker0 = wakes.SocketChannel(tmp_path / "run" / "wake.sock", listen=True)
    worker0.start()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}")
    try:
        async with wakes.sending(engine, str(engine.url), tmp_path / "run"):
            wakes.forward("scripted", "node-1")
        assert wakes._channel is None  # the command's channel is gone after its block
        await _synced(ctl, ["node-1"])
    finally:
        wakes.unregister(ctl.name, ctl.woken)
        await worker0.close()
        await engine.dispose()


async def test_a_command_outside_the_cloud_notifies_before_it_exits(pg_server: Any) -> None:
    """The NOTIFY goes out in a task of its own: ``sending`` waits for it (a command that
    exited first would cancel it, and the controller would wait for its resync)."""
    url = str(pg_server.create_database("wakes_unit"))
    ctl = Scripted([])
    wakes.register(ctl.name, ctl.woken)
    listening_engine, command_engine = create_engine(url), create_engine(url)
    controllers = wakes.PostgresChannel(listening_engine, url, listen=True)
    controllers.start()
    try:
        await asyncio.wait_for(controllers.listening.wait(), 10)
        async with wakes.sending(command_engine, url, Path("/nonexistent")):
            wakes.forward("scripted", "node-1")
        await command_engine.dispose()  # the command has exited
        await _synced(ctl, ["node-1"])
    finally:
        wakes.unregister(ctl.name, ctl.woken)
        await controllers.close()
        await listening_engine.dispose()
        await command_engine.dispose()
