"""The stack engine's deletions: a stack's resources (delete, rollback) or the ones an
update left behind (cleanup), dependents first, each deletion recorded before it runs so
that after kill -9 the next sync resumes it (deletion is idempotent by "already gone").
The deletions of a type that start in a pass are started together (the type's
``delete_many``: one transaction of its service for many, each failing alone); their
ends are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.cloudformation import resources, store
from cloudctl.services.cloudformation.errors import Failed, ResourceFailure
from cloudctl.services.cloudformation.models import Stack, StackResource
from cloudctl.services.cloudformation.processing import Plan
from cloudctl.services.cloudformation.resources.base import Act, failure
from cloudctl.services.cloudformation.rows import FAILED, GONE, Change, ResourceRows, run_steps
from cloudctl.services.cloudformation.stackinfo import pseudo


class StackTeardown(ResourceRows):
    """Deletion of a stack's resources (mixed into ``StackEngine``)."""

    async def _remove(self, stack: Stack, caller: Caller, *, everything: bool) -> None:
        """Delete the stack's resources (``everything``), or the ones an update left
        behind (replaced, or gone from the template), dependents first."""
        while True:
            stack, rows, exports = await self._load(stack.stack_id)
            if everything:
                doomed = [r for r in rows if r.role != "gone"]
            else:
                plan = Plan(stack.template, stack.parameters, pseudo(stack), exports=exports)
                doomed = [r for r in rows if r.role == "old" or
                          (r.role == "current" and r.logical_id not in plan.kept)]
            doomed = [r for r in doomed if r.status not in GONE]
            if not doomed:
                return
            failed = []
            starting: list[StackResource] = []
            for row in doomed:
                if row.status == "DELETE_FAILED" and not row.step:
                    failed.append(row.logical_id)
                    continue
                blocked = any(row.logical_id in (other.depends or []) and
                              other.logical_id != row.logical_id for other in doomed)
                if not blocked or row.status == "DELETE_IN_PROGRESS":
                    starting.append(row)
            if not starting:
                raise Failed(failed) if failed else self._waiting(stack.stack_id)
            working = await self._begin_deletes(stack, starting)
            batch: list[Change] = []
            try:
                progressed = await run_steps(self._deletions(stack, working, caller, batch,
                                                             doomed))
            finally:
                await self._flush(batch)
            if working and not any(progressed):
                raise self._waiting(stack.stack_id)
            self._progressed(stack.stack_id)

    async def _begin_deletes(self, stack: Stack,
                             rows: list[StackResource]) -> list[StackResource]:
        """Record the deletions about to start (one transaction); rows retained or never
        made are done at once. The rows whose deletion now runs."""
        working = []
        async with self.cloud.sessions() as session, session.begin():
            found = await store.rows_by_id(session, (stale.id for stale in rows))
            for stale in rows:
                row = found[stale.id]
                if row.status == "DELETE_IN_PROGRESS":
                    working.append(row)
                    continue
                retain = row.deletion_policy == "Retain" or \
                    row.logical_id in (stack.retain or [])
                if row.physical_id is None and (row.status in FAILED or row.attempts == 0):
                    row.role, row.step = "gone", None
                    await self._set(session, row, "DELETE_COMPLETE",
                                    event=row.status not in FAILED)
                elif retain:
                    row.role, row.step = "gone", None
                    await self._set(session, row, "DELETE_SKIPPED")
                else:
                    row.step = "snapshot" if row.deletion_policy == "Snapshot" else "delete"
                    await self._set(session, row, "DELETE_IN_PROGRESS")
                    working.append(row)
        return working

    def _deletions(self, stack: Stack, rows: list[StackResource], caller: Caller,
                   batch: list[Change], doomed: list[StackResource]) -> list[Awaitable[bool]]:
        """The steps of the deletions under way. Those of resources that exist and need
        nothing first (no snapshot, no adoption after a crash) start together, a type's
        at once (its ``delete_many``: one transaction of its service for many), each then
        on its own way (gone, events); the types apart (a slow type's deletions hold up
        no other's)."""
        by_type: dict[str, list[StackResource]] = {}
        steps: list[Awaitable[bool]] = []
        for row in rows:
            if row.physical_id is not None and row.step == "delete":
                by_type.setdefault(row.type, []).append(row)
            else:
                steps.append(self._delete_step(stack, row, caller, batch,
                                               others=_others_deleting(doomed, row)))
        steps += [self._delete_together(stack, deleting, caller, batch, doomed)
                  for deleting in by_type.values()]
        return steps

    async def _delete_together(self, stack: Stack, rows: list[StackResource], caller: Caller,
                               batch: list[Change], doomed: list[StackResource]) -> bool:
        """Start the deletions of resources of one type together (``delete_many``), then
        finish each as ``_delete_step`` does; whether any of them progressed."""
        adapter = resources.adapter(rows[0].type)
        assert adapter is not None
        acts = [self._act(stack, r, caller) for r in rows]
        outcomes = await adapter.delete_many(
            acts, [str(r.physical_id) for r in rows], [r.properties for r in rows],
            [r.attributes or {} for r in rows])
        progressed = await run_steps([
            self._delete_step(stack, row, caller, batch, others=_others_deleting(doomed, row),
                              started=(act, outcome))
            for row, act, outcome in zip(rows, acts, outcomes, strict=True)])
        return any(progressed)

    async def _delete_step(self, stack: Stack, row: StackResource, caller: Caller,
                           batch: list[Change], *, others: bool = False,
                           started: tuple[Act, BaseException | None] | None = None) -> bool:
        """Delete one resource; False while it is not gone yet (look again later).

        ``started``: its action and the outcome of its deletion, when it was started
        with others of its type (``_delete_together``). A ``DependencyViolation`` (an
        internet gateway still mapping the public address of a NAT gateway being
        deleted, a security group still used by an instance terminating) is waited out,
        as AWS's handlers do, while ``others`` (other resources of the stack still being
        deleted) may clear it; then it fails."""
        adapter = resources.adapter(row.type)
        assert adapter is not None
        try:
            act = self._act(stack, row, caller) if started is None else started[0]
            if row.physical_id is None:  # created before a crash, its id unrecorded
                act.resumed = True
                outcome = await adapter.create(act, row.properties)
                row.physical_id, row.attributes = outcome.physical_id, outcome.attributes
                physical_id, attributes = outcome.physical_id, outcome.attributes

                async def adopt(session: Any, r: StackResource) -> None:
                    del session
                    r.physical_id, r.attributes = physical_id, attributes

                row = await self._write(row.id, adopt)
            if row.step == "snapshot":
                await adapter.snapshot(act, str(row.physical_id))

                async def snapped(session: Any, r: StackResource) -> None:
                    del session
                    r.step = "delete"

                row = await self._write(row.id, snapped)
            if started is None:
                await adapter.delete(act, str(row.physical_id), row.properties,
                                     row.attributes or {})
            elif started[1] is not None:
                raise started[1]
            if not await adapter.gone(act, str(row.physical_id), row.attributes or {}):
                return False
        except (AwsError, ResourceFailure) as error:
            if others and isinstance(error, AwsError) and error.code == "DependencyViolation":
                return False
            reason = error.reason if isinstance(error, ResourceFailure) else \
                failure(error).reason

            async def failed(session: Any, r: StackResource) -> None:
                r.step = None
                await self._set(session, r, "DELETE_FAILED", reason)

            batch.append((row, failed))
            return True

        async def gone(session: Any, r: StackResource) -> None:
            r.role = "gone"
            r.step = None
            await self._set(session, r, "DELETE_COMPLETE")

        batch.append((row, gone))
        return True


def _others_deleting(doomed: list[StackResource], row: StackResource) -> bool:
    """Whether resources of the stack other than ``row`` are still to be deleted (not
    failed for good), so that a dependency blocking ``row`` may yet go."""
    return any(other.id != row.id and not (other.status == "DELETE_FAILED" and not other.step)
               for other in doomed)
