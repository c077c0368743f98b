"""AWS::CloudFormation::Stack: a nested stack, its template read from the cloud's S3
(``TemplateURL``) as the parent stack's principal.

The nested stack is a stack row of its own (``parent_id``/``root_id`` set), driven by
the same engine; the resource is ready when that stack is ``CREATE_COMPLETE`` and its
outputs are the resource's ``Outputs.<Name>`` attributes. An update updates the nested
stack in place and waits for it; deleting the resource deletes the nested stack.
Creation is idempotent by the name derived from the resource's token.

Unlike the other types it reads and writes stack rows: they are CloudFormation's own.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.services.cloudformation import intake, store
from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.models import Stack
from cloudctl.services.cloudformation.resources.base import Act, Outcome, ResourceType
from cloudctl.services.cloudformation.stackinfo import deadline

FAILED_CREATE = ("CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE",
                 "ROLLBACK_FAILED", "DELETE_IN_PROGRESS", "DELETE_COMPLETE", "DELETE_FAILED")
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
POLL = 1.0


def _wake(act: Act, stack_id: str) -> None:
    from cloudctl.services.cloudformation.engine import wake_stack

    wake_stack(act.cloud, stack_id)


def _given(props: dict[str, Any]) -> dict[str, Any]:
    """The resource's ``Parameters`` map as CreateStack's ``Parameters`` list."""
    return {"Parameters": [{"ParameterKey": key, "ParameterValue": value if isinstance(
        value, str) else ",".join(str(v) for v in value) if isinstance(value, list) else
        str(value)} for key, value in (props.get("Parameters") or {}).items()]}


def _outputs(child: Stack) -> dict[str, Any]:
    return {f"Outputs.{o['OutputKey']}": o["OutputValue"] for o in child.outputs or []}


class NestedStack(ResourceType):
    type_name = "AWS::CloudFormation::Stack"
    attribute_prefixes = ("Outputs.",)
    updatable = frozenset({"TemplateURL", "Parameters", "Tags", "TimeoutInMinutes",
                           "NotificationARNs"})
    takes_tags = True

    async def _template(self, act: Act, props: dict[str, Any],
                        previous: dict[str, Any] | None) -> tuple[intake.Intake,
                                                                  dict[str, Any]]:
        try:
            body = await intake.from_url(act.cloud, act.caller, str(props["TemplateURL"]))
            made = await intake.load_as(act.cloud, act.caller, body)
            values = await intake.parameter_values_as(act.cloud, act.caller, made,
                                                      _given(props), previous)
        except AwsError as error:
            raise ResourceFailure(error.message) from None
        return made, values

    def _tags(self, act: Act, props: dict[str, Any]) -> dict[str, str]:
        tags = {t["Key"]: t["Value"] for t in act.user_tags()}
        tags.update({t["Key"]: t.get("Value", "") for t in props.get("Tags") or []})
        return tags

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = act.physical_name(128)
        async with act.cloud.sessions() as session:
            found = await store.find_stack(session, act.account_id, act.region, name)
            parent = await session.get(Stack, act.stack_id)
        if found is not None:  # made before a crash: adopted
            return Outcome(found.stack_id, {"StackId": found.stack_id})
        assert parent is not None
        made, values = await self._template(act, props, None)
        stack_id = f"arn:aws:cloudformation:{act.region}:{act.account_id}:stack/{name}/" \
                   f"{uuid.uuid4()}"
        timeout = props.get("TimeoutInMinutes")
        async with act.cloud.sessions() as session, session.begin():
            child = Stack(
                stack_id=stack_id, account_id=act.account_id, region=act.region, name=name,
                status="CREATE_IN_PROGRESS", operation="CREATE",
                description=made.processed.get("Description"), template_body=made.body,
                template=made.processed, parameters=values, tags=self._tags(act, props),
                capabilities=list(parent.capabilities or []),
                notification_arns=list(props.get("NotificationARNs") or []), outputs=[],
                role_arn=parent.role_arn, access_key_id=act.caller.credential.access_key_id,
                on_failure="DO_NOTHING" if parent.on_failure == "DO_NOTHING" else "ROLLBACK",
                timeout_minutes=int(timeout) if timeout else None,
                deadline=deadline(int(timeout) if timeout else None),
                termination_protection=False, stack_policy=None, retain=[],
                request_token=None, endpoint=parent.endpoint, event_seq=0,
                created_at=utcnow(), parent_id=parent.stack_id,
                root_id=parent.root_id or parent.stack_id)
            session.add(child)
            await session.flush()
            await store.stack_event(session, child, "CREATE_IN_PROGRESS", "User Initiated")
        _wake(act, stack_id)
        return Outcome(stack_id, {"StackId": stack_id})

    async def _child(self, act: Act, physical_id: str) -> Stack | None:
        async with act.cloud.sessions() as session:
            return await session.get(Stack, physical_id)

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        child = await self._child(act, physical_id)
        if child is None:
            raise ResourceFailure(f"Embedded stack {physical_id} does not exist")
        if child.status in FAILED_CREATE:
            raise ResourceFailure(f"Embedded stack {physical_id} was not successfully "
                                  f"created: {child.status_reason or child.status}")
        if child.status.endswith("IN_PROGRESS"):
            return None
        return {"StackId": physical_id, **_outputs(child)}

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        child = await self._child(act, physical_id)
        if child is None:
            raise ResourceFailure(f"Embedded stack {physical_id} does not exist")
        made, values = await self._template(act, new, child.parameters)
        tags = self._tags(act, new)
        changed = (made.processed, values, tags) != (child.template, child.parameters,
                                                     child.tags)
        if changed and child.status in UPDATABLE:
            async with act.cloud.sessions() as session, session.begin():
                live = await session.get(Stack, physical_id, with_for_update=True)
                assert live is not None
                live.previous_body, live.previous_template = live.template_body, \
                    live.template
                live.previous_parameters = live.parameters
                live.template_body, live.template = made.body, made.processed
                live.parameters, live.tags = values, tags
                live.description = made.processed.get("Description")
                live.operation = "UPDATE"
                live.access_key_id = act.caller.credential.access_key_id
                timeout = new.get("TimeoutInMinutes")
                live.timeout_minutes = int(timeout) if timeout else None
                live.deadline = deadline(live.timeout_minutes)
                live.policy_during_update = live.stack_policy
                live.updated_at = utcnow()
                await store.stack_event(session, live, "UPDATE_IN_PROGRESS",
                                        "User Initiated")
            _wake(act, physical_id)
        elif changed and not child.status.endswith("IN_PROGRESS"):
            raise ResourceFailure(f"Embedded stack {physical_id} is in {child.status} "
                                  f"state and can not be updated.")
        while True:  # the nested stack's update, to its end (repeated after a restart)
            child = await self._child(act, physical_id)
            assert child is not None
            if child.status in ("UPDATE_COMPLETE", "CREATE_COMPLETE"):
                return {"StackId": physical_id, **_outputs(child)}
            if not child.status.endswith("IN_PROGRESS"):
                raise ResourceFailure(f"Embedded stack {physical_id} was not successfully "
                                      f"updated: {child.status_reason or child.status}")
            await asyncio.sleep(POLL)

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        async with act.cloud.sessions() as session, session.begin():
            child = await session.get(Stack, physical_id, with_for_update=True)
            if child is None or child.status.startswith("DELETE_"):
                return  # deleting, deleted, or failed to (``gone`` says which)
            if child.status.endswith("IN_PROGRESS"):
                return  # its operation ends first (``gone`` waits)
            for row in await store.rows(session, physical_id):
                if row.status == "DELETE_FAILED":
                    row.status = "UPDATE_COMPLETE"
            child.operation = "DELETE"
            child.retain = []
            await store.stack_event(session, child, "DELETE_IN_PROGRESS", "User Initiated")
        _wake(act, physical_id)

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        child = await self._child(act, physical_id)
        if child is None or child.status == "DELETE_COMPLETE":
            return True
        if child.status == "DELETE_FAILED":
            raise ResourceFailure(f"Embedded stack {physical_id} was not successfully "
                                  f"deleted: {child.status_reason or child.status}")
        return False

    def ref(self, physical_id: str, attributes: dict[str, Any]) -> Any:
        return physical_id


TYPES: tuple[type[ResourceType], ...] = (NestedStack,)
