"""The stack engine learns that a resource it waits for is ready from EC2's state watch
(``ec2.api.watch_states``) instead of at its next look: a stack waiting out its
``Retry`` on an instance is queued again as soon as EC2 tells that the instance
changed state; a change of a resource no stack waits for wakes nothing; what a stack
waited for is forgotten once its operation ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.cloudformation.engine import StackEngine

STACK = "arn:aws:cloudformation:r:000000000001:stack/web/1"


def test_a_stack_waiting_on_an_instance_is_woken_when_ec2_tells_it_changed() -> None:
    async def scenario() -> None:
        engine = StackEngine(SimpleNamespace(), leader=lambda: True)  # type: ignore[arg-type]
        engine._later(STACK, 30.0)  # the Retry of a pass that found the instance pending
        engine._awaited["i-web"] = STACK
        engine.settled("i-other", "running")
        assert engine.waiting(STACK)
        engine.settled("i-web", "running")
        assert not engine.waiting(STACK)
        assert STACK in engine._queued
        assert "i-web" not in engine._awaited  # told once: the next pass looks again

    asyncio.run(scenario())


def test_a_stack_whose_operation_ended_waits_for_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    migrate.upgrade(url)

    async def scenario() -> None:
        db = create_engine(url)
        engine = StackEngine(SimpleNamespace(sessions=session_factory(db)),  # type: ignore[arg-type]
                             leader=lambda: True)
        engine._awaited.update({"i-a": STACK, "vol-b": STACK, "i-c": "other"})
        try:
            await engine.sync(STACK)  # deleted meanwhile: its operation is over
        finally:
            await db.dispose()
        assert engine._awaited == {"i-c": "other"}

    asyncio.run(scenario())
