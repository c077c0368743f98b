"""Reads and conditional writes of the CloudFormation tables shared by the API and the
engine: stacks by name or id, stack events in order, resource rows, exports.

Events: ``add_event`` queues an event on the session; when the transaction commits
the queued events of a stack take its next sequence numbers with one atomic
``UPDATE ... RETURNING``, so concurrent writers (the engine's parallel resource steps,
an API call) never collide and ``DescribeStackEvents`` returns them in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import Connection, Table, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cloudctl.core import fencing
from cloudctl.db.base import utcnow
from cloudctl.services.cloudformation.errors import no_stack
from cloudctl.services.cloudformation.models import Stack, StackEvent, StackResource
from cloudctl.services.ids import uuid4_hex

STACK_TYPE = "AWS::CloudFormation::Stack"
TERMINAL_DELETED = "DELETE_COMPLETE"
EXPORTING = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
             "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS",
             "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
             "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED")


PENDING = "cfn_pending_events"
CHUNK = 500  # ids a statement names (SQLite's bound parameters are limited)


def event_id() -> str:
    """A random (version 4) UUID as text, what ``str(uuid.uuid4())`` gives, in about
    half its time (a creation of 100 resources makes 300 events)."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


async def add_event(session: AsyncSession, stack_id: str, logical_id: str,
                    physical_id: str | None, type_name: str, status: str,
                    reason: str | None = None, properties: dict[str, Any] | None = None,
                    token: str | None = None, shown: str | None = None) -> None:
    """Queue a stack event; it is numbered and written when the transaction commits
    (``_number_events``), all of a transaction's events of a stack with one update and
    one multi-row insert (plain rows, not ORM objects: a pass writes hundreds).
    ``shown``: the properties as JSON already (else ``properties`` are serialised)."""
    session.info.setdefault(PENDING, []).append({
        "event_id": event_id(), "stack_id": stack_id, "seq": 0,
        "logical_id": logical_id, "physical_id": physical_id, "type": type_name,
        "status": status, "reason": reason,
        "properties": shown if shown is not None else
        json.dumps(properties) if properties is not None else None,
        "request_token": token, "timestamp": utcnow()})


@event.listens_for(Session, "before_commit", insert=True)
def _number_events(session: Session) -> None:
    """Number the queued events of each stack after its last one (one atomic
    ``UPDATE ... RETURNING`` per stack: concurrent writers never collide) and insert
    them. First of the hook's listeners (``insert``), so that fencing's check, in the
    same hook, sees these writes whichever was registered first."""
    pending: list[dict[str, Any]] | None = session.info.pop(PENDING, None)
    if not pending:
        return
    by_stack: dict[str, list[dict[str, Any]]] = {}
    for item in pending:
        by_stack.setdefault(item["stack_id"], []).append(item)
    session.flush()  # a stack added in this transaction is in the table (as autoflush did)
    fencing.wrote(session)  # the driver-level statements below (the ORM does not see them)
    connection = session.connection()
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    numbering = (f"UPDATE {Stack.__tablename__} SET event_seq = event_seq + {mark} "
                 f"WHERE stack_id = {mark} RETURNING event_seq")
    for stack_id, items in by_stack.items():
        # driver-level: the ORM's update statement cost more Python than SQLite its run
        last = int(connection.exec_driver_sql(numbering, (len(items), stack_id)).scalar_one())
        for offset, item in enumerate(items):
            item["seq"] = last - len(items) + 1 + offset
    _insert_events(connection, pending)


EVENT_COLUMNS = ("event_id", "stack_id", "seq", "logical_id", "physical_id", "type",
                 "status", "reason", "properties", "request_token", "timestamp")


def _same(value: Any) -> Any:
    return value


def _insert_events(connection: Connection, pending: list[dict[str, Any]]) -> None:
    """One driver-level executemany of the events (a pass writes hundreds; Core's
    insert ran every value of every row through its bind processing); the timestamp
    bound as the column's type binds it, the rest are plain values."""
    dialect = connection.dialect
    mark = "%s" if dialect.name == "postgresql" else "?"
    table = cast(Table, StackEvent.__table__)
    stamp: Callable[[Any], Any] = table.c.timestamp.type.bind_processor(dialect) or _same
    sql = (f"INSERT INTO {table.name} ({', '.join(EVENT_COLUMNS)}) "
           f"VALUES ({', '.join([mark] * len(EVENT_COLUMNS))})")
    connection.exec_driver_sql(sql, [
        (e["event_id"], e["stack_id"], e["seq"], e["logical_id"], e["physical_id"],
         e["type"], e["status"], e["reason"], e["properties"], e["request_token"],
         stamp(e["timestamp"])) for e in pending])


