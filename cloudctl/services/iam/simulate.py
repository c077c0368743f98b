"""IAM policy simulation (SimulatePrincipalPolicy, SimulateCustomPolicy) on the real engine.

Each (action, resource) pair is decided by ``cloudctl.services.authz.evaluate_call``,
the function every API request is authorised with: identity policies, the resource
policy (with its owner account), the permissions boundary. The context holds the
``ContextEntries`` plus, for a named principal, the keys it carries on every real
request (``aws:username``, ``aws:userid``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
``aws:PrincipalType``, ``aws:PrincipalTag/*``); request keys (``aws:SourceIp``,
``aws:CurrentTime``...) come only from ``ContextEntries``, and the condition keys the
matching statements test but the context lacks are listed in ``MissingContextValues``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.authz import evaluate_call
from cloudctl.services.iam.boundary import boundary_document
from cloudctl.services.iam.common import IamBase, paginate
from cloudctl.services.iam.directory import owner_documents
from cloudctl.services.iam.models import GroupMember
from cloudctl.services.iam.policy import (
    AuthzRequest,
    PolicyError,
    PolicySet,
    evaluate,
    validate_policy,
)
from cloudctl.services.iam.roles import get_role
from cloudctl.services.iam.users import get_group, get_user

DECISIONS = {"Allow": "allowed", "Deny": "explicitDeny", "ImplicitDeny": "implicitDeny"}
_LIST_TYPES = ("stringList", "numericList", "booleanList", "ipList", "binaryList", "dateList")


def _invalid(message: str) -> AwsError:
    return AwsError(message, code="InvalidInput", status=400)


def _checked(documents: Any, kind: str = "identity") -> list[str]:
    out = []
    for text in documents or []:
        try:
            validate_policy(str(text), kind)  # type: ignore[arg-type]
        except PolicyError as exc:
            raise AwsError(exc.message, code="MalformedPolicyDocument", status=400) from None
        out.append(str(text))
    return out


def _context(entries: Any) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for entry in entries or []:
        name = entry.get("ContextKeyName")
        values = [str(v) for v in entry.get("ContextKeyValues") or []]
        if not name:
            raise _invalid("ContextKeyName is required in a context entry.")
        kind = entry.get("ContextKeyType") or "string"
        context[name] = values if kind in _LIST_TYPES or len(values) != 1 else values[0]
    return context


def _principal_tags(tags_json: str | None) -> dict[str, str]:
    """``aws:PrincipalTag/<key>`` condition keys of a user's or role's tags."""
    return {f"aws:PrincipalTag/{t['Key']}": t["Value"] for t in json.loads(tags_json or "[]")}


async def _boundary(session: AsyncSession, arn: str | None) -> str | None:
    return await boundary_document(session, arn) if arn else None


class Principal:
    """Who is simulated: ARN, account, type, extra principal ids, implied context."""

    def __init__(self, arn: str, account: str | None, kind: str,
                 ids: tuple[str, ...] = (), context: dict[str, Any] | None = None) -> None:
        self.arn, self.account, self.kind, self.ids = arn, account, kind, ids
        self.context = context or {}


class SimulationProvider(IamBase):

    async def _source(self, session: AsyncSession, account_id: str, source: str
                      ) -> tuple[Principal, list[tuple[str, str]], str | None]:
        """The principal of ``PolicySourceArn``, its (policy id, document)s and boundary."""
        parts = source.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or parts[4] != account_id:
            raise _invalid(f"Invalid ARN {source}.")
        kind, _, rest = parts[5].partition("/")
        name = rest.rsplit("/", 1)[-1]
        base = {"aws:PrincipalAccount": account_id}
        if kind == "user":
            user = await get_user(session, account_id, name)
            groups = list((await session.execute(select(GroupMember.group_id).where(
                GroupMember.user_id == user.user_id))).scalars())
            docs = await owner_documents(session, [user.user_id, *groups])
            context = {**base, "aws:username": user.name, "aws:userid": user.user_id,
                       "aws:PrincipalArn": source, "aws:PrincipalType": "User",
                       **_principal_tags(user.tags_json)}
            boundary = await _boundary(session, user.permissions_boundary)
            return (Principal(source, account_id, "user", context=context),
                    [(f"{name}-{i}", d) for i, d in enumerate(docs)], boundary)
        if kind == "role":
            role = await get_role(session, account_id, name)
            docs = await owner_documents(session, [role.role_id])
            context = {**base, "aws:userid": role.role_id, "aws:PrincipalArn": source,
                       "aws:PrincipalType": "AssumedRole", **_principal_tags(role.tags_json)}
            boundary = await _boundary(session, role.permissions_boundary)
            return (Principal(source, account_id, "assumed-role", (source,), context),
                    [(f"{name}-{i}", d) for i, d in enumerate(docs)], boundary)
        if kind == "group":
            group = await get_group(session, account_id, name)
            docs = await owner_documents(session, [group.group_id])
            return (Principal(source, account_id, "user", context=dict(base)),
                    [(f"{name}-{i}", d) for i, d in enumerate(docs)], None)
        raise _invalid(f"Invalid ARN {source}: not a user, group or role.")

    @operation("SimulatePrincipalPolicy")
    async def simulate_principal_policy(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        extra = _checked(params.get("PolicyInputList"))
        bounds = _checked(params.get("PermissionsBoundaryPolicyInputList"))
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            principal, docs, boundary = await self._source(session, account.account_id,
                                                           params["PolicySourceArn"])
        docs += [(f"PolicyInputList.{i + 1}", d) for i, d in enumerate(extra)]
        if bounds:
            boundary = None
        boundaries = bounds or ([boundary] if boundary else [])
        if params.get("CallerArn"):
            principal.arn = str(params["CallerArn"])
        return self._simulate(params, principal, docs, boundaries, account.account_id)

    @operation("SimulateCustomPolicy")
    async def simulate_custom_policy(self, ctx: RequestContext,
                                     params: dict[str, Any]) -> Result:
        docs = _checked(params.get("PolicyInputList"))
        bounds = _checked(params.get("PermissionsBoundaryPolicyInputList"))
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
        caller = str(params.get("CallerArn") or "")
        context: dict[str, Any] = {}
        if caller:
            context = {"aws:PrincipalArn": caller, "aws:PrincipalAccount": account.account_id}
            if ":user/" in caller:
                context.update({"aws:username": caller.rsplit("/", 1)[-1],
                                "aws:PrincipalType": "User"})
        principal = Principal(caller, account.account_id, "user", context=context)
        return self._simulate(params, principal,
                              [(f"PolicyInputList.{i + 1}", d) for i, d in enumerate(docs)],
                              bounds, account.account_id)

    def _simulate(self, params: dict[str, Any], principal: Principal,
                  docs: list[tuple[str, str]], boundaries: list[str],
                  account_id: str) -> Result:
        actions = [str(a) for a in params.get("ActionNames") or []]
        if not actions:
            raise _invalid("ActionNames must contain at least one action.")
        resources = [str(r) for r in params.get("ResourceArns") or []] or ["*"]
        resource_policy = None
        if params.get("ResourcePolicy"):
            resource_policy = _checked([params["ResourcePolicy"]], "resource")[0]
        owner = str(params.get("ResourceOwner") or account_id)
        if owner.startswith("arn:"):
            owner = owner.split(":")[4]
        context = {**principal.context, **_context(params.get("ContextEntries"))}
        identity = PolicySet([d for _, d in docs])
        boundary = PolicySet(boundaries) if boundaries else None
        results = []
        for action in actions:
            for resource in resources:
                request = AuthzRequest(action=action, resources=[resource],
                                       principal_arn=principal.arn or "*",
                                       principal_account=principal.account,
                                       principal_type=principal.kind,
                                       principal_ids=principal.ids, context=context)
                decision = evaluate_call(request, identity, resource_policy,
                                         owner if resource_policy else None, None, boundary)
                results.append(self._result(request, decision.effect, docs, boundaries,
                                            resource_policy, owner))
        for index, result in enumerate(results):
            result["_key"] = f"{index:08d}"
        out = paginate(results, params, lambda r: str(r["_key"]), "EvaluationResults")
        for result in out["EvaluationResults"]:
            result.pop("_key", None)
        return out

    def _result(self, request: AuthzRequest, effect: str, docs: list[tuple[str, str]],
                boundaries: list[str], resource_policy: str | None,
                owner: str) -> dict[str, Any]:
        matched = []
        for policy_id, doc in docs:
            alone = evaluate(request, [doc])
            if alone.effect != "ImplicitDeny":
                matched.append({"SourcePolicyId": policy_id, "SourcePolicyType": "user"})
        if resource_policy is not None:
            alone = evaluate(request, None, resource_policy, resource_account=None)
            if alone.effect != "ImplicitDeny":
                matched.append({"SourcePolicyId": "ResourcePolicy",
                                "SourcePolicyType": "resource"})
        sets = [PolicySet([d for _, d in docs])]
        if boundaries:
            sets.append(PolicySet(boundaries))
        ctx = request.lowered_context
        resource = request.resources[0]
        missing = sorted({c.key for policies in sets
                          for st in policies.candidates(request.action.lower())
                          if st.matches_resource(resource, ctx)
                          for c in st.conditions if c.key not in ctx})
        result: dict[str, Any] = {
            "EvalActionName": request.action, "EvalResourceName": resource,
            "EvalDecision": DECISIONS[effect], "MatchedStatements": matched,
            "MissingContextValues": missing}
        if boundaries:
            allowed = evaluate(request, boundaries).allowed
            result["PermissionsBoundaryDecisionDetail"] = {
                "AllowedByPermissionsBoundary": allowed}
        return result
