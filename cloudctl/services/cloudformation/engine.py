"""The stack engine: a controller on the reconcile base that converges each stack whose
status is ``*_IN_PROGRESS`` to its template, one idempotent step at a time.

A sync reads the stack and its resource rows, evaluates the template (``Plan``), and
acts on every resource whose dependencies are complete, in parallel: create, wait for
real readiness, update in place, replace (a new row, the old one kept for cleanup),
delete in reverse dependency order. The resources of a type to create in a pass are
made together (the type's ``create_many``: one transaction of its service for many,
each failing alone), their rows written before and their ends after in one
transaction each. Each step is written (status, token, attempt)
before it acts, so after kill -9 the next sync repeats exactly the unfinished steps:
creations are idempotent by token, deletions by "already gone". Stack transitions
are conditional on the status the sync read (an API call may have changed it).

A resource on its way (an instance to ``running``) is looked at again after a growing
delay, and at once when EC2 tells this process of its new state (``settled``, through
``ec2.api.watch_states``). The creation pass whose ends complete every resource writes
the stack's CREATE_COMPLETE with them (``_completion``).

The stack acts as its principal: the access key it was created with, looked up at
every sync (a deleted key fails the operation). The engine inherits its deletions
(``deletion.StackTeardown``) and its resource row writes (``rows.ResourceRows``).
"""

from __future__ import annotations

import graphlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select

from cloudctl.core import election, wakes
from cloudctl.core.reconcile import Reconciler
from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.internal import Caller
from cloudctl.server.providers import Provider
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.cloudformation import rawrows, resources, schemas, stackpolicy, store
from cloudctl.services.cloudformation.deletion import StackTeardown
from cloudctl.services.cloudformation.errors import Failed, ResourceFailure
from cloudctl.services.cloudformation.intrinsics import Unresolved
from cloudctl.services.cloudformation.models import Stack, StackResource
from cloudctl.services.cloudformation.processing import Plan
from cloudctl.services.cloudformation.resources.autoscaling import launch_changed, will_replace
from cloudctl.services.cloudformation.resources.base import (
    Act,
    NeedsReplacement,
    Outcome,
    failure,
)
from cloudctl.services.cloudformation.rows import (
    COMPLETE,
    FAILED,
    GONE,
    WORKING,
    Change,
    run_steps,
)
from cloudctl.services.cloudformation.stackinfo import SIGNAL_DEADLINE, pseudo, signal_policy
from cloudctl.services.ec2 import api as ec2
from cloudctl.services.iam import api as iam
from cloudctl.services.ids import uuid4_hex

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

RESYNC_INTERVAL = registry.define(PropertyDef(
    "cloudformation.resync_interval_sec", PropertyType.INTEGER, "2",
    "Seconds between full resyncs of the stack engine (CreateStack and the other "
    "stack operations wake it at once, on whichever host leads it).",
    minimum=1, maximum=3600,
))

ENGINE: RuntimeKey[StackEngine] = RuntimeKey("cloudformation.engine")


def wake_stack(cloud: Cloud, stack_id: str) -> None:
    """Converge ``stack_id`` soon: here if this process runs the engine, else in the
    process that leads it (``cloudctl.core.wakes``)."""
    engine = cloud.runtime.get(ENGINE)
    if engine is not None:
        engine.wake(stack_id)
    else:
        wakes.forward(StackEngine.name, stack_id)


REPLACING = "Requested update requires the creation of a new physical resource; " \
            "hence creating one."


@dataclass(frozen=True)
class NewRow:
    """A resource to create (``replacing``: the row it replaces)."""

    name: str
    type_name: str
    props: dict[str, Any]
    policy: str
    replacing: StackResource | None


@dataclass(frozen=True)
class Held:
    """A stack as the engine's last pass left it, written and still exact."""

    stack: Stack
    rows: list[StackResource]
    exports: dict[str, str]


def _held(stack: Stack, rows: list[StackResource], exports: dict[str, str],
          stepped: list[StackResource]) -> Held | None:
    """The stack to look at again without reading it back, when what the pass held is
    what the database has: a creation's pass that made new rows only (no row written
    apart by ``_decide``: a failure recorded, an update begun) and whose every stepped
    resource ended (complete or failed: nothing the API may write meanwhile, such as a
    signal, is on a row still working). None: read it back."""
    if any(r.status in WORKING for r in stepped):
        return None
    return Held(stack, rows, exports)


