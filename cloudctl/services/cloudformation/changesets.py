"""Change sets (Create/Describe/Execute/Delete/ListChangeSets) and the template
operations that only read a template (ValidateTemplate, GetTemplateSummary).

A change set is computed when it is created: each resource of the new template
against the stack's (Add, Modify with the replacement the schema's
``createOnlyProperties`` imply, Remove). References to resources that are themselves
added or replaced are unknown until execution: such a change is ``Dynamic`` and its
replacement ``Conditional``, as on AWS. A ``CREATE`` change set makes the stack in
``REVIEW_IN_PROGRESS``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError, ValidationError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, operation
from cloudctl.services.cloudformation import intake, parameters, resources, schemas, store
from cloudctl.services.cloudformation.errors import already_exists, no_stack
from cloudctl.services.cloudformation.intrinsics import Unresolved
from cloudctl.services.cloudformation.models import ChangeSet, Stack, StackResource
from cloudctl.services.cloudformation.processing import Plan
from cloudctl.services.cloudformation.resources.autoscaling import REPLACED_BY, will_replace
from cloudctl.services.cloudformation.stackinfo import pseudo
from cloudctl.services.cloudformation.stacks import (
    UPDATABLE,
    StackOperations,
    check_name,
    endpoint_of,
    stack_arn,
    tags_of,
)

PENDING = "{{pending}}"
NO_CHANGES = ("The submitted information didn't contain changes. Submit different "
              "information to create a change set.")


async def find_change_set(session: AsyncSession, account_id: str, region: str, name: str,
                          stack_name: str | None) -> ChangeSet:
    if name.startswith("arn:"):
        found = await session.get(ChangeSet, name)
    else:
        if not stack_name:
            raise ValidationError("StackName must be specified if ChangeSetName is not "
                                  "specified as an ARN.")
        stack = await store.find_stack(session, account_id, region, stack_name)
        found = None
        if stack is not None:
            found = (await session.execute(select(ChangeSet).where(
                ChangeSet.stack_id == stack.stack_id, ChangeSet.name == name))).scalars().first()
    if found is None or found.account_id != account_id:
        raise AwsError(f"ChangeSet [{name}] does not exist", code="ChangeSetNotFound",
                       status=404)
    return found


def _lenient_plan(stack: Stack, tmpl: dict[str, Any], values: dict[str, Any],
                  rows: list[StackResource], changed: set[str]) -> Plan:
    current = {r.logical_id: r for r in rows if r.role == "current" and
               r.status not in ("DELETE_COMPLETE", "DELETE_SKIPPED")}
    plan = Plan(tmpl, values, pseudo(stack))

    def ref(name: str) -> Any:
        row = current.get(name)
        if row is None or row.physical_id is None or name in changed:
            return PENDING
        adapter = resources.adapter(row.type)
        return adapter.ref(row.physical_id, row.attributes) if adapter else row.physical_id

    def get_att(name: str, attribute: str) -> Any:
        row = current.get(name)
        if row is None or name in changed:
            return PENDING
        return (row.attributes or {}).get(attribute, PENDING)

    plan.scope.ref = ref
    plan.scope.get_att = get_att
    return plan


def _mentions_pending(value: Any) -> bool:
    if isinstance(value, str):
        return PENDING in value
    if isinstance(value, dict):
        return any(_mentions_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_pending(v) for v in value)
    return False


def compute_changes(stack: Stack, tmpl: dict[str, Any], values: dict[str, Any],
                    rows: list[StackResource]) -> list[dict[str, Any]]:
    current = {r.logical_id: r for r in rows if r.role == "current" and
               r.status not in ("DELETE_COMPLETE", "DELETE_SKIPPED")}
    changes: list[dict[str, Any]] = []
    replaced: set[str] = set()
    probe = Plan(tmpl, values, pseudo(stack))
    import graphlib

    order = list(graphlib.TopologicalSorter(probe.deps).static_order())
    plan = _lenient_plan(stack, tmpl, values, rows, replaced)
    for name in order:
        type_name = plan.type_of(name)
        row = current.get(name)
        if row is None:
            replaced.add(name)
            changes.append(_change("Add", name, type_name, None, None, []))
            continue
        try:
            props = plan.properties(name)
        except (AwsError, Unresolved):
            props = {}
        schema = schemas.schema(type_name)
        adapter = resources.adapter(type_name)
        assert schema is not None and adapter is not None
        props = schema.coerce(props)
        if row.type != type_name:
            replaced.add(name)
            changes.append(_change("Modify", name, type_name, row.physical_id, "True", []))
            continue
        names = sorted(k for k in set(props) | set(row.properties)
                       if props.get(k) != row.properties.get(k))
        if not names:
            continue
        details = []
        replacement = "False"
        # a group whose UpdatePolicy replaces it on a new launch source
        renewing = REPLACED_BY if type_name == "AWS::AutoScaling::AutoScalingGroup" and \
            will_replace(tmpl["Resources"][name].get("UpdatePolicy")) else ()
        for key in names:
            dynamic = _mentions_pending(props.get(key))
            creation = "Always" if key in schema.create_only else "Never"
            if creation == "Never" and (key not in adapter.updatable or key in renewing):
                creation = "Always"
            if dynamic and creation == "Always":
                creation = "Conditionally"
            details.append({"Target": {"Attribute": "Properties", "Name": key,
                                       "RequiresRecreation": creation},
                            "Evaluation": "Dynamic" if dynamic else "Static",
                            "ChangeSource": "ResourceReference" if dynamic
                            else "DirectModification"})
            if creation == "Always":
                replacement = "True"
            elif creation == "Conditionally" and replacement == "False":
                replacement = "Conditional"
        if replacement == "True":
            replaced.add(name)
        changes.append(_change("Modify", name, type_name, row.physical_id, replacement,
                               details))
    for name, row in current.items():
        if name not in plan.kept:
            changes.append(_change("Remove", name, row.type, row.physical_id, None, []))
    return changes


def _change(action: str, name: str, type_name: str, physical: str | None,
            replacement: str | None, details: list[dict[str, Any]]) -> dict[str, Any]:
    change: dict[str, Any] = {"Action": action, "LogicalResourceId": name,
                              "ResourceType": type_name, "Scope": [], "Details": details}
    if physical:
        change["PhysicalResourceId"] = physical
    if replacement:
        change["Replacement"] = replacement
    if details:
        change["Scope"] = ["Properties"]
    return {"Type": "Resource", "ResourceChange": change}


class ChangeSetOperations(Provider):
    service = "cloudformation"

    def __init__(self, cloud: Any, stacks: StackOperations) -> None:
        super().__init__(cloud)
        self.stacks = stacks

    @operation("ValidateTemplate")
    async def validate_template(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        ctx.require_account()
        body = await intake.body_of(self.cloud, ctx, params)
        made = await intake.load(self.cloud, ctx, body)
        needed, reason = intake.required_capabilities(made)
        out: dict[str, Any] = {"Parameters": [
            {k: v for k, v in {
                "ParameterKey": name, "DefaultValue": _default(spec),
                "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true",
                "Description": spec.get("Description")}.items() if v is not None}
            for name, spec in (made.processed.get("Parameters") or {}).items()],
            "Capabilities": needed, "DeclaredTransforms": intake.declared_transforms(
                made.original)}
        if reason:
            out["CapabilitiesReason"] = reason
        if made.processed.get("Description"):
            out["Description"] = made.processed["Description"]
        return out

    @operation("GetTemplateSummary")
    async def get_template_summary(self, ctx: RequestContext,
                                   params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        if params.get("StackName"):
            async with self.cloud.sessions() as session:
                stack = await store.require_stack(session, account, ctx.region,
                                                  params["StackName"])
            body = stack.template_body
        else:
            body = await intake.body_of(self.cloud, ctx, params)
        made = await intake.load(self.cloud, ctx, body)
        needed, reason = intake.required_capabilities(made)
        res = made.processed["Resources"]
        out: dict[str, Any] = {
            "Parameters": [
                {k: v for k, v in {
                    "ParameterKey": name, "DefaultValue": _default(spec),
                    "ParameterType": spec["Type"],
                    "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true",
                    "Description": spec.get("Description"),
                    "ParameterConstraints": {"AllowedValues": [str(v) for v in
                                                               spec["AllowedValues"]]}
                    if "AllowedValues" in spec else {}}.items() if v is not None}
                for name, spec in (made.processed.get("Parameters") or {}).items()],
            "Capabilities": needed,
            "ResourceTypes": sorted({r["Type"] for r in res.values()}),
            "Version": str(made.original.get("AWSTemplateFormatVersion", "2010-09-09")),
            "DeclaredTransforms": intake.declared_transforms(made.original),
            "ResourceIdentifierSummaries": _identifiers(res)}
        if reason:
            out["CapabilitiesReason"] = reason
        if made.processed.get("Description"):
            out["Description"] = made.processed["Description"]
        if made.processed.get("Metadata"):
            import json

            out["Metadata"] = json.dumps(made.processed["Metadata"])
        return out

    @operation("CreateChangeSet")
    async def create_change_set(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        name, kind = params["ChangeSetName"], params.get("ChangeSetType") or "UPDATE"
        if kind not in ("CREATE", "UPDATE"):
            raise ValidationError(f"ChangeSetType {kind} is not supported by this cloud")
        check_name(params["StackName"])
        async with self.cloud.sessions() as session:
            stack = await store.find_stack(session, account, ctx.region, params["StackName"])
        if kind == "CREATE" and stack is not None and stack.status != "REVIEW_IN_PROGRESS":
            raise already_exists(params["StackName"])
        if kind == "UPDATE" and stack is None:
            raise no_stack(params["StackName"])
        if kind == "UPDATE" and stack is not None and stack.status not in UPDATABLE:
            raise ValidationError(f"Stack:{stack.stack_id} is in {stack.status} state and can "
                                  f"not be updated.")
        previous = stack if kind == "UPDATE" else None
        made, values = await self.stacks._prepare(ctx, params, previous)
        tags = tags_of(params) if params.get("Tags") is not None else \
            (stack.tags if stack else {})
        change_set_id = (f"arn:aws:cloudformation:{ctx.region}:{account}:changeSet/{name}/"
                         f"{uuid.uuid4()}")
        async with self.cloud.sessions() as session, session.begin():
            if stack is None:
                key = await self.stacks._role_key(ctx, params.get("RoleARN"),
                                                  params["StackName"])
                stack = Stack(
                    stack_id=stack_arn(ctx.region, account, params["StackName"]),
                    account_id=account, region=ctx.region, name=params["StackName"],
                    status="REVIEW_IN_PROGRESS", operation="CREATE",
                    description=made.processed.get("Description"), template_body=made.body,
                    template={"Resources": {}}, parameters={}, tags=tags,
                    capabilities=[], notification_arns=[], outputs=[],
                    role_arn=params.get("RoleARN"), access_key_id=key, on_failure="ROLLBACK",
                    retain=[], endpoint=endpoint_of(self.cloud, ctx), event_seq=0,
                    created_at=utcnow())
                session.add(stack)
                await session.flush()
                await store.stack_event(session, stack, "REVIEW_IN_PROGRESS", "User Initiated")
            elif (await session.execute(select(ChangeSet).where(
                    ChangeSet.stack_id == stack.stack_id, ChangeSet.name == name))).first():
                raise AwsError(f"ChangeSet {name} already exists",
                               code="AlreadyExistsException")
            rows = await store.rows(session, stack.stack_id)
            changes = compute_changes(stack, made.processed, values, rows)
            unchanged = not changes and kind == "UPDATE" and tags == stack.tags and \
                values == stack.parameters
            session.add(ChangeSet(
                change_set_id=change_set_id, name=name, stack_id=stack.stack_id,
                account_id=account, region=ctx.region, change_set_type=kind,
                status="FAILED" if unchanged else "CREATE_COMPLETE",
                status_reason=NO_CHANGES if unchanged else None,
                execution_status="UNAVAILABLE" if unchanged else "AVAILABLE",
                description=params.get("Description"), template_body=made.body,
                template=made.processed, parameters=values,
                capabilities=list(params.get("Capabilities") or []), tags=tags,
                changes=changes, created_at=utcnow()))
            stack_id = stack.stack_id
        return {"Id": change_set_id, "StackId": stack_id}

    @operation("DescribeChangeSet")
    async def describe_change_set(self, ctx: RequestContext,
                                  params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            change_set = await find_change_set(session, account, ctx.region,
                                               params["ChangeSetName"], params.get("StackName"))
            stack = await session.get(Stack, change_set.stack_id)
        assert stack is not None
        declared = change_set.template.get("Parameters") or {}
        out: dict[str, Any] = {
            "ChangeSetName": change_set.name, "ChangeSetId": change_set.change_set_id,
            "StackId": stack.stack_id, "StackName": stack.name,
            "CreationTime": change_set.created_at,
            "ExecutionStatus": change_set.execution_status, "Status": change_set.status,
            "Parameters": parameters.echo(declared, change_set.parameters),
            "Capabilities": change_set.capabilities, "NotificationARNs": [],
            "Tags": [{"Key": k, "Value": v} for k, v in change_set.tags.items()],
            "Changes": change_set.changes, "IncludeNestedStacks": False}
        if change_set.status_reason:
            out["StatusReason"] = change_set.status_reason
        if change_set.description:
            out["Description"] = change_set.description
        return out

    @operation("ListChangeSets")
    async def list_change_sets(self, ctx: RequestContext,
                               params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
            found = list((await session.execute(select(ChangeSet).where(
                ChangeSet.stack_id == stack.stack_id).order_by(
                    ChangeSet.created_at))).scalars())
        return {"Summaries": [{k: v for k, v in {
            "StackId": stack.stack_id, "StackName": stack.name,
            "ChangeSetId": c.change_set_id, "ChangeSetName": c.name,
            "ExecutionStatus": c.execution_status, "Status": c.status,
            "StatusReason": c.status_reason, "CreationTime": c.created_at,
            "Description": c.description, "IncludeNestedStacks": False}.items()
            if v is not None} for c in found]}

    @operation("DeleteChangeSet")
    async def delete_change_set(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            change_set = await find_change_set(session, account, ctx.region,
                                               params["ChangeSetName"], params.get("StackName"))
            if change_set.execution_status == "EXECUTE_IN_PROGRESS":
                raise AwsError("Cannot delete a change set while it is executing",
                               code="InvalidChangeSetStatus")
            await session.delete(change_set)
        return {}

    @operation("ExecuteChangeSet")
    async def execute_change_set(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            change_set = await find_change_set(session, account, ctx.region,
                                               params["ChangeSetName"], params.get("StackName"))
            stack = await session.get(Stack, change_set.stack_id)
        assert stack is not None
        if change_set.execution_status != "AVAILABLE":
            raise AwsError(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its "
                           f"current execution status of [{change_set.execution_status}]",
                           code="InvalidChangeSetStatus")
        made = intake.Intake(change_set.template_body, {}, change_set.template)
        if change_set.change_set_type == "CREATE":
            async with self.cloud.sessions() as session, session.begin():
                live = await session.get(Stack, stack.stack_id, with_for_update=True)
                assert live is not None
                if live.status != "REVIEW_IN_PROGRESS":
                    raise ValidationError(f"Stack {live.name} is in {live.status} state")
                live.template, live.template_body = change_set.template, \
                    change_set.template_body
                live.parameters = change_set.parameters
                live.capabilities = change_set.capabilities
                live.description = change_set.template.get("Description")
                on_failure = "DO_NOTHING" if params.get("DisableRollback") else "ROLLBACK"
                live.on_failure = on_failure
                await store.stack_event(session, live, "CREATE_IN_PROGRESS", "User Initiated")
            self.stacks.wake(stack.stack_id)
        else:
            await self.stacks.begin_update(ctx, {"Capabilities": change_set.capabilities},
                                           stack, made, change_set.parameters,
                                           change_set.tags)
        async with self.cloud.sessions() as session, session.begin():
            for other in (await session.execute(select(ChangeSet).where(
                    ChangeSet.stack_id == stack.stack_id))).scalars():
                if other.change_set_id == change_set.change_set_id:
                    other.execution_status = "EXECUTE_COMPLETE"
                else:
                    other.execution_status = "OBSOLETE"
        return {}


def _default(spec: dict[str, Any]) -> str | None:
    if "Default" not in spec:
        return None
    value = spec["Default"]
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _identifiers(res: dict[str, Any]) -> list[dict[str, Any]]:
    grouped: dict[str, list[str]] = {}
    for name, resource in res.items():
        grouped.setdefault(resource["Type"], []).append(name)
    out = []
    for type_name, names in sorted(grouped.items()):
        schema = schemas.schema(type_name)
        if schema is None:
            continue
        out.append({"ResourceType": type_name, "LogicalResourceIds": names,
                    "ResourceIdentifiers": schema.primary_identifier})
    return out
