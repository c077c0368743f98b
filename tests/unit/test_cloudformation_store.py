"""Finding a stack by name on a real (migrated) SQLite database: the live one of the
account and region (not another account's, region's or a deleted one, unless asked),
the newest first; the lookup reads through ``ix_cfn_stacks_lookup`` (account, region,
name), not the account's index (SQLite, without statistics, chose it and read every
stack of the account to the end of its row, where ``account_id`` and ``region`` are);
and an event's id is a random version 4 UUID's text."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cloudctl.db import migrate
from cloudctl.db.base import utcnow
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.cloudformation import store
from cloudctl.services.cloudformation.models import Stack

ACCOUNT = "000000000001"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = "sqlite+aiosqlite:///" + str(Path(tmp_path_factory.mktemp("cfnstore")) / "cloud.db")
    migrate.upgrade(url)
    return url


def _stack(stack_id: str, name: str, account: str = ACCOUNT, region: str = "r",
           status: str = "CREATE_COMPLETE", age: int = 0) -> Stack:
    return Stack(stack_id=stack_id, name=name, account_id=account, region=region,
                 status=status, operation="CREATE", template_body="{}", template={},
                 parameters={}, access_key_id="AK", request_token=f"t-{stack_id}",
                 created_at=utcnow() - timedelta(seconds=age))


def test_a_stack_is_found_by_name_in_its_account_and_region(database: str) -> None:
    async def scenario() -> None:
        db = create_engine(database)
        sessions = session_factory(db)
        try:
            async with sessions() as session, session.begin():
                session.add_all([
                    _stack("old", "s", status="DELETE_COMPLETE", age=20),
                    _stack("older", "s", status="DELETE_COMPLETE", age=30),
                    _stack("live", "s", age=10),
                    _stack("other-account", "s", account="000000000002"),
                    _stack("other-region", "s", region="q"),
                    _stack("gone", "t", status="DELETE_COMPLETE")])
            async with sessions() as session:
                assert await store.live_stack_ref(session, ACCOUNT, "r", "s") == \
                    ("live", "t-live")
                assert await store.live_stack_ref(session, ACCOUNT, "r", "t") is None
                assert await store.live_stack_ref(session, ACCOUNT, "x", "s") is None
                found = await store.find_stack(session, ACCOUNT, "r", "s")
                assert found is not None and found.stack_id == "live"
                assert await store.find_stack(session, ACCOUNT, "r", "t") is None
                gone = await store.find_stack(session, ACCOUNT, "r", "t", deleted=True)
                assert gone is not None and gone.stack_id == "gone"
                newest = await store.find_stack(session, ACCOUNT, "r", "s", deleted=True)
                assert newest is not None and newest.stack_id == "live"
        finally:
            await db.dispose()
    asyncio.run(scenario())


def test_the_lookup_by_name_uses_the_lookup_index(database: str) -> None:
    async def scenario() -> None:
        db = create_engine(database)
        sessions = session_factory(db)
        seen: list[tuple[str, Any]] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                   executemany: bool) -> None:
            if "FROM cfn_stacks" in statement:
                seen.append((statement, parameters))
        event.listen(db.sync_engine, "before_cursor_execute", record)
        try:
            async with sessions() as session:
                await store.live_stack_ref(session, ACCOUNT, "r", "s")
                await store.find_stack(session, ACCOUNT, "r", "s")
            event.remove(db.sync_engine, "before_cursor_execute", record)
            assert seen
            plans = []
            async with db.connect() as conn:
                for statement, parameters in seen:
                    plan = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                       parameters)).all()
                    plans.append(" ".join(str(row[-1]) for row in plan))
            assert all("SEARCH cfn_stacks USING INDEX" in p for p in plans), plans
            assert not any("ix_cfn_stacks_account_id" in p for p in plans), plans
            assert len(plans) == 2, plans
            assert all("ix_cfn_stacks_lookup (account_id=? AND region=? AND name=?)" in p
                       for p in plans), plans
        finally:
            await db.dispose()
    asyncio.run(scenario())


def test_an_event_id_is_a_random_version_4_uuid() -> None:
    ids = [store.event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower case, hyphens where uuid4's text has them
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every variant digit (8, 9, a, b) and the random bits all vary
    assert {text[19] for text in ids} == set("89ab")
    assert len({text[:8] for text in ids}) == len(ids)