_KEYS = tuple(attribute.key for attribute in inspect(StackResource).column_attrs
              if attribute.key != "id")


def _unsaved_row(**values: Any) -> StackResource:
    """A resource row not yet inserted, its every column but the id given: its state
    set directly (the ORM's constructor runs an event per attribute, ~15 us a row)."""
    row: StackResource = StackResource.__mapper__.class_manager.new_instance()
    row.__dict__.update(values)
    return row


def _values(row: StackResource) -> dict[str, Any]:
    """A new row's insert values by attribute key (``rawrows.insert_rows``)."""
    values = row.__dict__
    return {key: values[key] for key in _KEYS}


class StackEngine(StackTeardown, Reconciler):
    """Converges every stack whose status is ``*_IN_PROGRESS``, one step at a time."""

    name = "cloudformation"
    workers = 4
    # every stack operation wakes its stack (``wake_stack``), and a stack in progress is
    # listed: with none, the embedded cloud resyncs once a minute (``next_interval``)
    idle_interval = 60.0

    def __init__(self, cloud: Cloud, *, leader: Callable[[], bool]) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self._fresh: set[int] = set()  # rows written with their first attempt counted
        self._secrets: dict[str, set[str]] = {}  # NoEcho values, masked in events
        self._shown: dict[str, dict[str, tuple[Any, set[str] | None, str | None]]] = {}
        self._taken: dict[str, frozenset[str]] = {}  # physical ids the rows record
        self._idle: dict[str, int] = {}  # passes in a row with nothing ready, by stack
        self._awaited: dict[str, str] = {}  # a resource on its way -> the stack it holds up

    def settled(self, resource_id: str, state: str) -> None:
        """EC2 moved ``resource_id`` to ``state`` in this process (``ec2.watch_states``):
        the stack waiting for it looks again now, not at its next poll."""
        del state  # the stack's next pass reads it, as a poll would
        stack_id = self._awaited.pop(resource_id, None)
        if stack_id is not None:
            self.wake(stack_id)

    def interval(self) -> float:
        return float(self.cloud.properties.get(RESYNC_INTERVAL))

    def next_interval(self) -> float:
        """Idle (see ``Reconciler``) only on the embedded cloud, whose one election never
        changes hands: with ZooKeeper a wake sent while the leadership moves may reach
        the old leader only, and the new one's 2 s resync is what finds that stack (the
        partitioned-leader failover test waits for it)."""
        if not isinstance(election.current(), election.LocalElection):
            return self.interval()
        return super().next_interval()

    async def list_keys(self) -> Iterable[str]:
        async with self.cloud.sessions() as session:
            return list((await session.execute(select(Stack.stack_id).where(
                Stack.status.like("%IN_PROGRESS")))).scalars())

    # -- the stack's phases ------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session:
            stack = await session.get(Stack, key)
        if stack is None or not stack.status.endswith("IN_PROGRESS"):
            self._forget(key)
            return
        caller = await self._caller(stack)
        status = stack.status
        try:
            if caller is None:
                raise Failed([], "The security token included in the request is invalid.")
            await self._phase(stack, status, caller)
        except Failed as failed:
            await self.fail(stack, status, failed)
        self._idle.pop(key, None)  # the phase ended (a Retry would have left above)
        self._forget(key)

    def _forget(self, stack_id: str) -> None:
        """The stack's operation ended: it waits for none of its resources."""
        self._shown.pop(stack_id, None)
        for resource_id in [r for r, s in self._awaited.items() if s == stack_id]:
            del self._awaited[resource_id]

    async def _phase(self, stack: Stack, status: str, caller: Caller) -> None:
        if status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
            self._check_deadline(stack, status)
            outputs = await self._converge(stack, caller)
            done = "CREATE_COMPLETE" if status.startswith("CREATE") else \
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
            if outputs is not None:  # None: completed with its last pass's ends
                await self._transition(stack.stack_id, status, done, outputs=outputs)
            if done.endswith("IN_PROGRESS"):
                self.wake(stack.stack_id)
        elif status == "UPDATE_ROLLBACK_IN_PROGRESS":
            outputs = await self._converge(stack, caller)
            assert outputs is not None  # only a creation completes with its ends
            await self._transition(stack.stack_id, status,
                                   "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                                   outputs=outputs)
            self.wake(stack.stack_id)
        elif status in ("ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS"):
            await self._remove(stack, caller, everything=True)
            await self._transition(stack.stack_id, status, status.replace("IN_PROGRESS",
                                                                          "COMPLETE"))
        elif status.endswith("CLEANUP_IN_PROGRESS"):
            try:
                await self._remove(stack, caller, everything=False)
            except Failed:
                pass  # AWS completes the update; the failed deletions are in the events
            await self._transition(stack.stack_id, status, status.replace(
                "_CLEANUP_IN_PROGRESS", ""))

    def _check_deadline(self, stack: Stack, status: str) -> None:
        if stack.deadline is not None and utcnow() > stack.deadline:
            verb = "Create" if status.startswith("CREATE") else "Update"
            raise Failed([], f"{verb} timed out")

    async def fail(self, stack: Stack, status: str, failed: Failed) -> None:
        """The operation under way failed: the stack's next status (rollback...)."""
        verb = {"CREATE_IN_PROGRESS": "create", "UPDATE_IN_PROGRESS": "update",
                "UPDATE_ROLLBACK_IN_PROGRESS": "update", "ROLLBACK_IN_PROGRESS": "delete",
                "DELETE_IN_PROGRESS": "delete"}.get(status, "update")
        reason = failed.reason or (f"The following resource(s) failed to {verb}: "
                                   f"[{', '.join(sorted(set(failed.names)))}]. ")
        if status == "CREATE_IN_PROGRESS":
            await self._cancel_working(stack.stack_id, "Resource creation cancelled")
            target = {"ROLLBACK": "ROLLBACK_IN_PROGRESS", "DELETE": "DELETE_IN_PROGRESS",
                      "DO_NOTHING": "CREATE_FAILED"}[stack.on_failure]
            if target != "CREATE_FAILED" and failed.reason is None:
                reason = reason.rstrip() + " Rollback requested by user." \
                    if stack.on_failure == "ROLLBACK" else reason.rstrip() + \
                    " Delete requested by user."
            await self._transition(stack.stack_id, status, target, reason=reason)
        elif status == "UPDATE_IN_PROGRESS":
            await self._cancel_working(stack.stack_id, "Resource update cancelled")
            await self._transition(stack.stack_id, status, "UPDATE_ROLLBACK_IN_PROGRESS",
                                   reason=reason, rollback=True)
        elif status == "UPDATE_ROLLBACK_IN_PROGRESS":
            await self._transition(stack.stack_id, status, "UPDATE_ROLLBACK_FAILED",
                                   reason=reason)
        elif status in ("ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS"):
            await self._transition(stack.stack_id, status,
                                   status.replace("IN_PROGRESS", "FAILED"), reason=reason)
        self.wake(stack.stack_id)

    async def _transition(self, stack_id: str, expected: str, status: str, *,
                          reason: str | None = None, outputs: list[dict[str, Any]] | None = None,
                          rollback: bool = False) -> None:
        if not rollback:
            await self._set_status(stack_id, expected, status, reason, outputs)
            return
        async with self.cloud.sessions() as session, session.begin():
            stack = await session.get(Stack, stack_id, with_for_update=True)
            if stack is None or stack.status != expected:
                return
            if outputs is not None:
                stack.outputs = outputs
            if stack.previous_template is not None:
                stack.template, stack.template_body = stack.previous_template, \
                    stack.previous_body or stack.template_body
                stack.parameters = stack.previous_parameters or {}
                for row in await store.rows(session, stack_id):
                    if row.status == "UPDATE_FAILED":
                        row.status = "UPDATE_COMPLETE"
                    elif row.status == "CREATE_FAILED" or \
                            (row.status in WORKING and row.step == "create"):
                        row.role = "old"
            if status in ("DELETE_COMPLETE",):
                stack.deleted_at = utcnow()
            await store.stack_event(session, stack, status, reason)
            stack.updated_at = utcnow() if stack.operation == "UPDATE" else stack.updated_at

    async def _set_status(self, stack_id: str, expected: str, status: str,
                          reason: str | None, outputs: list[dict[str, Any]] | None) -> None:
        """A transition that changes the stack's row only: one conditional UPDATE (the
        status still the one the sync read) and its event, without loading the stack
        (its template and parameters)."""
        async with self.cloud.sessions() as session, session.begin():
            await self._status_in(session, stack_id, expected, status, reason, outputs)

    @staticmethod
    async def _status_in(session: Any, stack_id: str, expected: str, status: str,
                         reason: str | None, outputs: list[dict[str, Any]] | None) -> bool:
        """The conditional UPDATE of ``_set_status`` (driver-level: ``rawrows``) and its
        event, in ``session``'s transaction; whether the stack still had the status
        ``expected``."""
        found = await rawrows.transition(session, stack_id, expected, status, reason,
                                         now=utcnow(), outputs=outputs,
                                         deleted=status == "DELETE_COMPLETE")
        if found is not None:
            name, token = found
            await store.add_event(session, stack_id, name, stack_id, store.STACK_TYPE,
                                  status, reason, token=token)
        return found is not None

    async def _cancel_working(self, stack_id: str, reason: str) -> None:
        """In-progress resources of a failed operation are marked failed (a later delete
        still finds them: their token and physical id stay)."""
        async with self.cloud.sessions() as session, session.begin():
            for row in await store.rows(session, stack_id):
                if row.status in WORKING and row.role == "current":
                    failed = "CREATE_FAILED" if row.status.startswith("CREATE") else \
                        "UPDATE_FAILED"
                    await self._set(session, row, failed, reason)

    async def _caller(self, stack: Stack) -> Caller | None:
        """The principal the stack acts as: its creator's key, or a session of its
        RoleARN (a new one when the last expired)."""
        credential = await self.cloud.credentials.lookup(stack.access_key_id)
        expired = credential is not None and credential.expires_at is not None and \
            credential.expires_at <= utcnow() + timedelta(minutes=5)
        if (credential is None or expired) and stack.role_arn:
            key = await iam.assume_service_role(self.cloud, stack.role_arn,
                                                "cloudformation.amazonaws.com",
                                                f"AWSCloudFormation-{stack.name}"[:64])
            if key is None:
                return None
            async with self.cloud.sessions() as session, session.begin():
                live = await session.get(Stack, stack.stack_id)
                if live is not None:
                    live.access_key_id = key
            credential = await self.cloud.credentials.lookup(key)
        if credential is None or not credential.active:
            return None
        return Caller(credential=credential, region=stack.region)

    def _plan(self, stack: Stack, rows: list[StackResource],
              exports: dict[str, str]) -> tuple[Plan, dict[str, StackResource]]:
        current = {r.logical_id: r for r in rows if r.role == "current" and r.status not in GONE}
        plan = Plan(stack.template, stack.parameters, pseudo(stack),
                    zones=list(self.cloud.region_zones.get(stack.region, [])), exports=exports)

        def ref(name: str) -> Any:
            row = current.get(name)
            if row is None or row.physical_id is None or row.status not in COMPLETE:
                raise Unresolved(name)
            adapter = resources.adapter(row.type)
            return adapter.ref(row.physical_id, row.attributes) if adapter else row.physical_id

        def get_att(name: str, attribute: str) -> Any:
            row = current.get(name)
            if row is None or row.status not in COMPLETE:
                raise Unresolved(name)
            if attribute in (row.attributes or {}):
                return row.attributes[attribute]
            raise ResourceFailure(f"Attribute '{attribute}' does not exist")

        plan.scope.ref = ref
        plan.scope.get_att = get_att
        return plan, current

    def _completion(self, stack: Stack, plan: Plan, current: dict[str, StackResource],
                    completed: list[bool]) -> Callable[[Any], Awaitable[None]]:
        """The stack's CREATE_COMPLETE written with the ends of the creation pass that
        leaves every resource of the template complete (one transaction less, and no
        pass again over the template to find nothing to do); ``completed`` gets True when
        it was. Not when a resource is left working or failed, or the outputs do not
        resolve: the next pass decides, as before. ``plan`` and ``current`` are the
        pass's own (its new rows in ``current``): its ends changed the rows they hold,
        which its references resolve to, so the template is not evaluated again."""
        async def complete(session: Any) -> None:
            try:
                if any(name not in current or current[name].status not in COMPLETE
                       for name in plan.deps):
                    return
                outputs = plan.outputs()
            except (AwsError, ResourceFailure, Unresolved):
                return  # the next pass fails the stack with the reason
            if await self._status_in(session, stack.stack_id, "CREATE_IN_PROGRESS",
                                     "CREATE_COMPLETE", None, outputs):
                completed.append(True)

        return complete

    async def _converge(self, stack: Stack, caller: Caller) -> list[dict[str, Any]] | None:
        """Bring the stack's resources to its template; its outputs when done (None when
        the last pass's ends completed the stack, ``_completion``), ``Failed``
        when a resource failed, ``Retry`` while resources are still on their way.
        The first pass starts from the stack as the sync read it. A creation's pass that
        only made new resources, all of which ended, looks at the stack again in memory
        (``_held``), not by reading it back."""
        held: Held | None = None
        read: Stack | None = stack  # as the sync read it: the first pass reads it no more
        while True:
            if held is None:
                stack, rows, exports = await self._load(stack.stack_id, read)
                read = None
            else:
                stack, rows, exports = held.stack, held.rows, held.exports
                self._taken[stack.stack_id] = frozenset(r.physical_id for r in rows
                                                        if r.physical_id)
                held = None
            try:
                plan, current = self._plan(stack, rows, exports)
            except AwsError as error:
                raise Failed([], error.message) from None
            olds = [r for r in rows if r.role == "old" and r.status not in GONE]
            done: set[str] = set()
            steps: list[Awaitable[bool]] = []
            working: list[StackResource] = []
            batch: list[Change] = []
            fresh: list[NewRow] = []
            failed: list[str] = await self._removals_denied(stack, plan, current)
            # resources that name none of the others: the sorter's order is theirs as
            # listed (its ready nodes in insertion order), without building it
            order = graphlib.TopologicalSorter(plan.deps).static_order() \
                if any(plan.deps.values()) else plan.deps
            for name in order:
                row = current.get(name)
                if row is not None and row.status in WORKING:
                    working.append(row)
                    continue
                if row is not None and row.status in FAILED:
                    failed.append(name)
                    continue
                if not plan.deps[name] <= done:
                    continue
                outcome = await self._decide(stack, plan, name, row, olds, caller, current)
                if outcome is True:
                    done.add(name)
                elif outcome is False:
                    failed.append(name)
                elif isinstance(outcome, NewRow):
                    fresh.append(outcome)
                else:
                    steps.append(outcome(batch))
            only_new = stack.status == "CREATE_IN_PROGRESS" and not failed and not steps
            made = await self._new_rows(stack, plan, fresh)
            current.update((row.logical_id, row) for row in made)  # for ``_completion``
            working += made
            steps += self._steps(stack, working, caller, batch)
            if not steps:
                if failed:
                    raise Failed(failed)
                if done == set(plan.deps):
                    try:
                        return plan.outputs()
                    except (AwsError, ResourceFailure, Unresolved) as error:
                        raise Failed([], str(getattr(error, "message", None) or error)) \
                            from None
                raise self._waiting(stack.stack_id)
            completed: list[bool] = []
            try:
                progressed = await run_steps(steps)
            finally:
                await self._flush(batch, self._completion(stack, plan, current, completed)
                                  if only_new else None)
            if completed:
                return None
            if not any(progressed):
                raise self._waiting(stack.stack_id)
            self._progressed(stack.stack_id)
            if only_new:
                held = _held(stack, rows + made, exports, working)

    async def _removals_denied(self, stack: Stack, plan: Plan,
                               current: dict[str, StackResource]) -> list[str]:
        """An update removing resources its stack policy protects fails on them
        (``Update:Delete``) before anything is changed."""
        if stack.status != "UPDATE_IN_PROGRESS" or not stack.policy_during_update:
            return []
        denied = []
        for name, row in current.items():
            if name in plan.deps or row.status not in COMPLETE:
                continue
            reason = stackpolicy.denial(stack.policy_during_update, "Update:Delete", name,
                                        row.type)
            if reason:
                await self._record_failure(stack, name, row.type, row, reason)
                denied.append(name)
        return denied

    async def _decide(self, stack: Stack, plan: Plan, name: str, row: StackResource | None,
                      olds: list[StackResource], caller: Caller,
                      current: dict[str, StackResource]
                      ) -> bool | NewRow | Callable[[list[Change]], Awaitable[bool]]:
        """What a resource whose dependencies are complete needs: True (nothing), False
        (it failed), or the step to run. A rollback that finds the resource it replaced
        makes it current again, in ``current`` too: its dependents, decided next in the
        same pass, resolve their ``Ref``/``GetAtt`` of it to the restored resource."""
        type_name = plan.type_of(name)
        try:
            props = plan.properties(name)
            policy = plan.deletion_policy(name)
        except Exception as error:  # the template's functions: pure, nothing to retry
            reason = str(getattr(error, "message", None) or getattr(error, "reason", None)
                         or f"Template error: {error}")
            await self._record_failure(stack, name, type_name, row, reason)
            return False
        schema = schemas.schema(type_name)
        adapter = resources.adapter(type_name)
        assert schema is not None and adapter is not None
        props = schema.coerce(props)
        if row is not None and row.type == type_name and \
                (row.properties == props or row.step == "skip"):
            return True
        invalid = schema.validate(name, props)
        if invalid:
            await self._record_failure(stack, name, type_name, row, invalid)
            return False
        match = [o for o in olds if o.logical_id == name and o.type == type_name and
                 o.properties == props and o.status in COMPLETE]
        if match:
            await self._swap(row, match[0])
            current[name] = match[0]
            return True
        if row is None:
            return NewRow(name, type_name, props, policy, None)
        replace = row.type != type_name or bool(schema.replaces(row.properties, props)) or \
            not adapter.in_place(row.properties, props) or \
            (type_name == "AWS::AutoScaling::AutoScalingGroup" and
             will_replace(plan.template["Resources"][name].get("UpdatePolicy")) and
             launch_changed(row.properties, props))
        if stack.status == "UPDATE_IN_PROGRESS":
            denied = stackpolicy.denial(stack.policy_during_update, "Update:Replace" if
                                        replace else "Update:Modify", name, row.type)
            if denied:
                await self._record_failure(stack, name, type_name, row, denied)
                return False
        if replace:
            return NewRow(name, type_name, props, policy, row)

        async def begin(session: Any, r: StackResource) -> None:
            r.old_properties, r.properties = r.properties, props
            r.deletion_policy = policy
            r.step = "update"
            await self._set(session, r, "UPDATE_IN_PROGRESS")

        updating = await self._write(row.id, begin)
        return lambda batch: self._step(stack, updating, caller, batch)

    async def _record_failure(self, stack: Stack, name: str, type_name: str,
                              row: StackResource | None, reason: str) -> None:
        async with self.cloud.sessions() as session, session.begin():
            if row is None:
                fresh = StackResource(stack_id=stack.stack_id, logical_id=name,
                                      type=type_name, status="CREATE_FAILED",
                                      token=uuid4_hex(), properties={}, attributes={},
                                      depends=[], role="current", generation=1)
                session.add(fresh)
                await session.flush()
                await self._set(session, fresh, "CREATE_FAILED", reason)
            else:
                live = await session.get(StackResource, row.id)
                assert live is not None
                await self._set(session, live, "UPDATE_FAILED", reason)

    async def _swap(self, row: StackResource | None, old: StackResource) -> None:
        """A rollback finds the resource it replaced: it is the current one again."""
        async with self.cloud.sessions() as session, session.begin():
            if row is not None:
                live = await session.get(StackResource, row.id)
                assert live is not None
                live.role = "old"
            restored = await session.get(StackResource, old.id)
            assert restored is not None
            restored.role = "current"
            await self._set(session, restored, "UPDATE_COMPLETE")

    async def _new_rows(self, stack: Stack, plan: Plan,
                        wanted: list[NewRow]) -> list[StackResource]:
        """Rows for resources to create (replacements: the old row becomes ``old``), their
        first attempt counted, in one transaction before anything is made: one INSERT
        of them all returning their ids (driver-level, ``rawrows``: not the ORM's unit
        of work, nor Core's binding of every value), and their events."""
        if not wanted:
            return []
        made: list[StackResource] = []
        async with self.cloud.sessions() as session, session.begin():
            for new in wanted:
                generation = 1
                if new.replacing is not None:
                    old = await session.get(StackResource, new.replacing.id)
                    assert old is not None
                    old.role = "old"
                    generation = old.generation + 1
                # its status and event before the insert (no update of the new row after),
                # its state given whole (no attribute events: ``_set``'s three a row)
                status, reason = ("CREATE_IN_PROGRESS", None) if new.replacing is None \
                    else ("UPDATE_IN_PROGRESS", REPLACING)
                fresh = _unsaved_row(
                    stack_id=stack.stack_id, logical_id=new.name, generation=generation,
                    role="current", type=new.type_name, physical_id=None,
                    status=status, status_reason=reason, properties=new.props,
                    old_properties=None, attributes={}, depends=sorted(plan.deps[new.name]),
                    deletion_policy=new.policy, token=uuid4_hex(), attempts=1,
                    step="create", signals=[], updated_at=utcnow(), drift_status=None,
                    drift_checked_at=None,
                    metadata_=plan.template["Resources"][new.name].get("Metadata"))
                await store.add_event(session, stack.stack_id, new.name, None, new.type_name,
                                      status, reason, shown=self._shown_of(fresh))
                made.append(fresh)
            await session.flush()  # the replaced rows' roles
            # ids by logical id (a pass makes each at most once): a multi-row INSERT
            # (asked for in the parameters' order, SQLite's made one INSERT a row)
            ids = await rawrows.insert_rows(session,
                                            [_values(fresh) for fresh in made])
            for fresh in made:
                fresh.id = ids[fresh.logical_id]
            self._fresh.update(ids.values())
        return made

    def _steps(self, stack: Stack, rows: list[StackResource], caller: Caller,
               batch: list[Change]) -> list[Awaitable[bool]]:
        """The steps of working resources. Those still to make are made together, a
        type's at once (``_create_together``), each then on its own way (ready,
        events); the types apart (a slow type's creations hold up no other's)."""
        by_type: dict[str, list[StackResource]] = {}
        steps: list[Awaitable[bool]] = []
        for row in rows:
            if row.step != "update" and row.physical_id is None:
                by_type.setdefault(row.type, []).append(row)
            else:
                steps.append(self._step(stack, row, caller, batch))
        steps += [self._made_steps(stack, making, caller, batch)
                  for making in by_type.values()]
        return steps

    async def _made_steps(self, stack: Stack, rows: list[StackResource], caller: Caller,
                          batch: list[Change]) -> bool:
        made = await self._create_together(stack, rows, caller)
        progressed = await run_steps([self._step(stack, r, caller, batch, *made[r.id])
                                      for r in rows])
        return any(progressed)

    async def _create_together(self, stack: Stack, rows: list[StackResource], caller: Caller
                               ) -> dict[int, tuple[Outcome | BaseException, Act]]:
        """Create resources of one type not yet made, together (its ``create_many``:
        one transaction of its service for many). Every attempt is counted before it
        is made (a row written this pass counted its first), in one transaction:
        after kill -9 the next attempt is a resumed one (it adopts what the last
        made, by token). Each row's outcome, and the ``Act`` it was made with (its
        step's readiness look acts with it too)."""
        again = [r for r in rows if r.id not in self._fresh]
        self._fresh.difference_update(r.id for r in rows)
        if again:
            async with self.cloud.sessions() as session, session.begin():
                found = await store.rows_by_id(session, (r.id for r in again))
                for row in again:
                    found[row.id].attempts += 1
                    row.attempts = found[row.id].attempts
        adapter = resources.adapter(rows[0].type)
        assert adapter is not None
        acts = [self._act(stack, r, caller) for r in rows]
        outcomes = await adapter.create_many(acts, [r.properties for r in rows])
        return {r.id: (o, act) for r, o, act in zip(rows, outcomes, acts, strict=True)}

    async def _step(self, stack: Stack, row: StackResource, caller: Caller,
                    batch: list[Change], premade: Outcome | BaseException | None = None,
                    act: Act | None = None) -> bool:
        """One step of a working resource; whether its state changed (``premade``: its
        creation's outcome, when it was made with others of its type, with ``act``)."""
        adapter = resources.adapter(row.type)
        assert adapter is not None
        verb = "CREATE" if row.status.startswith("CREATE") else "UPDATE"
        try:
            if row.step == "update":
                act = self._act(stack, row, caller)
                try:
                    attributes = await adapter.update(act, str(row.physical_id),
                                                      row.old_properties or {}, row.properties,
                                                      row.attributes or {})
                except NeedsReplacement:
                    raise ResourceFailure("Update requires replacement") from None
                self._finish(batch, row, "UPDATE_COMPLETE", attributes)
                return True
            made = None
            if premade is not None:
                if isinstance(premade, BaseException):
                    raise premade
                made = premade
                row.physical_id, row.attributes = made.physical_id, made.attributes
            elif row.physical_id is None:
                if row.id in self._fresh:  # its first attempt, counted when it was written
                    self._fresh.discard(row.id)
                else:
                    async def attempt(session: Any, r: StackResource) -> None:
                        del session
                        r.attempts += 1

                    row = await self._write(row.id, attempt)
                made = await adapter.create(self._act(stack, row, caller), row.properties)
                row.physical_id, row.attributes = made.physical_id, made.attributes
            # awaited before the look: a change told while it runs wakes the stack again
            self._awaited[str(row.physical_id)] = stack.stack_id
            try:
                ready = await adapter.ready(act or self._act(stack, row, caller),
                                            str(row.physical_id), row.attributes or {})
                if ready is not None and verb == "CREATE":
                    ready = self._signalled(stack, row, ready)
            except (AwsError, ResourceFailure):
                self._awaited.pop(str(row.physical_id), None)
                if made is not None:
                    self._created(batch, row, made.physical_id, made.attributes)
                raise
            if ready is not None:
                self._awaited.pop(str(row.physical_id), None)
            if ready is None:
                policy = signal_policy(stack, row.logical_id) if verb == "CREATE" else None
                within = policy[1] if policy is not None else None
                if made is not None:
                    self._created(batch, row, made.physical_id, made.attributes,
                                  signals_within=within)
                elif within is not None and SIGNAL_DEADLINE not in (row.attributes or {}):
                    self._created(batch, row, str(row.physical_id), row.attributes or {},
                                  event=False, signals_within=within)
                return False
            self._finish(batch, row, f"{verb}_COMPLETE", ready, made=made)
            return True
        except (AwsError, ResourceFailure) as error:
            reason = error.reason if isinstance(error, ResourceFailure) else \
                failure(error).reason
            self._finish(batch, row, f"{verb}_FAILED", None, reason)
            return True

    def _signalled(self, stack: Stack, row: StackResource,
                   ready: dict[str, Any]) -> dict[str, Any] | None:
        """A resource with a CreationPolicy is complete once its signals arrived
        (SignalResource): None while waiting, ``ResourceFailure`` on a FAILURE signal or
        at the policy's timeout."""
        policy = signal_policy(stack, row.logical_id)
        if policy is None:
            return ready
        count, _ = policy
        signals = list(row.signals or [])
        for signal in signals:
            if str(signal.get("Status")).upper() == "FAILURE":
                raise ResourceFailure(f"Received FAILURE signal with UniqueId "
                                      f"{signal.get('UniqueId')}")
        unique = {str(s.get("UniqueId")): s.get("Data", "") for s in signals}
        if len(unique) >= count:
            done = {k: v for k, v in ready.items() if k != SIGNAL_DEADLINE}
            if row.type == "AWS::CloudFormation::WaitCondition":
                done["Data"] = json.dumps(unique, separators=(",", ":"))
            return done
        deadline = (row.attributes or {}).get(SIGNAL_DEADLINE)
        if deadline is not None and time.time() > float(deadline):
            raise ResourceFailure(f"Failed to receive {count} resource signal(s) within the "
                                  f"specified duration")
        return None


class EngineStarter(Provider):
    """Starts the stack engine in the leader worker (no operations of its own)."""

    service = "cloudformation"

    async def start(self) -> None:
        if not self.cloud.runs_controllers:
            return
        engine = StackEngine(self.cloud, leader=lambda: self.cloud.runs_controllers)
        self.cloud.runtime[ENGINE] = engine
        ec2.watch_states(self.cloud, engine.settled)  # instances running, volumes available
        self.cloud.spawn(engine.run(), "cloudformation-engine")
