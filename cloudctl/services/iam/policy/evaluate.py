"""AWS policy evaluation: explicit deny > allow > implicit deny, across policy types.

Owns ``AuthzRequest``, ``Decision``, ``PolicySet`` (a principal's compiled identity
policies with a per-action index of candidate statements) and ``evaluate``.
Identity allows and resource-policy allows combine as AWS does: within one
account either suffices; across accounts both are needed. Session policies (STS)
and permissions boundaries only ever narrow the identity's permissions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudctl.services.iam.policy.document import CompiledPolicy, Statement, compile_policy

PolicySource = str | dict[str, Any] | CompiledPolicy
Effect = Literal["Allow", "Deny", "ImplicitDeny"]
_INDEX_LIMIT = 512


def _values(value: Any) -> list[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [_scalar(v) for v in value]
    return [_scalar(value)]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(slots=True)
class AuthzRequest:
    """What is asked, by whom, on what, in which context (keys case-insensitive)."""

    action: str
    resources: Sequence[str] = ("*",)
    principal_arn: str = ""
    principal_account: str | None = None
    principal_type: str = "anonymous"
    principal_ids: Sequence[str] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    _ctx: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _keys: frozenset[str] = field(default=frozenset(), init=False, repr=False)

    def __post_init__(self) -> None:
        self._ctx = {k.lower(): _values(v) for k, v in self.context.items() if v is not None}
        keys = {"*"}
        if self.principal_arn and self.principal_arn != "*":
            keys.add(self.principal_arn)
        if self.principal_account:
            keys.add("acct:" + self.principal_account)
        keys.update(self.principal_ids)
        self._keys = frozenset(keys)

    @property
    def lowered_context(self) -> dict[str, list[str]]:
        return self._ctx

    @property
    def principal_keys(self) -> frozenset[str]:
        return self._keys


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    statement: str = ""
    source: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"


class PolicySet:
    """Compiled policies with an index ``action -> statements that name it``."""

    __slots__ = ("policies", "_index")

    def __init__(self, sources: Iterable[PolicySource]) -> None:
        self.policies: list[CompiledPolicy] = [compile_policy(s) for s in sources]
        self._index: dict[str, tuple[Statement, ...]] = {}

    def candidates(self, action: str) -> tuple[Statement, ...]:
        hit = self._index.get(action)
        if hit is None:
            hit = tuple(st for policy in self.policies for st in policy.statements
                        if st.matches_action(action))
            if len(self._index) > _INDEX_LIMIT:
                self._index.clear()
            self._index[action] = hit
        return hit

    def __len__(self) -> int:
        return len(self.policies)


def as_policy_set(sources: PolicySet | Iterable[PolicySource] | None) -> PolicySet | None:
    if sources is None or isinstance(sources, PolicySet):
        return sources
    return PolicySet(sources)


def _scan(statements: tuple[Statement, ...], resource: str, request: AuthzRequest,
          check_principal: bool) -> tuple[Statement | None, Statement | None]:
    """The first matching Deny and the first matching Allow among ``statements``."""
    deny = allow = None
    ctx = request.lowered_context
    for st in statements:
        if st.allow and allow is not None:
            continue
        if check_principal and not st.matches_principal(request.principal_keys):
            continue
        if not st.matches_resource(resource, ctx):
            continue
        if st.conditions and not all(c.test(ctx) for c in st.conditions):
            continue
        if st.allow:
            allow = st
        else:
            deny = st
            break
    return deny, allow


def _one(request: AuthzRequest, action: str, resource: str, identity: PolicySet | None,
         resource_policy: PolicySet | None, session: PolicySet | None,
         cross_account: bool, boundary: PolicySet | None = None) -> Decision:
    id_deny, id_allow = (_scan(identity.candidates(action), resource, request, False)
                         if identity is not None else (None, None))
    if id_deny is not None:
        return Decision("Deny", id_deny.sid, "identity")
    res_deny = res_allow = None
    if resource_policy is not None:
        res_deny, res_allow = _scan(resource_policy.candidates(action), resource, request, True)
        if res_deny is not None:
            return Decision("Deny", res_deny.sid, "resource")
    if boundary is not None:
        # a permissions boundary caps the identity allows (resource-policy grants to the
        # principal stay, as on AWS); its explicit deny denies
        b_deny, b_allow = _scan(boundary.candidates(action), resource, request, False)
        if b_deny is not None:
            return Decision("Deny", b_deny.sid, "boundary")
        if b_allow is None:
            id_allow = None
    if session is not None:
        s_deny, s_allow = _scan(session.candidates(action), resource, request, False)
        if s_deny is not None:
            return Decision("Deny", s_deny.sid, "session")
        if s_allow is None:
            id_allow = None
    if cross_account:
        if id_allow is not None and res_allow is not None:
            return Decision("Allow", res_allow.sid, "resource")
        return Decision("ImplicitDeny")
    if id_allow is not None:
        return Decision("Allow", id_allow.sid, "identity")
    if res_allow is not None:
        return Decision("Allow", res_allow.sid, "resource")
    return Decision("ImplicitDeny")


def evaluate(request: AuthzRequest,
             identity_policies: PolicySet | Iterable[PolicySource] | None,
             resource_policy: PolicySet | PolicySource | None = None,
             *, resource_account: str | None = None,
             session_policies: PolicySet | Iterable[PolicySource] | None = None,
             boundary_policies: PolicySet | Iterable[PolicySource] | None = None) -> Decision:
    """The AWS decision for ``request``; every resource must be allowed.

    ``boundary_policies`` (a permissions boundary) intersect the identity allows like
    session policies do; resource-policy allows within the account are not capped.
    """
    identity = as_policy_set(identity_policies)
    boundary = as_policy_set(boundary_policies)
    session = as_policy_set(session_policies)
    res_set: PolicySet | None = None
    if resource_policy is not None:
        res_set = (resource_policy if isinstance(resource_policy, PolicySet)
                   else PolicySet([resource_policy]))
    cross = (res_set is not None and resource_account is not None
             and resource_account != request.principal_account)
    action = request.action.lower()
    result: Decision | None = None
    for resource in request.resources or ("*",):
        decision = _one(request, action, resource, identity, res_set, session, cross, boundary)
        if decision.effect == "Deny":
            return decision
        if result is None or (result.allowed and not decision.allowed):
            result = decision
    assert result is not None
    return result
