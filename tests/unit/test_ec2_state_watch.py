"""EC2's state watch (``ec2.api.watch_states``): the instance controller's committed
state changes are told to the process's watchers (a stack waiting for an instance
to run looks again at once), a compare-and-set that changed nothing tells none, and a
watcher that raises does not keep the others from being told. Against a real
(migrated) SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.server.runtime import Runtime
from cloudctl.services.ec2 import api as ec2
from cloudctl.services.ec2.compute.controller import ComputeController
from cloudctl.services.ec2.compute.instance_models import Instance


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = "sqlite+aiosqlite:///" + str(Path(tmp_path_factory.mktemp("ec2watch")) / "cloud.db")
    migrate.upgrade(url)
    return url


def test_the_controllers_state_changes_are_told_once_committed(database: str) -> None:
    async def scenario() -> None:
        db = create_engine(database)
        sessions = session_factory(db)
        cloud: Any = SimpleNamespace(sessions=sessions, runtime=Runtime())
        told: list[tuple[str, str]] = []
        committed: dict[str, str] = {}

        def watcher(resource_id: str, state: str) -> None:
            told.append((resource_id, state))

        def broken(resource_id: str, state: str) -> None:
            raise RuntimeError("a watcher's bug")

        def reading(resource_id: str, state: str) -> None:
            del state
            asyncio.get_running_loop().create_task(state_now(resource_id))

        async def state_now(resource_id: str) -> None:
            async with sessions() as session:
                row = await session.get(Instance, resource_id)
                assert row is not None
                committed[resource_id] = row.state

        try:
            async with sessions() as session, session.begin():
                session.add(Instance(
                    instance_id="i-watch1", reservation_id="r-1", owner_id="000000000001",
                    image_id="emi-1", instance_type="t1.micro", vcpus=1, memory_mib=256,
                    zone="z", state="pending", mac="d0:0d:00:00:00:01",
                    account_id="000000000001", region="r"))
            ec2.watch_states(cloud, broken)
            ec2.watch_states(cloud, watcher)
            ec2.watch_states(cloud, watcher)  # once only
            controller = ComputeController(cloud, pool=None)  # type: ignore[arg-type]
            assert await controller._cas("i-watch1", ("pending",), state="running")
            assert told == [("i-watch1", "running")]
            # committed before it is told: a read started by the watcher sees it
            ec2.watch_states(cloud, reading)
            assert await controller._cas("i-watch1", ("running",), state="stopped")
            await asyncio.sleep(0.05)
            assert committed == {"i-watch1": "stopped"}
            # nothing changed (the state was not the one expected): nothing told
            assert not await controller._cas("i-watch1", ("pending",), state="running")
            # a change of other columns only: nothing told
            assert await controller._cas("i-watch1", ("stopped",), reboot_requested=False)
            assert told == [("i-watch1", "running"), ("i-watch1", "stopped")]
        finally:
            await db.dispose()

    asyncio.run(scenario())
