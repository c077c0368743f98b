"""Authorisation of every API request: the IAM policy engine behind ``cloud.authorizer``.

Derives the IAM action (``<prefix>:<Operation>``) and resource ARNs of the
parsed request (a per-service declaration registry: services only declare how
their operations name resources; default ``*``), loads the caller's identity
policies (cached per principal for a short TTL, dropped on IAM changes),
evaluates them with the request context, and answers the service's denial:
``AccessDenied`` (403) for query and S3 services, ``UnauthorizedOperation`` (403)
with an encoded message (STS DecodeAuthorizationMessage opens it) for EC2.

Account boundaries: the root and the administrator user of an account (flagged
in the database at the account's creation, never recognised by name: the
credential store sets ``account_admin``) may do everything in their own account
(providers scope every call to the caller's account) and nothing in another unless
a resource policy allows it. The cloud administrator (the administrator of the
``eucalyptus`` account) keeps the Eucalyptus admin powers (Properties, Empyrean,
DelegateAccount, ``verbose``). Denials are logged without secrets.

Resource policy principals: naming a principal (user, role, session ARN) grants it;
naming an account (its root ARN or id) delegates to that account's IAM policies, as
on AWS: a user of the account needs its own identity allow, in the resource's
account as in another (``_evaluate``). Only the root itself is granted by it.
``aws:username`` exists for IAM users only (role and federated sessions have none).

Permissions boundaries: a user's or role's boundary (a managed policy) caps its
identity allows, in its sessions too, the account administrator user included
(``principal_policies``); an explicit deny in it denies. Resource-policy grants within
the account are not capped. IAM's SimulatePrincipalPolicy/SimulateCustomPolicy call
``evaluate_call``, the decision every request gets.

``aws:MultiFactorAuthPresent`` is set in every session (true when STS checked an MFA
code for it, ``aws:MultiFactorAuthAge`` then counting seconds since) and absent for
long-term keys, as on AWS. ``UNSIGNED_OPERATIONS`` (AssumeRoleWithWebIdentity and
AssumeRoleWithSAML, unsigned on AWS) pass without a caller: their token is the proof.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudctl.errors import AccessDenied, AwsError, UnauthorizedOperation
from cloudctl.protocol.wire import ParsedRequest
from cloudctl.server.context import RequestContext
from cloudctl.services.iam.policy import AuthzRequest, Decision, PolicySet, evaluate

if TYPE_CHECKING:
    from cloudctl.auth.credentials import Credential
    from cloudctl.auth.secrets import SecretBox
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.authz")

ADMIN_SERVICES = frozenset({"properties", "empyrean"})
ACTION_PREFIXES: dict[str, str] = {
    "ec2": "ec2", "iam": "iam", "sts": "sts", "s3": "s3", "elb": "elasticloadbalancing",
    "elbv2": "elasticloadbalancing", "autoscaling": "autoscaling", "cloudwatch": "cloudwatch",
    "cloudformation": "cloudformation", "properties": "euprop", "empyrean": "euserv",
}
ALWAYS_ALLOWED = frozenset({"sts:getcalleridentity"})
# STS calls made with a token from an identity provider instead of a signature (unsigned
# on AWS): the provider checks the token and the role's trust policy itself
UNSIGNED_OPERATIONS = frozenset({("sts", "AssumeRoleWithWebIdentity"),
                                 ("sts", "AssumeRoleWithSAML")})
POLICY_TTL = 2.0
MESSAGE_CONTEXT = "authz-message"

ResourceNamer = Callable[[RequestContext, dict[str, Any]], list[str]]
ResourcePolicyHook = Callable[[RequestContext, ParsedRequest], Any]
ActionNamer = Callable[[RequestContext, dict[str, Any]], "str | None"]
ContextNamer = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]
# async (ctx, params, want resource tags) -> [(arn, condition keys of that resource)]
ResourceResolver = Callable[[RequestContext, dict[str, Any], bool],
                            Awaitable[list[tuple[str, dict[str, Any]]]]]
RESOURCE_TAG_KEYS = ("ec2:resourcetag/", "aws:resourcetag/")
# ctx.extra key: {(action, resources): (effect, identity allows)} of calls whose implicit
# denials the service decides itself (S3 ACLs)
VERDICTS = "authz.verdicts"
# ctx.extra key: service condition keys of the call (s3:prefix...), set by its context hook
CONTEXT = "authz.context"


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A principal's compiled policies: identity, session policy, tags, boundary."""

    identity: PolicySet
    session: PolicySet | None
    tags: dict[str, str]
    boundary: PolicySet | None