async def stack_event(session: AsyncSession, stack: Stack, status: str,
                      reason: str | None = None) -> None:
    """The stack's own status change, and its event."""
    stack.status = status
    stack.status_reason = reason
    await add_event(session, stack.stack_id, stack.name, stack.stack_id, STACK_TYPE, status,
                    reason, token=stack.request_token)


async def find_stack(session: AsyncSession, account_id: str, region: str, name: str,
                     *, deleted: bool = False) -> Stack | None:
    """A stack by name (the live one) or by id (deleted ones too)."""
    if name.startswith("arn:"):
        stack = await session.get(Stack, name)
        if stack is None or stack.account_id != account_id:
            return None
        return stack
    query = select(Stack).where(Stack.account_id == account_id, Stack.region == region,
                                Stack.name == name)
    if not deleted:
        query = query.where(Stack.status != TERMINAL_DELETED)
    return (await session.execute(query.order_by(Stack.created_at.desc()))).scalars().first()


async def live_stack_ref(session: AsyncSession, account_id: str, region: str,
                         name: str) -> tuple[str, str | None] | None:
    """The id and request token of the live stack of that name, if any (what CreateStack
    asks: not the whole row, whose template a stack of many resources makes large),
    through ``ix_cfn_stacks_lookup``."""
    found = (await session.execute(
        select(Stack.stack_id, Stack.request_token).where(
            Stack.account_id == account_id, Stack.region == region, Stack.name == name,
            Stack.status != TERMINAL_DELETED).limit(1))).first()
    return None if found is None else (found.stack_id, found.request_token)


async def require_stack(session: AsyncSession, account_id: str, region: str,
                        name: str) -> Stack:
    stack = await find_stack(session, account_id, region, name)
    if stack is None:
        raise no_stack(name)
    return stack


async def rows(session: AsyncSession, stack_id: str) -> list[StackResource]:
    return list((await session.execute(
        select(StackResource).where(StackResource.stack_id == stack_id)
        .order_by(StackResource.id))).scalars())


async def rows_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, StackResource]:
    """Resource rows by id, in as few statements as there are ``CHUNK`` ids (one for a
    pass's batch, instead of one ``get`` a row). Every id must name a row: the engine
    asks only for rows it holds, which nothing else deletes."""
    wanted = sorted(set(ids))
    found: dict[int, StackResource] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        for row in (await session.execute(
                select(StackResource).where(StackResource.id.in_(chunk)))).scalars():
            found[row.id] = row
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - found.keys())
        raise LookupError(f"stack resource rows {missing} are gone from the database")
    return found


async def live_rows(session: AsyncSession, stack_id: str) -> list[StackResource]:
    """The resources a stack has now (current ones, not deleted)."""
    return [r for r in await rows(session, stack_id)
            if r.role == "current" and r.status != TERMINAL_DELETED]


async def exports(session: AsyncSession, account_id: str,
                  region: str) -> dict[str, tuple[str, str]]:
    """Export name -> (value, exporting stack id) in an account and region."""
    found: dict[str, tuple[str, str]] = {}
    stacks = (await session.execute(select(Stack.stack_id, Stack.outputs).where(
        Stack.account_id == account_id, Stack.region == region,
        Stack.status.in_(EXPORTING)))).all()  # the outputs only (not whole stacks)
    for stack_id, outputs in stacks:
        for output in outputs or []:
            if output.get("ExportName"):
                found[output["ExportName"]] = (output["OutputValue"], stack_id)
    return found


async def importers(session: AsyncSession, account_id: str, region: str,
                    export_name: str) -> list[str]:
    """Names of live stacks whose template imports ``export_name``."""
    names = []
    stacks = (await session.execute(select(Stack).where(
        Stack.account_id == account_id, Stack.region == region,
        Stack.status != TERMINAL_DELETED))).scalars()
    needle = json.dumps(export_name)
    for stack in stacks:
        text = json.dumps(stack.template)
        if '"Fn::ImportValue"' in text and needle in text:
            names.append(stack.name)
    return names
