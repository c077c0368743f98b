"""The stack engine's next look at a stack after a creation pass: when the pass only
made new resources and every one of them ended, the engine goes on from what it holds
(the rows it wrote) instead of reading the stack back; a chain of dependent resources is
then read once for the whole creation, and its references resolve to what each pass
made, and the first pass starts from the stack as the sync read it (not read again); its
template is evaluated once a pass (the completion uses the pass's plan).
The pass whose ends complete every resource writes the stack's CREATE_COMPLETE
and outputs in the same transaction, its event last. A pass that leaves a resource working (waiting for signals the API may record
meanwhile) reads the stack back. Against a real (migrated) database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, select

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.cloudformation import engine as engine_module
from cloudctl.services.cloudformation.engine import StackEngine
from cloudctl.services.cloudformation.models import Stack, StackEvent, StackResource
from cloudctl.services.cloudformation.rows import WORKING

STACK = "arn:aws:cloudformation:r:000000000001:stack/chain/1"
CHAIN = {"Resources": {
    "First": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
    "Second": {"Type": "AWS::CloudFormation::WaitConditionHandle", "DependsOn": "First"},
    "Third": {"Type": "AWS::CloudFormation::WaitConditionHandle", "DependsOn": "Second"}},
    "Outputs": {"Urls": {"Value": {"Fn::Join": [" ", [
        {"Ref": "First"}, {"Ref": "Second"}, {"Ref": "Third"}]]}}}}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = "sqlite+aiosqlite:///" + str(Path(tmp_path_factory.mktemp("cfnheld")) / "cloud.db")
    migrate.upgrade(url)
    return url


def _caller() -> Any:
    credential = SimpleNamespace(account_id="000000000001", access_key_id="AK")
    return SimpleNamespace(credential=credential, region="r")


def test_a_chain_is_read_once_and_resolves_to_what_each_pass_made(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        db = create_engine(database)
        sessions = session_factory(db)
        async with sessions() as session, session.begin():
            session.add(Stack(stack_id=STACK, name="chain", account_id="000000000001",
                              region="r", status="CREATE_IN_PROGRESS", operation="CREATE",
                              template_body="{}", template=CHAIN, parameters={},
                              access_key_id="AK", endpoint="http://api.example"))
        cloud = SimpleNamespace(sessions=sessions, region_zones={})
        engine = StackEngine(cloud, leader=lambda: True)  # type: ignore[arg-type]
        loads: list[str] = []
        load = engine._load

        async def counted(stack_id: str, read: Any = None) -> Any:
            loads.append(stack_id)
            return await (load(stack_id) if read is None else load(stack_id, read))

        monkeypatch.setattr(engine, "_load", counted)
        plans: list[Any] = []

        class CountedPlan(engine_module.Plan):
            def __post_init__(self) -> None:
                plans.append(self)
                super().__post_init__()

        monkeypatch.setattr(engine_module, "Plan", CountedPlan)
        acts: list[str] = []
        act = engine._act

        def counted_act(stack: Any, row: Any, caller: Any) -> Any:
            acts.append(row.logical_id)
            return act(stack, row, caller)

        monkeypatch.setattr(engine, "_act", counted_act)
        try:
            stack, _, _ = await load(STACK)
            stack_reads: list[str] = []

            def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                if statement.startswith("SELECT") and \
                        "WHERE cfn_stacks.stack_id = ?" in statement:
                    stack_reads.append(statement)

            event.listen(db.sync_engine, "before_cursor_execute", seen)
            assert await engine._converge(stack, _caller()) is None  # completed with its ends
            event.remove(db.sync_engine, "before_cursor_execute", seen)
            async with sessions() as session:
                rows = {r.logical_id: r for r in (await session.execute(select(
                    StackResource).where(StackResource.stack_id == STACK))).scalars()}
                done = await session.get(Stack, STACK)
                events = list((await session.execute(select(StackEvent).where(
                    StackEvent.stack_id == STACK).order_by(StackEvent.seq))).scalars())
        finally:
            await db.dispose()
        # three passes (one a level of the chain), one read of the rows, none of the
        # stack (the first pass starts from the stack as it was given)
        assert loads == [STACK]
        assert stack_reads == []
        # the template evaluated once a pass: the completion uses the pass's own plan
        assert len(plans) == 3
        # one Act a resource: its creation's, which its readiness look reuses
        assert acts == ["First", "Second", "Third"]
        assert done is not None and done.status == "CREATE_COMPLETE"
        assert [(e.logical_id, e.status) for e in events[-2:]] == [
            ("Third", "CREATE_COMPLETE"), ("chain", "CREATE_COMPLETE")]
        outputs = done.outputs
        assert {name: row.status for name, row in rows.items()} == {
            "First": "CREATE_COMPLETE", "Second": "CREATE_COMPLETE",
            "Third": "CREATE_COMPLETE"}
        urls = " ".join(str(rows[name].physical_id) for name in ("First", "Second", "Third"))
        assert outputs == [{"OutputKey": "Urls", "OutputValue": urls}]
        assert all(row.physical_id and row.physical_id.startswith("http://api.example/")
                   for row in rows.values())

    asyncio.run(scenario())


def test_a_pass_leaving_a_resource_working_reads_the_stack_back() -> None:
    stack: Any = SimpleNamespace()
    done = SimpleNamespace(status="CREATE_COMPLETE")
    failed = SimpleNamespace(status="CREATE_FAILED")
    waiting = SimpleNamespace(status=WORKING[0])
    rows: Any = [done, failed, waiting]
    assert engine_module._held(stack, rows, {}, [done, waiting]) is None
    held = engine_module._held(stack, rows, {"E": "v"}, [done, failed])
    assert held is not None and held.rows == rows and held.exports == {"E": "v"}


def test_independent_resources_are_decided_in_the_sorter_s_order_without_it(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass over resources that name none of the others builds no topological sorter
    (its order for them is theirs as listed: the plan's); with an edge it is built."""
    import graphlib

    names = [f"Free{i}" for i in range(6)]
    free = {"Resources": {n: {"Type": "AWS::CloudFormation::WaitConditionHandle"}
                          for n in names}}
    plan = engine_module.Plan(free, {}, {})
    assert list(graphlib.TopologicalSorter(plan.deps).static_order()) == list(plan.deps)
    built: list[object] = []

    class Counted(graphlib.TopologicalSorter):  # type: ignore[type-arg]
        def __init__(self, graph: Any = None) -> None:
            built.append(graph)
            super().__init__(graph)

    monkeypatch.setattr(engine_module.graphlib, "TopologicalSorter", Counted)

    async def converge(stack_id: str, template: dict[str, Any]) -> list[str]:
        db = create_engine(database)
        sessions = session_factory(db)
        try:
            async with sessions() as session, session.begin():
                session.add(Stack(stack_id=stack_id, name=stack_id.rsplit("/", 2)[1],
                                  account_id="000000000001", region="r",
                                  status="CREATE_IN_PROGRESS", operation="CREATE",
                                  template_body="{}", template=template, parameters={},
                                  access_key_id="AK", endpoint="http://api.example"))
            cloud = SimpleNamespace(sessions=sessions, region_zones={})
            engine = StackEngine(cloud, leader=lambda: True)  # type: ignore[arg-type]
            stack, _, _ = await engine._load(stack_id)
            assert await engine._converge(stack, _caller()) is None
            async with sessions() as session:
                return [e.logical_id for e in (await session.execute(select(StackEvent).where(
                    StackEvent.stack_id == stack_id, StackEvent.status == "CREATE_IN_PROGRESS",
                    StackEvent.reason.is_(None)).order_by(StackEvent.seq))).scalars()]
        finally:
            await db.dispose()

    decided = asyncio.run(converge("arn:aws:cloudformation:r:000000000001:stack/free/1", free))
    assert built == []
    assert decided == list(plan.deps)
    asyncio.run(converge("arn:aws:cloudformation:r:000000000001:stack/chained/1", CHAIN))
    assert len(built) == 6  # a pass a level of the chain: its graph's and its order's