@dataclasses.dataclass(frozen=True)
class Denied:
    """A refused call, for a service's own denial format (``declare(denial=...)``)."""

    credential: Credential
    action: str
    resource: str
    explicit: bool
    statement: str | None


DenialFormat = Callable[[Denied], AwsError]


def encoded_denial(secrets: SecretBox) -> DenialFormat:
    """EC2's denial: ``UnauthorizedOperation`` with an authorisation message sealed for
    ``sts:DecodeAuthorizationMessage``."""

    def deny(denied: Denied) -> AwsError:
        encoded = secrets.seal(json.dumps({
            "allowed": False, "explicitDeny": denied.explicit,
            "matchedStatements": {"items": [{"statementId": denied.statement}]}
            if denied.statement else {"items": []},
            "context": {"principal": {"id": denied.credential.user_id,
                                      "arn": denied.credential.principal_arn},
                        "action": denied.action, "resource": denied.resource}}),
            context=MESSAGE_CONTEXT)
        return UnauthorizedOperation("You are not authorized to perform this operation. "
                                     f"Encoded authorization failure message: {encoded}")

    return deny


class _Declaration:
    __slots__ = ("resources", "resource_policy", "actions", "acl_fallback", "context",
                 "resolve", "denial")

    def __init__(self, resources: ResourceNamer | None,
                 resource_policy: ResourcePolicyHook | None,
                 actions: ActionNamer | None = None, acl_fallback: bool = False,
                 context: ContextNamer | None = None,
                 resolve: ResourceResolver | None = None,
                 denial: DenialFormat | None = None) -> None:
        self.resolve = resolve
        self.denial = denial
        self.resources = resources
        self.resource_policy = resource_policy
        self.actions = actions
        self.acl_fallback = acl_fallback
        self.context = context


_DECLARATIONS: dict[str, _Declaration] = {}


def declare(service: str, resources: ResourceNamer | None = None,
            resource_policy: ResourcePolicyHook | None = None, *,
            actions: ActionNamer | None = None, acl_fallback: bool = False,
            context: ContextNamer | None = None,
            resolve: ResourceResolver | None = None,
            denial: DenialFormat | None = None) -> None:
    """How ``service`` names the resources of a call, and where its resource policies are.

    ``resources(ctx, params)`` returns ARNs (empty: ``*``); ``resource_policy(ctx,
    parsed)`` is awaited and returns ``(policy document or None, owner account id)``.
    ``actions(ctx, params)`` names the IAM action when it is not ``<prefix>:<Operation>``
    (None: the provider checks every action itself). ``acl_fallback`` (S3): anonymous
    callers are evaluated too, and an implicit deny whose identity policies allow is left
    to the provider (ACLs), with the verdict in ``ctx.extra[VERDICTS]``. ``context(ctx,
    params)`` adds service condition keys (``s3:prefix``...) to the request context.
    ``resolve(ctx, params, want_tags)`` (EC2) is awaited instead of ``resources`` and
    returns ``[(arn, condition keys of that resource)]``; each resource is then evaluated
    with its own keys (``ec2:ResourceTag/...``, looked up only when ``want_tags``: the
    caller's policies for the action test a resource-tag key). ``denial(denied)`` makes
    the service's error for a refused call (EC2: ``UnauthorizedOperation`` with an
    encoded message); the default is ``AccessDenied`` with AWS's message.
    """
    _DECLARATIONS[service] = _Declaration(resources, resource_policy, actions, acl_fallback,
                                          context, resolve, denial)


def is_cloud_admin(ctx: RequestContext) -> bool:
    return bool(ctx.credential and ctx.credential.attributes.get("cloud_admin"))


def _iam_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    account = ctx.account_id or ""
    for field, kind in (("UserName", "user"), ("GroupName", "group"), ("RoleName", "role"),
                        ("InstanceProfileName", "instance-profile"),
                        ("ServerCertificateName", "server-certificate")):
        if params.get(field):
            return [f"arn:aws:iam::{account}:{kind}/{params[field]}"]
    if params.get("PolicyArn"):
        return [str(params["PolicyArn"])]
    return []


