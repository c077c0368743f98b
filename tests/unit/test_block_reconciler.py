"""The block storage controller on the reconcile base, against the shipped file backend.

Desired state is rows in a real SQLite database (the EBS tables); observed state is
the file backend in a temporary directory. Each test sets both up, runs one pass
(``run_once``) and checks the actions: what the backend now holds and what the rows
say, as sample-controller tests do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cloudctl.db.base import Base
from cloudctl.server.runtime import Runtime
from cloudctl.services.ec2 import api as ec2
from cloudctl.services.ec2.ebs.models import (
    SNAPSHOT_COMPLETED,
    SNAPSHOT_PENDING,
    VOLUME_AVAILABLE,
    VOLUME_CREATING,
    VOLUME_DELETING,
    VOLUME_ERROR,
    Snapshot,
    Volume,
)
from cloudctl.services.ec2.ebs.storage.reconciler import MAX_CREATE_ATTEMPTS, BlockReconciler
from storagectl.blocks import BlockBackend, open_block_backend

ZONE = "zone-a"


class Properties:
    def get(self, prop: Any) -> Any:
        return prop.default


@dataclass
class Host:
    """What the reconciler needs of the cloud: sessions, properties, runtime objects."""

    sessions: async_sessionmaker[AsyncSession]
    properties: Properties
    runtime: Runtime = field(default_factory=Runtime)


class Backends:
    def __init__(self, backend: BlockBackend) -> None:
        self.backend = backend
        self.reachable = True

    async def get(self, zone: str, kind: str) -> BlockBackend:
        if not self.reachable:
            raise OSError("storage host unreachable")
        return self.backend

    def config_for(self, zone: str, kind: str) -> dict[str, Any]:
        return {"zone": zone}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[BlockReconciler, BlockBackend, Host]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    host = Host(async_sessionmaker(engine, expire_on_commit=False), Properties())
    backend = open_block_backend("file", root=str(tmp_path / "blocks"))
    ctl = BlockReconciler(host, Backends(backend))  # type: ignore[arg-type]
    yield ctl, backend, host
    await engine.dispose()


async def _add(host: Host, *rows: Any) -> None:
    async with host.sessions() as session, session.begin():
        session.add_all(rows)


def _volume(volume_id: str, state: str, **kw: Any) -> Volume:
    return Volume(volume_id=volume_id, zone=ZONE, backend="file", size_gib=1, state=state,
                  account_id="000000000001", region="r", **kw)


async def _state(host: Host, volume_id: str) -> str | None:
    async with host.sessions() as session:
        row = await session.get(Volume, volume_id)
    return None if row is None else row.state


async def test_creating_volume_is_created_then_available(world: Any) -> None:
    ctl, backend, host = world
    told: list[tuple[str, str]] = []
    ec2.watch_states(host, lambda volume_id, state: told.append((volume_id, state)))
    await _add(host, _volume("vol-1", VOLUME_CREATING))
    await ctl.run_once()
    assert await backend.volume_exists("vol-1")
    assert await _state(host, "vol-1") == VOLUME_AVAILABLE
    assert told == [("vol-1", VOLUME_AVAILABLE)]  # a stack waiting for it looks now
    assert await ctl.list_keys() == []  # at rest: the next resync has nothing to do


async def test_deleting_volume_waits_for_a_pending_snapshot_of_it(world: Any) -> None:
    ctl, backend, host = world
    await backend.create_volume("vol-1", 1)
    await _add(host, _volume("vol-1", VOLUME_DELETING),
               Snapshot(snapshot_id="snap-1", zone=ZONE, backend="file", volume_id="vol-1",
                        volume_size=1, state=SNAPSHOT_PENDING, account_id="000000000001",
                        region="r"))
    await ctl.resync()
    await ctl.process("vol-1")
    assert ctl.waiting("vol-1") and ctl.failures("vol-1") == 0  # Retry, not a failure
    assert await backend.volume_exists("vol-1")
    async with host.sessions() as session, session.begin():
        snap = await session.get(Snapshot, "snap-1")
        snap.state = SNAPSHOT_COMPLETED
    ctl.wake("vol-1")
    await ctl.drain()
    assert not await backend.volume_exists("vol-1")
    assert await _state(host, "vol-1") is None


async def test_a_snapshot_whose_data_is_gone_makes_the_volume_error(world: Any) -> None:
    ctl, backend, host = world
    await _add(host, _volume("vol-1", VOLUME_CREATING, snapshot_id="snap-gone"),
               Snapshot(snapshot_id="snap-gone", zone=ZONE, backend="file",
                        volume_id="vol-0", volume_size=1, state=SNAPSHOT_COMPLETED,
                        account_id="000000000001", region="r"))
    await ctl.run_once()
    assert await _state(host, "vol-1") == VOLUME_ERROR
    assert not await backend.volume_exists("vol-1")


async def test_a_create_that_keeps_failing_backs_off_then_ends_in_error(world: Any) -> None:
    ctl, backend, host = world
    ctl.backends.reachable = False
    await _add(host, _volume("vol-1", VOLUME_CREATING))
    for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
        ctl.wake("vol-1")
        await ctl.drain()
        assert ctl.failures("vol-1") == attempt and ctl.waiting("vol-1")
        expected = VOLUME_ERROR if attempt == MAX_CREATE_ATTEMPTS else VOLUME_CREATING
        assert await _state(host, "vol-1") == expected
    assert not await backend.volume_exists("vol-1")


async def test_a_non_leader_does_nothing(world: Any, tmp_path: Path) -> None:
    _, backend, host = world
    follower = BlockReconciler(host, Backends(backend), leader=lambda: False)  # type: ignore[arg-type]
    await _add(host, _volume("vol-1", VOLUME_CREATING))
    follower.wake("vol-1")
    await follower.drain()
    assert not await backend.volume_exists("vol-1")
    assert await _state(host, "vol-1") == VOLUME_CREATING
