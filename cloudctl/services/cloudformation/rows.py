"""The stack engine's reads and writes of resource rows: the ``Act`` an adapter runs
with, each status change with its event (``NoEcho`` values masked), and the ends of a
pass's steps batched into one transaction.

The ends of a pass are written without reading the rows again: each change runs over
the row the engine holds (``Writes`` records what it sets), and the pass's rows are
updated by primary key with one statement a set of columns (an executemany,
driver-level: ``rawrows``), only the columns the changes set (a signal recorded
meanwhile by the API stays).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select

from cloudctl.core.reconcile import Retry
from cloudctl.db.base import utcnow
from cloudctl.server.internal import Caller
from cloudctl.services.cloudformation import intrinsics, rawrows, resources, store
from cloudctl.services.cloudformation.models import Stack, StackResource
from cloudctl.services.cloudformation.resources.base import Act, Outcome
from cloudctl.services.cloudformation.stackinfo import SIGNAL_DEADLINE, masked, secrets_of

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
WORKING = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS")
FAILED = ("CREATE_FAILED", "UPDATE_FAILED")
GONE = ("DELETE_COMPLETE", "DELETE_SKIPPED")

Change = tuple[StackResource, Callable[[Any, StackResource], Awaitable[None]]]


class Writes:
    """A resource row as a change sees it: its attributes as the row the engine holds
    has them loaded (copied: a read is a plain lookup, not a fallback call; one not
    loaded falls through to the row), writes recorded (``values``) for one bulk update
    of the pass's rows and seen by the reads after them."""

    def __init__(self, row: StackResource) -> None:
        state = self.__dict__
        state.update(row.__dict__)
        state["_row"] = row
        state["values"] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_row"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        state = self.__dict__
        state["values"][name] = value
        state[name] = value


