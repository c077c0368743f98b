"""CreateStack's transaction, in one process against a real (migrated) SQLite
database: the stack row is one Core INSERT (no ORM object and unit of work) holding
what the request asked, the columns it does not name at their defaults, and the
stack's first event is CREATE_IN_PROGRESS "User Initiated" with the request token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cloudctl.auth.credentials import Credential
from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.server.context import RequestContext
from cloudctl.services.cloudformation.models import Stack, StackEvent
from cloudctl.services.cloudformation.stacks import StackOperations

ACCOUNT = "000000000042"


def test_create_stack_writes_its_row_with_one_core_insert(tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "cloud.db")
    migrate.upgrade(url)
    credential = Credential(access_key_id="AKIACREATE", secret_access_key="s",
                            account_id=ACCOUNT, principal_arn=f"arn:aws:iam::{ACCOUNT}:root",
                            user_id="AIDA")
    wire = SimpleNamespace(header=lambda name: "api.test:8773" if name == "Host" else None,
                           scheme="http")
    ctx = RequestContext(request_id="req", service="cloudformation", operation="CreateStack",
                         region="r1", credential=credential, wire=wire,  # type: ignore[arg-type]
                         source_ip="127.0.0.1")
    template = {"Description": "made", "Parameters": {"Size": {"Type": "Number"}},
                "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    params = {"StackName": "made", "TemplateBody": json.dumps(template),
              "Parameters": [{"ParameterKey": "Size", "ParameterValue": "3"}],
              "Tags": [{"Key": "team", "Value": "a"}], "TimeoutInMinutes": 5,
              "ClientRequestToken": "token-1", "EnableTerminationProtection": True}
    flushed: list[Any] = []

    def seen(session: Session, context: Any, instances: Any) -> None:
        flushed.extend(session.new)

    async def scenario() -> None:
        db = create_engine(url)
        woken: list[str] = []
        cloud = SimpleNamespace(sessions=session_factory(db), region_zones={},
                                settings=SimpleNamespace(guest_endpoint=""), runtime={})
        operations = StackOperations(cloud)  # type: ignore[arg-type]
        operations.wake = woken.append  # type: ignore[method-assign]
        event.listen(Session, "before_flush", seen)
        try:
            answer = await operations.create_stack(ctx, params)
        finally:
            event.remove(Session, "before_flush", seen)
        try:
            stack_id = answer["StackId"]
            assert woken == [stack_id]
            assert flushed == []  # no ORM object written
            async with cloud.sessions() as session:
                stack = await session.get(Stack, stack_id)
                events = list((await session.execute(select(StackEvent).where(
                    StackEvent.stack_id == stack_id))).scalars())
            assert stack is not None
            assert (stack.account_id, stack.region, stack.name, stack.status,
                    stack.operation, stack.description, stack.template, stack.parameters,
                    stack.tags, stack.timeout_minutes, stack.termination_protection,
                    stack.request_token, stack.endpoint, stack.access_key_id,
                    stack.on_failure, stack.event_seq, stack.outputs, stack.retain) == (
                ACCOUNT, "r1", "made", "CREATE_IN_PROGRESS", "CREATE", "made", template,
                {"Size": "3"}, {"team": "a"}, 5, True, "token-1", "http://api.test:8773",
                "AKIACREATE", "ROLLBACK", 1, [], [])
            assert stack.deadline is not None and stack.created_at is not None
            assert (stack.previous_template, stack.updated_at, stack.parent_id,
                    stack.status_reason) == (None, None, None, None)
            assert [(e.seq, e.logical_id, e.physical_id, e.type, e.status, e.reason,
                     e.request_token) for e in events] == [
                (1, "made", stack_id, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS",
                 "User Initiated", "token-1")]
        finally:
            await db.dispose()

    asyncio.run(scenario())
