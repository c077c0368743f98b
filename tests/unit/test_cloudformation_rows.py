"""The stack engine's bulk writes of resource rows, against a real (migrated) database:
a pass's new rows in one INSERT (ids back in order, first attempt counted, events in
order, a replaced row marked ``old``), and the ends of a pass by primary key without
reading the rows again: only the columns the changes set are written (a signal the
API recorded meanwhile stays), a row's changes apply in order, their events numbered
after the stack's last, the rows the engine holds updated too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, select

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.cloudformation.engine import NewRow, StackEngine
from cloudctl.services.cloudformation.models import Stack, StackEvent, StackResource
from cloudctl.services.cloudformation.resources.base import Outcome
from cloudctl.services.cloudformation.stackinfo import SIGNAL_DEADLINE

STACK = "arn:aws:cloudformation:r:000000000001:stack/s/1"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = "sqlite+aiosqlite:///" + str(Path(tmp_path_factory.mktemp("cfnrows")) / "cloud.db")
    migrate.upgrade(url)
    return url


async def _engine(url: str) -> tuple[StackEngine, Any]:
    db = create_engine(url)
    sessions = session_factory(db)
    async with sessions() as session, session.begin():
        await session.merge(Stack(stack_id=STACK, name="s", account_id="000000000001",
                                  region="r", status="CREATE_IN_PROGRESS", operation="CREATE",
                                  template_body="{}", template={}, parameters={},
                                  access_key_id="AK"))
    engine = StackEngine(SimpleNamespace(sessions=sessions),  # type: ignore[arg-type]
                         leader=lambda: True)
    return engine, db


async def _events(engine: StackEngine) -> list[tuple[int, str, str, str | None, str | None]]:
    async with engine.cloud.sessions() as session:
        found = (await session.execute(select(StackEvent).where(
            StackEvent.stack_id == STACK).order_by(StackEvent.seq))).scalars()
        return [(e.seq, e.logical_id, e.status, e.reason, e.physical_id) for e in found]


def test_new_rows_are_inserted_together_with_their_ids_and_events(database: str) -> None:
    async def scenario() -> None:
        engine, db = await _engine(database)
        try:
            before = await _events(engine)
            plan = SimpleNamespace(deps={f"R{i}": set() for i in range(5)} | {"Old": set()},
                                   template={"Resources": {f"R{i}": {} for i in range(5)} | {
                                       "R2": {"Metadata": {"m": 1}}, "Old": {}}})
            async with engine.cloud.sessions() as session, session.begin():
                old = StackResource(stack_id=STACK, logical_id="Old", type="AWS::S3::Bucket",
                                    status="CREATE_COMPLETE", token="t", properties={},
                                    physical_id="b-old", generation=3)
                session.add(old)
            stack = SimpleNamespace(stack_id=STACK)
            wanted = [NewRow(f"R{i}", "AWS::S3::Bucket", {"N": i}, "Delete", None)
                      for i in range(5)]
            wanted.append(NewRow("Old", "AWS::S3::Bucket", {"N": 9}, "Retain", old))
            made = await engine._new_rows(stack, plan, wanted)  # type: ignore[arg-type]
            assert [r.logical_id for r in made] == [w.name for w in wanted]
            assert engine._fresh >= {r.id for r in made}
            async with engine.cloud.sessions() as session:
                stored = {r.id: r for r in (await session.execute(select(StackResource).where(
                    StackResource.stack_id == STACK))).scalars()}
            for row in made:  # the ids given back are the rows' own, in order
                assert stored[row.id].logical_id == row.logical_id
                assert stored[row.id].token == row.token
                assert stored[row.id].properties == row.properties
                assert (stored[row.id].attempts, stored[row.id].step) == (1, "create")
            assert stored[made[2].id].metadata_ == {"m": 1}
            assert stored[old.id].role == "old"
            assert stored[made[-1].id].generation == 4
            assert stored[made[-1].id].deletion_policy == "Retain"
            new = (await _events(engine))[len(before):]
            assert [(e[1], e[2]) for e in new] == [(f"R{i}", "CREATE_IN_PROGRESS")
                                                   for i in range(5)] + \
                [("Old", "UPDATE_IN_PROGRESS")]
            assert [e[0] for e in new] == list(range(new[0][0], new[0][0] + len(new)))
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_pass_end_writes_only_what_its_changes_set(database: str) -> None:
    async def scenario() -> None:
        engine, db = await _engine(database)
        try:
            async with engine.cloud.sessions() as session, session.begin():
                rows = [StackResource(stack_id=STACK, logical_id=f"W{i}", type="AWS::IAM::User",
                                      status="CREATE_IN_PROGRESS", token=f"w{i}",
                                      properties={"P": i}, attempts=1, step="create")
                        for i in range(3)]
                session.add_all(rows)
            # the API records a signal for W0 after the engine read its row
            async with engine.cloud.sessions() as session, session.begin():
                live = await session.get(StackResource, rows[0].id)
                assert live is not None
                live.signals = [{"UniqueId": "i-1", "Status": "SUCCESS"}]
            before = await _events(engine)
            batch: list[Any] = []
            engine._finish(batch, rows[0], "CREATE_COMPLETE", {"Arn": "a0"},
                           made=Outcome("u0", {"Arn": "a0"}))
            engine._created(batch, rows[1], "u1", {"Arn": "a1"}, signals_within=60.0)
            # a row made, then failed: both its changes, in order
            engine._created(batch, rows[2], "u2", {})
            engine._finish(batch, rows[2], "CREATE_FAILED", None, "it broke")
            await engine._flush(batch)
            assert batch == []

            async with engine.cloud.sessions() as session:
                stored = {r.logical_id: r for r in (await session.execute(
                    select(StackResource).where(StackResource.id.in_(
                        [r.id for r in rows])))).scalars()}
            w0, w1, w2 = stored["W0"], stored["W1"], stored["W2"]
            assert (w0.status, w0.physical_id, w0.attributes, w0.step) == \
                ("CREATE_COMPLETE", "u0", {"Arn": "a0"}, None)
            assert w0.signals == [{"UniqueId": "i-1", "Status": "SUCCESS"}]  # kept
            assert (w1.status, w1.physical_id, w1.step) == ("CREATE_IN_PROGRESS", "u1", "create")
            assert w1.attributes["Arn"] == "a1" and SIGNAL_DEADLINE in w1.attributes
            assert (w2.status, w2.physical_id, w2.status_reason, w2.step) == \
                ("CREATE_FAILED", "u2", "it broke", None)
            # the rows the engine holds are the stored ones now
            assert (rows[0].status, rows[0].physical_id) == ("CREATE_COMPLETE", "u0")
            assert (rows[2].status, rows[2].status_reason) == ("CREATE_FAILED", "it broke")

            new = (await _events(engine))[len(before):]
            assert [(e[1], e[2], e[3], e[4]) for e in new] == [
                ("W0", "CREATE_IN_PROGRESS", "Resource creation Initiated", "u0"),
                ("W0", "CREATE_COMPLETE", None, "u0"),
                ("W1", "CREATE_IN_PROGRESS", "Resource creation Initiated", "u1"),
                ("W2", "CREATE_IN_PROGRESS", "Resource creation Initiated", "u2"),
                ("W2", "CREATE_FAILED", "it broke", "u2")]
            assert [e[0] for e in new] == list(range(new[0][0], new[0][0] + len(new)))
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_pass_writes_its_rows_with_one_statement_each(database: str) -> None:
    """A pass of 20 new rows: one INSERT of them all (asking SQLite for the ids in the
    parameters' order made one INSERT a row), and one UPDATE executemany of their
    ends (the changes of every row set the same columns, in whatever order), both
    driver-level statements (no SQLAlchemy compilation: ``rawrows``)."""
    async def scenario() -> None:
        engine, db = await _engine(database)
        statements: list[tuple[str, bool]] = []

        def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                 executemany: bool) -> None:
            if "cfn_stack_resources" in statement:
                statements.append((statement.split()[0], executemany))
                assert context.compiled is None, statement  # driver-level

        try:
            names = [f"Batch{i}" for i in range(20)]
            plan = SimpleNamespace(deps={n: set() for n in names},
                                   template={"Resources": {n: {} for n in names}})
            wanted = [NewRow(n, "AWS::IAM::User", {"N": n}, "Delete", None) for n in names]
            event.listen(db.sync_engine, "before_cursor_execute", seen)
            made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                          plan, wanted)  # type: ignore[arg-type]
            assert [verb for verb, _ in statements] == ["INSERT"]  # many rows, one INSERT
            assert len({r.id for r in made}) == 20
            statements.clear()
            batch: list[Any] = []
            for index, row in enumerate(made):
                if index % 2:  # the same columns, set in another order
                    engine._created(batch, row, row.logical_id, {"Arn": row.logical_id},
                                    event=False)
                    engine._finish(batch, row, "CREATE_COMPLETE", None)
                else:
                    engine._finish(batch, row, "CREATE_COMPLETE", {"Arn": row.logical_id},
                                   made=Outcome(row.logical_id, {"Arn": row.logical_id}))
            await engine._flush(batch)
            assert statements == [("UPDATE", True)]
            event.remove(db.sync_engine, "before_cursor_execute", seen)
            async with engine.cloud.sessions() as session:
                stored = {r.id: r for r in (await session.execute(select(StackResource).where(
                    StackResource.id.in_([r.id for r in made])))).scalars()}
            assert all((stored[r.id].logical_id, stored[r.id].physical_id,
                        stored[r.id].status, stored[r.id].attributes, stored[r.id].step,
                        stored[r.id].old_properties) ==
                       (r.logical_id, r.logical_id, "CREATE_COMPLETE", {"Arn": r.logical_id},
                        None, None) for r in made)
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_resource_s_events_show_its_properties_serialised_once(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The properties a resource's events show (NoEcho values masked) are masked and
    serialised once for its events of a pass (``_shown_of``), again once they change."""
    from cloudctl.services.cloudformation import rows as rows_module

    masked_calls: list[Any] = []
    real = rows_module.masked

    def counted(value: Any, secrets: set[str]) -> Any:
        masked_calls.append(value)
        return real(value, secrets)

    monkeypatch.setattr(rows_module, "masked", counted)

    async def scenario() -> None:
        engine, db = await _engine(database)
        try:
            engine._secrets[STACK] = {"hunter2"}
            names = [f"Shown{i}" for i in range(4)]
            plan = SimpleNamespace(deps={n: set() for n in names},
                                   template={"Resources": {n: {} for n in names}})
            wanted = [NewRow(n, "AWS::IAM::User", {"Note": f"{n} hunter2"}, "Delete", None)
                      for n in names]
            before = await _events(engine)
            made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                          plan, wanted)  # type: ignore[arg-type]
            batch: list[Any] = []
            for row in made:
                engine._created(batch, row, row.logical_id, {})
                engine._finish(batch, row, "CREATE_COMPLETE", None)
            await engine._flush(batch)
            assert len(masked_calls) == len(names)  # once a resource for its 3 events
            made[0].properties = {"Note": "changed hunter2"}
            batch = []
            engine._finish(batch, made[0], "UPDATE_COMPLETE", None)
            await engine._flush(batch)
            assert len(masked_calls) == len(names) + 1
            async with engine.cloud.sessions() as session:
                shown = [(e.logical_id, e.properties) for e in (await session.execute(
                    select(StackEvent).where(StackEvent.stack_id == STACK)
                    .order_by(StackEvent.seq))).scalars()][len(before):]
            assert len(shown) == 3 * len(names) + 1
            assert all(text == f'{{"Note": "{name} ****"}}' for name, text in shown[:-1])
            assert shown[-1] == ("Shown0", '{"Note": "changed ****"}')
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_stack_transition_is_one_conditional_driver_level_update(database: str) -> None:
    """A transition of the stack's row only (``_set_status``): its status and reason,
    its outputs when given, its update time only when its operation is an update, its
    deletion time at DELETE_COMPLETE, and its event; nothing when the status is no
    longer the expected one. One UPDATE, driver-level (no SQLAlchemy compilation)."""
    async def scenario() -> None:
        engine, db = await _engine(database)
        statements: list[Any] = []

        def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                 executemany: bool) -> None:
            if statement.startswith("UPDATE cfn_stacks SET status"):
                statements.append(context.compiled)

        try:
            async with engine.cloud.sessions() as session, session.begin():
                stack = await session.get(Stack, STACK)
                assert stack is not None
                stack.status, stack.operation, stack.updated_at = \
                    "CREATE_IN_PROGRESS", "CREATE", None
            before = await _events(engine)
            event.listen(db.sync_engine, "before_cursor_execute", seen)
            outputs = [{"OutputKey": "K", "OutputValue": "v"}]
            await engine._set_status(STACK, "UPDATE_IN_PROGRESS", "X", None, None)  # stale
            await engine._set_status(STACK, "CREATE_IN_PROGRESS", "CREATE_COMPLETE", None,
                                     outputs)
            event.remove(db.sync_engine, "before_cursor_execute", seen)
            assert statements == [None, None]  # driver-level, both
            async with engine.cloud.sessions() as session:
                done = await session.get(Stack, STACK)
                assert done is not None
                assert (done.status, done.status_reason, done.outputs, done.updated_at,
                        done.deleted_at) == ("CREATE_COMPLETE", None, outputs, None, None)
                done_id = done.stack_id
            new = (await _events(engine))[len(before):]
            assert [(e[1], e[2], e[4]) for e in new] == [("s", "CREATE_COMPLETE", done_id)]

            async with engine.cloud.sessions() as session, session.begin():
                stack = await session.get(Stack, STACK)
                assert stack is not None
                stack.status, stack.operation = "DELETE_IN_PROGRESS", "UPDATE"
            await engine._set_status(STACK, "DELETE_IN_PROGRESS", "DELETE_COMPLETE",
                                     "gone", None)
            async with engine.cloud.sessions() as session:
                gone = await session.get(Stack, STACK)
                assert gone is not None
                assert (gone.status, gone.status_reason, gone.outputs) == \
                    ("DELETE_COMPLETE", "gone", outputs)  # outputs kept: not given
                assert gone.deleted_at is not None and gone.updated_at == gone.deleted_at
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_pass_s_new_rows_serialise_an_empty_value_once(database: str) -> None:
    """The new rows' INSERT binds each column's empty values (None, ``{}``, ``[]``: no
    attributes, signals, metadata... yet) once a statement, not once a row: each row's
    properties, the one metadata and one dependency list given, an empty attributes,
    dependencies and signals value, and a None of the old properties and metadata are
    all the JSON it serialises; the rows read back as written."""
    import json

    serialised: list[Any] = []

    def counting(value: Any) -> str:
        serialised.append(value)
        return json.dumps(value)

    async def scenario() -> None:
        engine, db = await _engine(database)
        await db.dispose()
        db = create_engine(database, json_serializer=counting)
        engine.cloud = SimpleNamespace(sessions=session_factory(db))  # type: ignore[assignment]
        try:
            names = [f"Empty{i}" for i in range(20)]
            plan = SimpleNamespace(deps={n: set() for n in names} | {"Empty3": {"Empty1"}},
                                   template={"Resources": {n: {} for n in names} | {
                                       "Empty2": {"Metadata": {"m": 2}}}})
            wanted = [NewRow(n, "AWS::IAM::User", {"N": n}, "Delete", None) for n in names]
            made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                          plan, wanted)  # type: ignore[arg-type]
            properties = [{"N": n} for n in names]
            assert sorted(map(json.dumps, serialised)) == sorted(map(json.dumps, [
                *properties, {"m": 2}, ["Empty1"], {}, [], [], None, None]))
            async with engine.cloud.sessions() as session:
                stored = {r.logical_id: r for r in (await session.execute(select(
                    StackResource).where(StackResource.id.in_([r.id for r in made])))).scalars()}
            for name in names:
                row = stored[name]
                assert (row.properties, row.attributes, row.signals, row.old_properties,
                        row.depends, row.metadata_) == (
                    {"N": name}, {}, [], None, ["Empty1"] if name == "Empty3" else [],
                    {"m": 2} if name == "Empty2" else None)
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_new_row_s_state_is_given_whole(database: str) -> None:
    """A pass's new rows get their status, reason and time with the rest of their state
    (no ORM attribute events a row, ``_set``'s three), and their first event as
    before: CREATE_IN_PROGRESS, or UPDATE_IN_PROGRESS with the replacement's words."""
    from cloudctl.services.cloudformation.engine import REPLACING

    sets: list[str] = []

    def seen(target: Any, value: Any, old: Any, initiator: Any) -> None:
        sets.append(initiator.key)

    async def scenario() -> None:
        engine, db = await _engine(database)
        try:
            async with engine.cloud.sessions() as session, session.begin():
                old = StackResource(stack_id=STACK, logical_id="Whole1",
                                    type="AWS::S3::Bucket", status="CREATE_COMPLETE",
                                    token="t", properties={}, physical_id="b-whole",
                                    generation=1)
                session.add(old)
            names = [f"Whole{i}" for i in range(3)]
            plan = SimpleNamespace(deps={n: set() for n in names},
                                   template={"Resources": {n: {} for n in names}})
            wanted = [NewRow(n, "AWS::S3::Bucket", {"N": n}, "Delete",
                             old if n == "Whole1" else None) for n in names]
            before = await _events(engine)
            for key in ("status", "status_reason", "updated_at"):
                event.listen(getattr(StackResource, key), "set", seen)
            try:
                made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                              plan, wanted)  # type: ignore[arg-type]
            finally:
                for key in ("status", "status_reason", "updated_at"):
                    event.remove(getattr(StackResource, key), "set", seen)
            assert sets == []
            assert [(r.status, r.status_reason) for r in made] == [
                ("CREATE_IN_PROGRESS", None), ("UPDATE_IN_PROGRESS", REPLACING),
                ("CREATE_IN_PROGRESS", None)]
            assert [e[1:] for e in (await _events(engine))[len(before):]] == [
                ("Whole0", "CREATE_IN_PROGRESS", None, None),
                ("Whole1", "UPDATE_IN_PROGRESS", REPLACING, None),
                ("Whole2", "CREATE_IN_PROGRESS", None, None)]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_pass_end_s_changes_read_the_held_row_s_state_and_leave_it_as_written(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ends of a pass: a change reads the row's loaded attributes as plain values
    (no fallback call a read; one it wrote, as written), and the rows the engine holds
    then have what was written, as the database has it (no ORM change pending on
    them), their events as before."""
    from sqlalchemy import inspect

    from cloudctl.services.cloudformation import rows as rows_module

    fallbacks: list[str] = []
    real = rows_module.Writes.__getattr__

    def counted(self: Any, name: str) -> Any:
        fallbacks.append(name)
        return real(self, name)

    monkeypatch.setattr(rows_module.Writes, "__getattr__", counted)

    async def scenario() -> None:
        engine, db = await _engine(database)
        try:
            names = [f"Held{i}" for i in range(3)]
            plan = SimpleNamespace(deps={n: set() for n in names},
                                   template={"Resources": {n: {} for n in names}})
            wanted = [NewRow(n, "AWS::IAM::User", {"N": n}, "Delete", None) for n in names]
            made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                          plan, wanted)  # type: ignore[arg-type]
            before = await _events(engine)
            batch: list[Any] = []
            for row in made:
                engine._finish(batch, row, "CREATE_COMPLETE", {"Arn": row.logical_id},
                               made=Outcome(f"p-{row.logical_id}", {"Arn": row.logical_id}))
            await engine._flush(batch)
            assert fallbacks == []
            for row in made:
                assert (row.physical_id, row.status, row.attributes, row.step) == (
                    f"p-{row.logical_id}", "CREATE_COMPLETE", {"Arn": row.logical_id}, None)
                state = inspect(row)
                assert not any(state.attrs[key].history.has_changes() for key in (
                    "physical_id", "status", "status_reason", "attributes", "step",
                    "old_properties", "updated_at"))
            assert [e[1:] for e in (await _events(engine))[len(before):]] == [
                event for name in names for event in (
                    (name, "CREATE_IN_PROGRESS", "Resource creation Initiated", f"p-{name}"),
                    (name, "CREATE_COMPLETE", None, f"p-{name}"))]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_the_exports_are_read_for_a_template_that_imports(database: str) -> None:
    """A pass reads its account's exports only when its template has an
    ``Fn::ImportValue`` (nested anywhere); a template that imports none gets none and
    no statement reads them."""
    from cloudctl.services.cloudformation.intrinsics import imports_any

    assert not imports_any({"Resources": {"A": {"Type": "T", "Properties": {
        "L": [{"Ref": "B"}, {"Fn::Sub": "x"}]}}}})
    assert imports_any({"Resources": {"A": {"Type": "T", "Properties": {
        "L": [1, {"Fn::Join": ["", [{"Fn::ImportValue": {"Fn::Sub": "e"}}]]}]}}}})

    async def scenario() -> None:
        engine, db = await _engine(database)
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        try:
            async with engine.cloud.sessions() as session, session.begin():
                for name, template in (
                        ("plain", {"Resources": {"A": {"Type": "AWS::S3::Bucket"}}}),
                        ("importing", {"Resources": {"A": {"Type": "AWS::S3::Bucket",
                                                           "Properties": {"BucketName": {
                                                               "Fn::ImportValue": "Shared"}}}}}),
                        ("exporting", {})):
                    session.add(Stack(
                        stack_id=f"arn:exports:{name}", name=f"exports-{name}",
                        account_id="000000000007", region="r",
                        status="CREATE_COMPLETE" if name == "exporting" else
                        "CREATE_IN_PROGRESS", operation="CREATE", template_body="{}",
                        template=template, parameters={}, access_key_id="AK",
                        outputs=[{"OutputKey": "O", "OutputValue": "v",
                                  "ExportName": "Shared"}] if name == "exporting" else []))
            event.listen(db.sync_engine, "before_cursor_execute", seen)
            _, _, exports = await engine._load("arn:exports:plain")
            assert exports == {}
            assert not [s for s in statements if "cfn_stacks.status IN" in s]
            _, _, exports = await engine._load("arn:exports:importing")
            assert exports == {"Shared": "v"}
            assert len([s for s in statements if "cfn_stacks.status IN" in s]) == 1
            event.remove(db.sync_engine, "before_cursor_execute", seen)
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_new_row_s_token_is_a_version_4_uuid_s_hex_without_uuid4(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new row's idempotency token is what ``uuid.uuid4().hex`` gives (a random
    version 4 UUID's hex), made from ``os.urandom`` (~0.8 us, not ~2): every variant
    digit seen, all distinct."""
    import uuid

    from cloudctl.services.ids import uuid4_hex

    tokens = [uuid4_hex() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    assert all(uuid.UUID(hex=t).hex == t and uuid.UUID(hex=t).version == 4 and
               uuid.UUID(hex=t).variant == uuid.RFC_4122 for t in tokens)
    assert {t[16] for t in tokens} == set("89ab")

    def refused() -> uuid.UUID:
        raise AssertionError("uuid4 called")

    monkeypatch.setattr(uuid, "uuid4", refused)

    async def scenario() -> None:
        engine, db = await _engine(database)
        try:
            names = [f"Token{i}" for i in range(4)]
            plan = SimpleNamespace(deps={n: set() for n in names},
                                   template={"Resources": {n: {} for n in names}})
            made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                          plan, [NewRow(n, "AWS::IAM::User", {}, "Delete", None)
                                                 for n in names])  # type: ignore[arg-type]
            assert all(uuid.UUID(hex=r.token).version == 4 for r in made)
        finally:
            await db.dispose()

    asyncio.run(scenario())