async def run_steps(steps: Sequence[Awaitable[bool]]) -> list[bool]:
    """Run the steps together and let every one finish before an unexpected failure of
    one is raised (a step left running would race the next sync of the stack)."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [bool(r) for r in results]


FIRST_POLL = 0.05  # seconds: the first look again at resources on their way
GROWTH = 1.25  # each look after a pass that found nothing ready waits this much longer


class ResourceRows:
    """The row reads and writes the engine's phases share (mixed into ``StackEngine``)."""

    cloud: Cloud
    _secrets: dict[str, set[str]]  # NoEcho values, masked in events
    _shown: dict[str, dict[str, tuple[Any, set[str] | None, str | None]]]  # ``_shown_of``
    _taken: dict[str, frozenset[str]]  # physical ids a stack's rows record
    _idle: dict[str, int]  # a stack's passes in a row that found nothing ready

    def _waiting(self, stack_id: str) -> Retry:
        """The ``Retry`` of a pass in which no resource progressed: looked at again soon
        at first (an instance on a fast node, a volume, are ready within a fraction of
        a second), then less often (a quarter as long again each time, so that a
        resource is seen ready at most about a fifth of its wait late: an instance
        running after 0.7 s is seen within 0.15 s), up to every second."""
        idle = self._idle.get(stack_id, 0) + 1
        self._idle[stack_id] = idle
        return Retry(min(1.0, round(FIRST_POLL * GROWTH ** (idle - 1), 3)))

    def _progressed(self, stack_id: str) -> None:
        self._idle.pop(stack_id, None)

    def _act(self, stack: Stack, row: StackResource, caller: Caller) -> Act:
        tags = [{"Key": k, "Value": v} for k, v in (stack.tags or {}).items()]
        tags += [{"Key": "aws:cloudformation:stack-name", "Value": stack.name},
                 {"Key": "aws:cloudformation:stack-id", "Value": stack.stack_id},
                 {"Key": "aws:cloudformation:logical-id", "Value": row.logical_id}]
        adapter = resources.adapter(row.type)
        if adapter is None or not adapter.takes_tags:
            tags = []
        declared = ((stack.template or {}).get("Resources") or {}).get(row.logical_id) or {}
        update_policy = declared.get("UpdatePolicy") if isinstance(declared, dict) else None
        return Act(cloud=self.cloud, caller=caller, stack_name=stack.name,
                   stack_id=stack.stack_id, logical_id=row.logical_id, token=row.token,
                   resumed=row.attempts > 1, tags=tags, endpoint=stack.endpoint,
                   signal_reader=self._signals,
                   taken=self._taken.get(stack.stack_id, frozenset()),
                   update_policy=update_policy if isinstance(update_policy, dict) else {})

    async def _signals(self, handle_url: str) -> list[dict[str, Any]]:
        async with self.cloud.sessions() as session:
            row = (await session.execute(select(StackResource).where(
                StackResource.physical_id == handle_url,
                StackResource.role == "current"))).scalars().first()
            return list(row.signals or []) if row is not None else []

    async def _set(self, session: Any, row: StackResource, status: str,
                   reason: str | None = None, *, event: bool = True) -> None:
        row.status = status
        row.status_reason = reason
        row.updated_at = utcnow()
        if event:
            await store.add_event(session, row.stack_id, row.logical_id, row.physical_id,
                                  row.type, status, reason, shown=self._shown_of(row))

    def _shown_of(self, row: StackResource) -> str | None:
        """The row's properties as its events show them (masked, JSON): made once for
        all of a resource's events while its properties and the stack's secrets stay
        the same objects (a creation's two or three events in a pass and the next)."""
        properties = row.properties
        secrets = self._secrets.get(row.stack_id)
        shown = self._shown.setdefault(row.stack_id, {})
        found = shown.get(row.logical_id)
        if found is not None and found[0] is properties and found[1] is secrets:
            return found[2]
        text = None if properties is None else json.dumps(masked(properties, secrets or set()))
        shown[row.logical_id] = (properties, secrets, text)
        return text

    async def _write(self, row_id: int, change: Callable[[Any, StackResource],
                                                         Awaitable[None]]) -> StackResource:
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(StackResource, row_id)
            assert row is not None
            await change(session, row)
            return row

    async def _load(self, stack_id: str, read: Stack | None = None
                    ) -> tuple[Stack, list[StackResource], dict[str, str]]:
        """The stack, its resource rows and the exports it may import (not read when its
        template imports none; ``read``: the stack as this sync just read it, not read
        again)."""
        async with self.cloud.sessions() as session:
            stack = read or await session.get(Stack, stack_id)
            assert stack is not None
            rows = await store.rows(session, stack_id)
            self._secrets[stack_id] = secrets_of(stack)
            self._taken[stack_id] = frozenset(r.physical_id for r in rows if r.physical_id)
            exports: dict[str, str] = {}
            if intrinsics.imports_any(stack.template):  # else no use for them
                exports = {name: value for name, (value, _) in (await store.exports(
                    session, stack.account_id, stack.region)).items()}
            return stack, rows, exports

    def _created(self, batch: list[Change], row: StackResource, physical_id: str,
                 attributes: dict[str, Any], event: bool = True,
                 signals_within: float | None = None) -> None:
        """Record a resource made (its physical id), and when a CreationPolicy waits for
        signals, the time they must arrive by."""
        async def created(session: Any, r: StackResource) -> None:
            r.physical_id = physical_id
            r.attributes = dict(attributes)
            if signals_within is not None and SIGNAL_DEADLINE not in r.attributes:
                r.attributes[SIGNAL_DEADLINE] = time.time() + signals_within
            if event:
                await self._set(session, r, r.status, "Resource creation Initiated")

        batch.append((row, created))

    def _finish(self, batch: list[Change], row: StackResource, status: str,
                attributes: dict[str, Any] | None, reason: str | None = None,
                made: Outcome | None = None) -> None:
        """The step's end in one transaction (with the physical id of a resource made
        and ready in this step)."""
        async def finish(session: Any, r: StackResource) -> None:
            if made is not None:
                r.physical_id = made.physical_id
                await self._set(session, r, r.status, "Resource creation Initiated")
            if attributes is not None:
                r.attributes = attributes
            r.step = None
            r.old_properties = None
            await self._set(session, r, status, reason)

        batch.append((row, finish))

    async def _flush(self, batch: list[Change],
                     then: Callable[[Any], Awaitable[None]] | None = None) -> None:
        """The ends of a pass's steps, in one transaction (a crash before it repeats the
        steps: creation is idempotent by token): the changes run over the rows the
        engine holds, their columns written by primary key, their events queued.
        ``then`` runs last in the same transaction, the rows held already changed (the
        stack's own transition, when these ends complete it)."""
        if not batch:
            return
        writes: dict[int, tuple[StackResource, Writes]] = {}
        async with self.cloud.sessions() as session, session.begin():
            for row, change in batch:  # a row's changes in order, over the same record
                held = writes.get(row.id)
                if held is None:
                    held = writes[row.id] = (row, Writes(row))
                await change(session, cast(StackResource, held[1]))
            await rawrows.update_rows(session, {
                row_id: recorded.values for row_id, (_, recorded) in writes.items()})
            for row, recorded in writes.values():  # the rows held: what the database has
                row.__dict__.update(recorded.values)
            batch.clear()
            if then is not None:
                await then(session)