def _iam_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """``iam:PermissionsBoundary`` of the calls that set one (delegated administration:
    "create users only with this boundary"), ``iam:PolicyARN`` of policy attachment."""
    out: dict[str, Any] = {}
    if params.get("PermissionsBoundary"):
        out["iam:PermissionsBoundary"] = str(params["PermissionsBoundary"])
    if params.get("PolicyArn"):
        out["iam:PolicyARN"] = str(params["PolicyArn"])
    return out


declare("iam", _iam_resources, context=_iam_context)


def _request_tags(params: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in params.get("Tags") or []:
        if isinstance(tag, dict) and "Key" in tag:
            tags[str(tag["Key"])] = str(tag.get("Value", ""))
    for spec in params.get("TagSpecifications") or []:
        for tag in spec.get("Tags") or []:
            tags[str(tag["Key"])] = str(tag.get("Value", ""))
    return tags


class PolicyAuthorizer:
    """``cloud.authorizer``: identity policies, account boundaries, admin services."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._cache: dict[str, tuple[float, Loaded]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def _policies(self, credential: Credential) -> Loaded:
        key = credential.access_key_id
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        from cloudctl.services.iam.directory import policies_for

        async with self.cloud.sessions() as session:
            found = await policies_for(session, credential)
        loaded = Loaded(PolicySet(found.documents),
                        PolicySet([found.session_policy]) if found.session_policy else None,
                        found.tags, PolicySet([found.boundary]) if found.boundary else None)
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[key] = (now + POLICY_TTL, loaded)
        return loaded

    async def principal_policies(self, credential: Credential) -> Loaded:
        """What bounds ``credential``: identity, session policy, tags, permissions boundary.

        An account administrator has every identity permission, still capped by its
        session policy and by a permissions boundary set on the administrator user.
        """
        attrs = credential.attributes
        if not attrs.get("account_admin"):
            return await self._policies(credential)
        session_set = PolicySet([attrs["session_policy"]]) if attrs.get("session_policy") \
            else None
        boundary = None
        if credential.principal_type != "root" and (attrs.get("has_boundary")
                                                    or credential.is_temporary):
            boundary = (await self._policies(credential)).boundary
        return Loaded(ADMIN_SET, session_set, {}, boundary)

    def build_request(self, ctx: RequestContext, action: str, resources: list[str],
                      tags: dict[str, str], params: dict[str, Any],
                      extra_context: dict[str, Any] | None = None) -> AuthzRequest:
        credential = ctx.credential
        now = datetime.now(UTC)
        context: dict[str, Any] = {
            "aws:SourceIp": ctx.source_ip, "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
            "aws:SecureTransport": ctx.wire.scheme == "https",
            "aws:RequestedRegion": ctx.region,
        }
        ids: tuple[str, ...] = ()
        if credential is not None:
            attrs = credential.attributes
            context.update({
                "aws:PrincipalArn": attrs.get("role_arn") or credential.principal_arn,
                "aws:PrincipalAccount": credential.account_id,
                "aws:PrincipalType": {"root": "Account", "user": "User",
                                      "assumed-role": "AssumedRole",
                                      "federated-user": "FederatedUser"}[credential.principal_type],
                "aws:userid": credential.user_id,
                # only IAM users have a user name: a session never names itself one
                "aws:username": attrs.get("user_name")
                if credential.principal_type == "user" else None,
            })
            if credential.is_temporary:
                # as on AWS: absent for long-term keys, present in every session
                mfa_at = attrs.get("mfa_at")
                context["aws:MultiFactorAuthPresent"] = bool(mfa_at)
                if mfa_at:
                    context["aws:MultiFactorAuthAge"] = str(max(0, int(now.timestamp())
                                                                - int(mfa_at)))
            for tag_key, tag_value in {**tags, **(attrs.get("session_tags") or {})}.items():
                context[f"aws:PrincipalTag/{tag_key}"] = tag_value
            if attrs.get("role_arn"):
                ids = (attrs["role_arn"],)
        if extra_context:
            context.update(extra_context)
        request_tags = _request_tags(params)
        for tag_key, tag_value in request_tags.items():
            context[f"aws:RequestTag/{tag_key}"] = tag_value
        if request_tags:
            context["aws:TagKeys"] = list(request_tags)
        return AuthzRequest(
            action=action, resources=resources or ["*"],
            principal_arn=credential.principal_arn if credential else "*",
            principal_account=credential.account_id if credential else None,
            principal_type=credential.principal_type if credential else "anonymous",
            principal_ids=ids, context=context)

    async def authorize(self, ctx: RequestContext, parsed: ParsedRequest) -> None:
        credential = ctx.credential
        declaration = _DECLARATIONS.get(ctx.service)
        if (ctx.service, ctx.operation) in UNSIGNED_OPERATIONS:
            return
        if credential is None or (declaration is not None and declaration.acl_fallback):
            if declaration is not None and declaration.acl_fallback:
                await self._authorize_with_fallback(ctx, parsed, declaration)
                return
            raise AwsError("Request is missing Authentication Token",
                           code="MissingAuthenticationToken", status=403)
        if ctx.service in ADMIN_SERVICES:
            if not is_cloud_admin(ctx):
                self._log_denial(ctx, ctx.service, "admin-only service")
                raise AccessDenied("You are not authorized to interact with this service.")
            return
        attrs = credential.attributes
        if credential.principal_type == "assumed-role" and attrs.get("role_id"):
            from cloudctl.services.iam.usage import note_role_use

            await note_role_use(self.cloud.sessions, str(attrs["role_id"]), ctx.region)
        attrs = credential.attributes
        if attrs.get("account_admin") and not credential.is_temporary \
                and not attrs.get("has_boundary"):
            return
        action = f"{ACTION_PREFIXES.get(ctx.service, ctx.service)}:{ctx.operation}"
        if action.lower() in ALWAYS_ALLOWED:
            return
        params = parsed.params
        resources = declaration.resources(ctx, params) if declaration and declaration.resources \
            else []
        loaded = await self.principal_policies(credential)
        identity, session_set, tags = loaded.identity, loaded.session, loaded.tags
        boundary = loaded.boundary
        extra = declaration.context(ctx, params) if declaration and declaration.context \
            else None
        each: list[tuple[str, dict[str, Any]]] = []
        if declaration is not None and declaration.resolve is not None:
            want_tags = _tests_keys(action, RESOURCE_TAG_KEYS, identity, session_set, boundary)
            each = await declaration.resolve(ctx, params, want_tags)
            resources = [resource for resource, _ in each]
        resource_policy, owner = None, None
        if declaration is not None and declaration.resource_policy is not None:
            resource_policy, owner = await declaration.resource_policy(ctx, parsed)
        if any(keys for _, keys in each):
            # resources with their own condition keys: each evaluated on its own
            decision, denied = self._evaluate_each(ctx, action, each, tags, params, extra,
                                                   identity, session_set, boundary)
            resources = [denied]
        else:
            request = self.build_request(ctx, action, resources, tags, params, extra)
            decision = evaluate_call(request, identity, resource_policy, owner, session_set,
                                     boundary)
        if decision.allowed:
            return
        self._log_denial(ctx, action, decision.effect)
        message = (f"User: {credential.principal_arn} is not authorized to perform: {action}"
                   + (f" on resource: {resources[0]}" if resources else ""))
        if decision.effect == "Deny":
            message += " with an explicit deny"
        if declaration is not None and declaration.denial is not None:
            raise declaration.denial(Denied(credential, action, resources[0] if resources
                                            else "*", decision.effect == "Deny",
                                            decision.statement))
        raise AccessDenied(message)

    def _evaluate_each(self, ctx: RequestContext, action: str,
                       each: list[tuple[str, dict[str, Any]]], tags: dict[str, str],
                       params: dict[str, Any], extra: dict[str, Any] | None,
                       identity: PolicySet, session_set: PolicySet | None,
                       boundary: PolicySet | None = None) -> tuple[Decision, str]:
        """The decision over every resource (each with its own keys), and the one denied."""
        result: tuple[Decision, str] | None = None
        for resource, keys in each:
            request = self.build_request(ctx, action, [resource], tags, params,
                                         {**(extra or {}), **keys})
            decision = evaluate(request, identity, session_policies=session_set,
                                boundary_policies=boundary)
            if decision.effect == "Deny":
                return decision, resource
            if result is None or (result[0].allowed and not decision.allowed):
                result = (decision, resource)
        assert result is not None
        return result

    async def decide(self, ctx: RequestContext, action: str, resources: list[str],
                     resource_policy: Any, owner: str | None) -> tuple[str, bool]:
        """(effect of identity + resource policy, whether the identity policies alone allow).

        For services whose providers decide implicit denials themselves (S3 ACLs);
        account admins have every identity permission; anonymous callers none.
        """
        credential = ctx.credential
        identity: PolicySet | None = None
        session_set: PolicySet | None = None
        boundary: PolicySet | None = None
        tags: dict[str, str] = {}
        if credential is not None:
            loaded = await self.principal_policies(credential)
            identity, session_set, tags = loaded.identity, loaded.session, loaded.tags
            boundary = loaded.boundary
        request = self.build_request(ctx, action, resources, tags, {},
                                     ctx.extra.get(CONTEXT))
        if credential is not None and resource_policy is None and owner is not None \
                and owner != credential.account_id:
            # another account's resource without a policy: only the provider can grant
            alone = evaluate(request, identity, None, session_policies=session_set,
                             boundary_policies=boundary)
            return ("Deny", False) if alone.effect == "Deny" else ("ImplicitDeny", alone.allowed)
        decision = evaluate_call(request, identity, resource_policy,
                                 owner if credential is not None else None, session_set,
                                 boundary)
        if decision.effect != "ImplicitDeny" or credential is None:
            return str(decision.effect), False
        alone = evaluate(request, identity, None, session_policies=session_set,
                         boundary_policies=boundary)
        return "ImplicitDeny", alone.allowed

    async def _authorize_with_fallback(self, ctx: RequestContext, parsed: ParsedRequest,
                                       declaration: _Declaration) -> None:
        credential = ctx.credential
        params = parsed.params
        if declaration.context is not None:
            ctx.extra[CONTEXT] = declaration.context(ctx, params)
        if credential is not None and credential.attributes.get("account_admin") \
                and not credential.is_temporary:
            return  # the provider checks the resource policy of admins (owner fast path)
        action = declaration.actions(ctx, params) if declaration.actions else \
            f"{ACTION_PREFIXES.get(ctx.service, ctx.service)}:{ctx.operation}"
        if action is None:
            return  # the provider checks each resource the call touches
        resources = declaration.resources(ctx, params) if declaration.resources else []
        policy, owner = None, None
        if declaration.resource_policy is not None:
            policy, owner = await declaration.resource_policy(ctx, parsed)
        effect, identity_allows = await self.decide(ctx, action, resources or ["*"], policy,
                                                    owner)
        ctx.extra.setdefault(VERDICTS, {})[(action, tuple(resources or ["*"]))] = \
            (effect, identity_allows)
        if effect == "Allow" or (effect == "ImplicitDeny"
                                 and (identity_allows or credential is None)):
            return
        self._log_denial(ctx, action, effect)
        raise AccessDenied("Access Denied")

    def _log_denial(self, ctx: RequestContext, action: str, why: str) -> None:
        credential = ctx.credential
        log.info("denied %s %s to %s (%s) from %s", ctx.request_id, action,
                 credential.principal_arn if credential else "anonymous", why, ctx.source_ip)


def evaluate_call(request: AuthzRequest, identity: PolicySet | None, resource_policy: Any,
                  owner: str | None, session_set: PolicySet | None,
                  boundary: PolicySet | None = None) -> Decision:
    """``evaluate`` where a resource policy naming an account delegates to its IAM policies.

    The decision every API call gets (IAM's policy simulation calls it too).

    A same-account allow granted by the resource policy alone (no identity allow) must
    name the principal itself (its ARN, its role, ``*``): when it matched only through
    the account (``arn:aws:iam::ACCOUNT:root`` / the account id) it grants nothing
    to a user or session of the account. Another account's principals already need
    both allows (``evaluate``'s cross-account rule).
    """
    decision = evaluate(request, identity, resource_policy, resource_account=owner,
                        session_policies=session_set, boundary_policies=boundary)
    if decision.source != "resource" or not decision.allowed \
            or request.principal_type in ("root", "anonymous") or not request.principal_account:
        return decision
    # the same request without the account among the principal's names; the principal
    # is in the resource's account here, so the cross-account rule stays off
    named_only = dataclasses.replace(request, principal_account=None)
    strict = evaluate(named_only, identity, resource_policy, resource_account=None,
                      session_policies=session_set, boundary_policies=boundary)
    return decision if strict.allowed else strict


def _tests_keys(action: str, prefixes: tuple[str, ...], *sets: PolicySet | None) -> bool:
    """Whether a statement of ``sets`` for ``action`` tests a condition key of ``prefixes``."""
    lowered = action.lower()
    return any(c.key.startswith(prefixes) for policies in sets if policies is not None
               for st in policies.candidates(lowered) for c in st.conditions)


ADMIN_SET = PolicySet(['{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
                       '"Resource":"*"}]}'])
