"""The stack operations of the CloudFormation API.

Each call validates, records the intent in one transaction (the stack row, its status
and the "User Initiated" event) and wakes the engine, which does the work; like AWS,
CreateStack answers at once with the stack id. Operations the cloud does not serve are
left out, so the dispatcher answers ``NotImplemented`` for them.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select

from cloudctl.db.base import utcnow
from cloudctl.errors import ValidationError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, operation
from cloudctl.services.cloudformation import intake, stackpolicy, store, views
from cloudctl.services.cloudformation.engine import ENGINE, wake_stack
from cloudctl.services.cloudformation.errors import already_exists, no_stack
from cloudctl.services.cloudformation.models import Stack, StackEvent, StackResource
from cloudctl.services.cloudformation.stackinfo import deadline
from cloudctl.services.iam import api as iam

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")
ON_FAILURE = ("ROLLBACK", "DELETE", "DO_NOTHING")
PAGE = 100
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
             "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE")
SERVICE_PRINCIPAL = "cloudformation.amazonaws.com"


def check_name(name: str) -> None:
    if not NAME.fullmatch(name or ""):
        raise ValidationError(f"1 validation error detected: Value '{name}' at 'stackName' "
                              f"failed to satisfy constraint: Member must satisfy regular "
                              f"expression pattern: [a-zA-Z][-a-zA-Z0-9]*")


def stack_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:cloudformation:{region}:{account_id}:stack/{name}/{uuid.uuid4()}"


def tags_of(params: dict[str, Any]) -> dict[str, str]:
    tags = {t["Key"]: t.get("Value", "") for t in params.get("Tags") or []}
    if len(tags) > 50:
        raise ValidationError("1 validation error detected: Value at 'tags' failed to "
                              "satisfy constraint: Member must have length less than or "
                              "equal to 50")
    if any(key.startswith("aws:") for key in tags):
        raise ValidationError("Tag keys may not start with aws:")
    return tags


STACKS = cast(Table, Stack.__table__)


def endpoint_of(cloud: Cloud, ctx: RequestContext) -> str:
    """The API endpoint a stack's instances reach (its wait condition handle URLs): the
    one ``cloudctl up`` gives guests (its outside network in VPC mode), else the endpoint
    the request came to."""
    if cloud.settings.guest_endpoint:
        return cloud.settings.guest_endpoint
    host = ctx.wire.header("Host") or "localhost:8773"
    return f"{ctx.wire.scheme}://{host}"


def _token(params: dict[str, Any]) -> str | None:
    return params.get("ClientRequestToken")


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    start = 0
    if params.get("NextToken"):
        try:
            start = int(params["NextToken"])
        except ValueError:
            raise ValidationError("Invalid NextToken") from None
    end = start + PAGE
    return items[start:end], (str(end) if end < len(items) else None)


class StackOperations(Provider):
    service = "cloudformation"

    def wake(self, stack_id: str) -> None:
        wake_stack(self.cloud, stack_id)

    async def _role_key(self, ctx: RequestContext, role_arn: str | None,
                        stack_name: str) -> str:
        """The access key the stack acts with: a session of ``RoleARN`` when given (the
        caller must be allowed to pass it), else the caller's own key."""
        assert ctx.credential is not None
        if not role_arn:
            return ctx.credential.access_key_id
        await iam.require_pass_role(self.cloud, ctx, role_arn)
        key = await iam.assume_service_role(self.cloud, role_arn, SERVICE_PRINCIPAL,
                                            f"AWSCloudFormation-{stack_name}"[:64])
        if key is None:
            raise ValidationError(f"Role {role_arn} is invalid or cannot be assumed")
        return key

    async def _prepare(self, ctx: RequestContext, params: dict[str, Any],
                       previous: Stack | None = None) -> tuple[intake.Intake, dict[str, Any]]:
        body = await intake.body_of(self.cloud, ctx, params,
                                    previous.template_body if previous else None)
        made = await intake.load(self.cloud, ctx, body)
        intake.check_capabilities(made, list(params.get("Capabilities") or []))
        values = await intake.parameter_values(self.cloud, ctx, made, params,
                                               previous.parameters if previous else None)
        return made, values

    @operation("CreateStack")
    async def create_stack(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        name = params["StackName"]
        check_name(name)
        on_failure = params.get("OnFailure") or ("DO_NOTHING" if params.get("DisableRollback")
                                                 else "ROLLBACK")
        if params.get("OnFailure") and params.get("DisableRollback") is not None:
            raise ValidationError("You cannot specify both DisableRollback and OnFailure.")
        if on_failure not in ON_FAILURE:
            raise ValidationError(f"OnFailure {on_failure} is not valid")
        timeout = params.get("TimeoutInMinutes")
        if timeout is not None and int(timeout) < 1:
            raise ValidationError("TimeoutInMinutes must be greater than 0")
        async with self.cloud.sessions() as session:
            existing = await store.live_stack_ref(session, account, ctx.region, name)
        if existing is not None:
            existing_id, existing_token = existing
            if _token(params) and existing_token == _token(params):
                return {"StackId": existing_id}
            raise already_exists(name)
        made, values = await self._prepare(ctx, params)
        tags = tags_of(params)
        stack_id = stack_arn(ctx.region, account, name)
        key = await self._role_key(ctx, params.get("RoleARN"), name)
        policy = params.get("StackPolicyBody")
        if policy is not None:
            stackpolicy.check(policy)
        async with self.cloud.sessions() as session, session.begin():
            if await store.live_stack_ref(session, account, ctx.region, name) is not None:
                raise already_exists(name)
            # one Core INSERT (the columns' defaults applied as the ORM's would be): the
            # ORM's object and unit of work were ~0.4 ms of CreateStack's transaction
            await session.execute(insert(STACKS), dict(
                stack_id=stack_id, account_id=account, region=ctx.region, name=name,
                status="CREATE_IN_PROGRESS", status_reason=None, operation="CREATE",
                description=made.processed.get("Description"), template_body=made.body,
                template=made.processed, parameters=values, tags=tags,
                capabilities=list(params.get("Capabilities") or []),
                notification_arns=list(params.get("NotificationARNs") or []), outputs=[],
                role_arn=params.get("RoleARN"), access_key_id=key, on_failure=on_failure,
                timeout_minutes=timeout, deadline=deadline(timeout),
                termination_protection=bool(params.get("EnableTerminationProtection")),
                stack_policy=policy, retain=[], request_token=_token(params),
                endpoint=endpoint_of(self.cloud, ctx), event_seq=0, created_at=utcnow()))
            await store.add_event(session, stack_id, name, stack_id, store.STACK_TYPE,
                                  "CREATE_IN_PROGRESS", "User Initiated",
                                  token=_token(params))
        self.wake(stack_id)
        return {"StackId": stack_id}

    @operation("UpdateStack")
    async def update_stack(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
        if _token(params) and stack.request_token == _token(params):
            return {"StackId": stack.stack_id}
        if stack.status not in UPDATABLE:
            raise ValidationError(f"Stack:{stack.stack_id} is in {stack.status} state and "
                                  f"can not be updated.")
        made, values = await self._prepare(ctx, params, stack)
        tags = tags_of(params) if params.get("Tags") is not None else stack.tags
        for key in ("StackPolicyBody", "StackPolicyDuringUpdateBody"):
            if params.get(key.replace("Body", "URL")):
                raise ValidationError(f"{key.replace('Body', 'URL')} is not supported by "
                                      f"this cloud; use {key}")
            if params.get(key) is not None:
                stackpolicy.check(params[key])
        if made.processed == stack.template and values == stack.parameters and \
                tags == stack.tags:
            raise ValidationError("No updates are to be performed.")
        await self.begin_update(ctx, params, stack, made, values, tags)
        return {"StackId": stack.stack_id}

    async def begin_update(self, ctx: RequestContext, params: dict[str, Any], stack: Stack,
                           made: intake.Intake, values: dict[str, Any],
                           tags: dict[str, str]) -> None:
        key = await self._role_key(ctx, params.get("RoleARN") or stack.role_arn, stack.name)
        async with self.cloud.sessions() as session, session.begin():
            live = await session.get(Stack, stack.stack_id, with_for_update=True)
            assert live is not None
            if live.status not in UPDATABLE:
                raise ValidationError(f"Stack:{live.stack_id} is in {live.status} state and "
                                      f"can not be updated.")
            live.previous_body, live.previous_template = live.template_body, live.template
            live.previous_parameters = live.parameters
            live.template_body, live.template, live.parameters = made.body, made.processed, \
                values
            live.description = made.processed.get("Description")
            live.tags = tags
            live.operation = "UPDATE"
            live.access_key_id = key
            live.role_arn = params.get("RoleARN") or live.role_arn
            live.capabilities = list(params.get("Capabilities") or [])
            timeout = params.get("TimeoutInMinutes") or live.timeout_minutes
            live.deadline = deadline(timeout)
            live.request_token = _token(params)
            live.updated_at = utcnow()
            # this update follows the policy during update, else the policy it began with
            live.policy_during_update = params.get("StackPolicyDuringUpdateBody") or \
                live.stack_policy
            if params.get("StackPolicyBody") is not None:
                live.stack_policy = params["StackPolicyBody"]
            await store.stack_event(session, live, "UPDATE_IN_PROGRESS", "User Initiated")
        self.wake(stack.stack_id)

    @operation("DeleteStack")
    async def delete_stack(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        retain = list(params.get("RetainResources") or [])
        async with self.cloud.sessions() as session, session.begin():
            stack = await store.find_stack(session, account, ctx.region, params["StackName"])
            if stack is None or stack.status == "DELETE_COMPLETE":
                return {}  # deleting a stack that does not exist succeeds, as on AWS
            if stack.termination_protection:
                raise ValidationError(f"Stack [{stack.name}] cannot be deleted while "
                                      f"TerminationProtection is enabled")
            if stack.status == "DELETE_IN_PROGRESS":
                return {}
            if retain and stack.status != "DELETE_FAILED":
                raise ValidationError(f"Invalid operation on stack [{stack.stack_id}]. "
                                      f"RetainResources can only be specified when the stack "
                                      f"is in the DELETE_FAILED state.")
            if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
                raise ValidationError(f"Stack [{stack.name}] cannot be deleted while in "
                                      f"status {stack.status}")
            exported = [o["ExportName"] for o in stack.outputs or [] if o.get("ExportName")]
            for name in exported:
                users = await store.importers(session, account, ctx.region, name)
                users = [u for u in users if u != stack.name]
                if users:
                    raise ValidationError(f"Export {name} cannot be deleted as it is in use "
                                          f"by {users[0]}")
            rows = await store.rows(session, stack.stack_id)
            known = {r.logical_id for r in rows}
            unknown = [name for name in retain if name not in known]
            if unknown:
                raise ValidationError(f"The specified resources to retain {unknown} do not "
                                      f"exist in the stack")
            for row in rows:
                if row.status == "DELETE_FAILED":
                    row.status = "UPDATE_COMPLETE"
            stack.retain = retain
            stack.operation = "DELETE"
            stack.request_token = _token(params)
            await store.stack_event(session, stack, "DELETE_IN_PROGRESS", "User Initiated")
            stack_id = stack.stack_id
        self.wake(stack_id)
        return {}

    @operation("DescribeStacks")
    async def describe_stacks(self, ctx: RequestContext,
                              params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            if params.get("StackName"):
                stack = await store.find_stack(session, account, ctx.region,
                                               params["StackName"])
                if stack is None:
                    raise no_stack(params["StackName"])
                stacks = [stack]
            else:
                stacks = list((await session.execute(select(Stack).where(
                    Stack.account_id == account, Stack.region == ctx.region,
                    Stack.status != "DELETE_COMPLETE").order_by(
                        Stack.created_at.desc()))).scalars())
        page, token = _page(stacks, params)
        out: dict[str, Any] = {"Stacks": [views.stack(s) for s in page]}
        if token:
            out["NextToken"] = token
        return out

    @operation("ListStacks")
    async def list_stacks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        query = select(Stack).where(Stack.account_id == account, Stack.region == ctx.region)
        wanted = params.get("StackStatusFilter") or []
        if wanted:
            query = query.where(Stack.status.in_(wanted))
        async with self.cloud.sessions() as session:
            stacks = list((await session.execute(query.order_by(
                Stack.created_at.desc()))).scalars())
        page, token = _page(stacks, params)
        out: dict[str, Any] = {"StackSummaries": [views.summary(s) for s in page]}
        if token:
            out["NextToken"] = token
        return out

    @operation("DescribeStackEvents")
    async def describe_stack_events(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            stack = await store.find_stack(session, account, ctx.region, params["StackName"])
            if stack is None:
                raise no_stack(params["StackName"])
            # newest first, a page at a time by the events' sequence (the token is the
            # last one given): a page reads its own rows, not the stack's whole history
            query = select(StackEvent).where(StackEvent.stack_id == stack.stack_id)
            if params.get("NextToken"):
                try:
                    before = int(params["NextToken"])
                except ValueError:
                    raise ValidationError("Invalid NextToken") from None
                query = query.where(StackEvent.seq < before)
            events = list((await session.execute(
                query.order_by(StackEvent.seq.desc()).limit(PAGE + 1))).scalars())
        page = events[:PAGE]
        out: dict[str, Any] = {"StackEvents": [views.event(e, stack.name) for e in page]}
        if len(events) > PAGE:
            out["NextToken"] = str(page[-1].seq)
        return out

    async def _resource_rows(self, ctx: RequestContext,
                             name: str) -> tuple[Stack, list[StackResource]]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            stack = await store.find_stack(session, account, ctx.region, name)
            if stack is None:
                raise no_stack(name)
            rows = await store.rows(session, stack.stack_id)
        if stack.status == "DELETE_COMPLETE":
            latest: dict[str, StackResource] = {}
            for row in rows:
                latest[row.logical_id] = row
            return stack, list(latest.values())
        return stack, [r for r in rows if r.role == "current" and r.status != "DELETE_COMPLETE"]

    @operation("DescribeStackResources")
    async def describe_stack_resources(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("StackName")
        physical = params.get("PhysicalResourceId")
        if not name and not physical:
            raise ValidationError("Either StackName or PhysicalResourceId must be specified.")
        if not name:
            account = ctx.require_account()
            async with self.cloud.sessions() as session:
                found = (await session.execute(select(StackResource).where(
                    StackResource.physical_id == physical,
                    StackResource.role == "current"))).scalars().first()
                stack = await session.get(Stack, found.stack_id) if found else None
            if stack is None or stack.account_id != account:
                raise ValidationError(f"Stack for {physical} does not exist")
            name = stack.stack_id
        stack, rows = await self._resource_rows(ctx, name)
        if params.get("LogicalResourceId"):
            rows = [r for r in rows if r.logical_id == params["LogicalResourceId"]]
        return {"StackResources": [views.resource(r, stack) for r in rows]}

    @operation("DescribeStackResource")
    async def describe_stack_resource(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> dict[str, Any]:
        stack, rows = await self._resource_rows(ctx, params["StackName"])
        for row in rows:
            if row.logical_id == params["LogicalResourceId"]:
                return {"StackResourceDetail": views.resource(row, stack, detail=True)}
        raise ValidationError(f"Resource {params['LogicalResourceId']} does not exist for "
                              f"stack {params['StackName']}")

    @operation("ListStackResources")
    async def list_stack_resources(self, ctx: RequestContext,
                                   params: dict[str, Any]) -> dict[str, Any]:
        stack, rows = await self._resource_rows(ctx, params["StackName"])
        page, token = _page(rows, params)
        out: dict[str, Any] = {"StackResourceSummaries": [
            views.resource(r, stack, summary_=True) for r in page]}
        if token:
            out["NextToken"] = token
        return out

    @operation("GetTemplate")
    async def get_template(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        if params.get("ChangeSetName"):
            from cloudctl.services.cloudformation.changesets import find_change_set

            async with self.cloud.sessions() as session:
                change_set = await find_change_set(session, account, ctx.region,
                                                   params["ChangeSetName"],
                                                   params.get("StackName"))
            body, processed = change_set.template_body, change_set.template
        else:
            async with self.cloud.sessions() as session:
                stack = await store.require_stack(session, account, ctx.region,
                                                  params["StackName"])
            body, processed = stack.template_body, stack.template
        stage = params.get("TemplateStage") or "Original"
        text = body if stage == "Original" else json.dumps(processed, indent=2)
        return {"TemplateBody": text, "StagesAvailable": ["Original", "Processed"]}

    @operation("UpdateTerminationProtection")
    async def update_termination_protection(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
            stack.termination_protection = bool(params["EnableTerminationProtection"])
            return {"StackId": stack.stack_id}

    @operation("SetStackPolicy")
    async def set_stack_policy(self, ctx: RequestContext,
                               params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        if params.get("StackPolicyURL"):
            raise ValidationError("StackPolicyURL is not supported by this cloud; use "
                                  "StackPolicyBody")
        body = params.get("StackPolicyBody")
        if body is None:
            raise ValidationError("Either StackPolicyBody or StackPolicyURL must be "
                                  "specified.")
        stackpolicy.check(body)
        async with self.cloud.sessions() as session, session.begin():
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
            stack.stack_policy = body
        return {}

    @operation("GetStackPolicy")
    async def get_stack_policy(self, ctx: RequestContext,
                               params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
        return {"StackPolicyBody": stack.stack_policy} if stack.stack_policy else {}

    @operation("CancelUpdateStack")
    async def cancel_update_stack(self, ctx: RequestContext,
                                  params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
            if stack.status != "UPDATE_IN_PROGRESS":
                raise ValidationError(f"CancelUpdateStack cannot be called from current stack "
                                      f"status: {stack.status}")
        from cloudctl.services.cloudformation.engine import StackEngine
        from cloudctl.services.cloudformation.errors import Failed

        # the transitions are conditional writes: any worker may make them (the leader's
        # running sync then finds the status changed and stops its update)
        engine = self.cloud.runtime.get(ENGINE) or StackEngine(self.cloud,
                                                               leader=lambda: False)
        await engine.fail(stack, "UPDATE_IN_PROGRESS", Failed([], "User Initiated"))
        return {}

    @operation("ContinueUpdateRollback")
    async def continue_update_rollback(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        skip = list(params.get("ResourcesToSkip") or [])
        async with self.cloud.sessions() as session, session.begin():
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
            if stack.status != "UPDATE_ROLLBACK_FAILED":
                raise ValidationError(f"Stack {stack.stack_id} is in {stack.status} state and "
                                      f"can not continue the rollback.")
            for row in await store.rows(session, stack.stack_id):
                if row.role != "current":
                    continue
                if row.logical_id in skip:
                    row.step = "skip"
                    row.status = "UPDATE_COMPLETE"
                elif row.status == "UPDATE_FAILED":
                    row.status = "UPDATE_COMPLETE"
            await store.stack_event(session, stack, "UPDATE_ROLLBACK_IN_PROGRESS",
                                    "User Initiated")
            stack_id = stack.stack_id
        self.wake(stack_id)
        return {}

    @operation("SignalResource")
    async def signal_resource(self, ctx: RequestContext,
                              params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            stack = await store.require_stack(session, account, ctx.region, params["StackName"])
            rows = [r for r in await store.rows(session, stack.stack_id)
                    if r.logical_id == params["LogicalResourceId"] and r.role == "current"]
            if not rows or rows[-1].status not in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
                raise ValidationError(f"Resource {params['LogicalResourceId']} is not in a "
                                      f"state that accepts signals")
            row = rows[-1]
            row.signals = list(row.signals or []) + [{
                "UniqueId": params["UniqueId"], "Status": params["Status"]}]
        self.wake(stack.stack_id)
        return {}

    @operation("ListExports")
    async def list_exports(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            found = await store.exports(session, account, ctx.region)
        items = [{"ExportingStackId": stack_id, "Name": name, "Value": value}
                 for name, (value, stack_id) in sorted(found.items())]
        page, token = _page(items, params)
        out: dict[str, Any] = {"Exports": page}
        if token:
            out["NextToken"] = token
        return out

    @operation("ListImports")
    async def list_imports(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        name = params["ExportName"]
        async with self.cloud.sessions() as session:
            users = await store.importers(session, account, ctx.region, name)
        if not users:
            raise ValidationError(f"Export '{name}' is not imported by any stack.")
        return {"Imports": sorted(users)}
