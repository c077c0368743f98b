"""Load balancer policies: the policy types ELB offers (stickiness, proxy protocol, SSL
negotiation, back-end authentication), Create/Delete/DescribeLoadBalancerPolicies, the
cookie stickiness shortcuts, and attaching policies to listeners and back-end ports."""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.elb import common, ssl_policies
from cloudctl.services.elb.base import ElbProvider
from cloudctl.services.elb.common import (
    DuplicatePolicyName,
    InvalidConfigurationRequest,
    ListenerNotFound,
    PolicyNotFound,
    PolicyTypeNotFound,
    ValidationError,
)

MAX_POLICIES = 100
# type -> (description, [(attribute, type, cardinality, description)])
POLICY_TYPES: dict[str, tuple[str, list[tuple[str, str, str, str]]]] = {
    "AppCookieStickinessPolicyType": (
        "Stickiness policy with session lifetimes controlled by the lifetime of the "
        "application-generated cookie. This policy can be associated only with "
        "HTTP/HTTPS listeners.",
        [("CookieName", "String", "ONE", "")]),
    "LBCookieStickinessPolicyType": (
        "Stickiness policy with session lifetimes controlled by the browser (user-agent) "
        "or a specified expiration period. This policy can be associated only with "
        "HTTP/HTTPS listeners.",
        [("CookieExpirationPeriod", "Long", "ZERO_OR_ONE", "")]),
    "ProxyProtocolPolicyType": (
        "Policy that controls whether to include the IP address and port of the "
        "originating request for TCP messages. This policy operates on TCP/SSL "
        "listeners only",
        [("ProxyProtocol", "Boolean", "ONE", "")]),
    "SSLNegotiationPolicyType": (
        "Listener policy that defines the ciphers and protocols that will be accepted "
        "by the load balancer. This policy can be associated only with HTTPS/SSL "
        "listeners.",
        [("Reference-Security-Policy", "String", "ZERO_OR_ONE", ""),
         ("Protocol-TLSv1.2", "Boolean", "ZERO_OR_ONE", ""),
         ("Protocol-TLSv1.1", "Boolean", "ZERO_OR_ONE", ""),
         ("Protocol-TLSv1", "Boolean", "ZERO_OR_ONE", ""),
         ("Server-Defined-Cipher-Order", "Boolean", "ZERO_OR_ONE", "")]),
    "PublicKeyPolicyType": (
        "Policy containing a list of public keys to accept when authenticating the "
        "back-end server(s). This policy cannot be applied directly to back-end servers "
        "or listeners but must be part of a BackendServerAuthenticationPolicyType.",
        [("PublicKey", "String", "ONE", "")]),
    "BackendServerAuthenticationPolicyType": (
        "Policy that controls authentication to back-end server(s) and contains one or "
        "more policies, such as an instance of a PublicKeyPolicyType. This policy can be "
        "associated only with back-end servers that are using HTTPS/SSL.",
        [("PublicKeyPolicyName", "PolicyName", "ONE_OR_MORE", "")]),
}
STICKY = ("AppCookieStickinessPolicyType", "LBCookieStickinessPolicyType")
LISTENER_TYPES = (*STICKY, "SSLNegotiationPolicyType")
BACKEND_TYPES = ("ProxyProtocolPolicyType", "BackendServerAuthenticationPolicyType")


def _type_description(name: str) -> dict[str, Any]:
    text, attrs = POLICY_TYPES[name]
    return {"PolicyTypeName": name, "Description": text,
            "PolicyAttributeTypeDescriptions": [
                {"AttributeName": a, "AttributeType": t, "Cardinality": c,
                 **({"Description": d} if d else {})} for a, t, c, d in attrs]}


def _policy_name(value: Any) -> str:
    name = str(value or "")
    if not name or len(name) > 255 or not all(c.isalnum() or c in "-_" for c in name):
        raise ValidationError(f"Invalid policy name: '{name}'")
    return name


class PoliciesProvider(ElbProvider):
    service = "elb"

    async def _add(self, ctx: RequestContext, lb_name: Any, name: str, type_name: str,
                   attrs: list[dict[str, str]]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, lb_name)
            if any(p["PolicyName"] == name for p in lb.policies):
                raise DuplicatePolicyName(f"Policy {name} already exists for {lb.name}")
            if len(lb.policies) >= MAX_POLICIES:
                raise common.TooManyPolicies("Too many policies on the load balancer")
            lb.policies = [*lb.policies, {"PolicyName": name, "PolicyTypeName": type_name,
                                          "PolicyAttributeDescriptions": attrs}]
        return {}

    @operation("DescribeLoadBalancerPolicyTypes")
    async def describe_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        names = [str(n) for n in params.get("PolicyTypeNames") or []]
        for name in names:
            if name not in POLICY_TYPES:
                raise PolicyTypeNotFound(f"One or more of the specified policy types do not "
                                         f"exist: {name}")
        return {"PolicyTypeDescriptions": [_type_description(n)
                                           for n in (names or list(POLICY_TYPES))]}

    @operation("CreateLoadBalancerPolicy")
    async def create_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = _policy_name(params.get("PolicyName"))
        type_name = str(params.get("PolicyTypeName") or "")
        if type_name not in POLICY_TYPES:
            raise PolicyTypeNotFound(f"There is no policy type named '{type_name}'")
        known = {a[0]: a for a in POLICY_TYPES[type_name][1]}
        attrs = []
        for raw in params.get("PolicyAttributes") or []:
            attr = str(raw.get("AttributeName") or "")
            value = str(raw.get("AttributeValue") or "")
            if attr not in known and type_name != "SSLNegotiationPolicyType":
                raise InvalidConfigurationRequest(
                    f"Attribute {attr} is not valid for policy type {type_name}")
            if attr in known and known[attr][1] == "Boolean" and value.lower() not in (
                    "true", "false"):
                raise InvalidConfigurationRequest(f"Attribute {attr} must be true or false")
            attrs.append({"AttributeName": attr, "AttributeValue": value})
        if type_name == "SSLNegotiationPolicyType":
            ssl_policies.check(attrs)
        given = {a["AttributeName"] for a in attrs}
        for attr, _t, card, _d in POLICY_TYPES[type_name][1]:
            if card in ("ONE", "ONE_OR_MORE") and attr not in given:
                raise InvalidConfigurationRequest(
                    f"Policy type {type_name} requires the attribute {attr}")
        return await self._add(ctx, params.get("LoadBalancerName"), name, type_name, attrs)

    @operation("CreateLBCookieStickinessPolicy")
    async def create_lb_cookie(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = _policy_name(params.get("PolicyName"))
        attrs = []
        period = params.get("CookieExpirationPeriod")
        if period is not None:
            if int(period) < 1:
                raise ValidationError("CookieExpirationPeriod must be a positive number")
            attrs.append({"AttributeName": "CookieExpirationPeriod",
                          "AttributeValue": str(int(period))})
        return await self._add(ctx, params.get("LoadBalancerName"), name,
                               "LBCookieStickinessPolicyType", attrs)

    @operation("CreateAppCookieStickinessPolicy")
    async def create_app_cookie(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = _policy_name(params.get("PolicyName"))
        cookie = str(params.get("CookieName") or "")
        if not cookie:
            raise ValidationError("CookieName is required")
        return await self._add(ctx, params.get("LoadBalancerName"), name,
                               "AppCookieStickinessPolicyType",
                               [{"AttributeName": "CookieName", "AttributeValue": cookie}])

    @operation("DeleteLoadBalancerPolicy")
    async def delete_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = str(params.get("PolicyName") or "")
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            used = any(name in (lst.get("PolicyNames") or []) for lst in lb.listeners) or any(
                name in names for names in lb.backend_policies.values())
            if used:
                raise InvalidConfigurationRequest(
                    f"Policy {name} is in use by a listener or back-end server")
            lb.policies = [p for p in lb.policies if p["PolicyName"] != name]
        return {}

    @operation("DescribeLoadBalancerPolicies")
    async def describe_policies(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        names = [str(n) for n in params.get("PolicyNames") or []]
        lb_name = params.get("LoadBalancerName")
        if not lb_name:  # AWS: the sample (predefined) policies
            for name in names:
                if name not in ssl_policies.PREDEFINED:
                    raise PolicyNotFound(f"There is no policy with name {name}")
            return {"PolicyDescriptions": ssl_policies.predefined_descriptions(names)}
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            lb = await common.get(session, account, ctx.region, lb_name)
        have = {p["PolicyName"]: p for p in lb.policies}
        for name in names:
            if name not in have:
                raise PolicyNotFound(f"There is no policy with name {name} for load "
                                     f"balancer {lb.name}")
        chosen = [have[n] for n in names] if names else list(have.values())
        return {"PolicyDescriptions": chosen}

    @operation("SetLoadBalancerPoliciesOfListener")
    async def set_listener_policies(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        port = int(params.get("LoadBalancerPort") or 0)
        names = [str(n) for n in params.get("PolicyNames") or []]
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            listeners = [dict(lst) for lst in lb.listeners]
            target = next((lst for lst in listeners if lst["LoadBalancerPort"] == port), None)
            if target is None:
                raise ListenerNotFound(f"There is no listener on port {port}")
            have = {p["PolicyName"]: p for p in lb.policies}
            sticky = 0
            for name in names:
                if name not in have:
                    raise PolicyNotFound(f"There is no policy with name {name}")
                kind = have[name]["PolicyTypeName"]
                if kind not in LISTENER_TYPES:
                    raise InvalidConfigurationRequest(
                        f"{kind} policies cannot be set on a listener")
                if kind in STICKY:
                    sticky += 1
                    if target["Protocol"] not in common.LAYER7:
                        raise InvalidConfigurationRequest(
                            "Stickiness policies apply only to HTTP/HTTPS listeners")
                if kind == "SSLNegotiationPolicyType" and target["Protocol"] not in (
                        common.SECURE):
                    raise InvalidConfigurationRequest(
                        "SSL negotiation policies apply only to HTTPS/SSL listeners")
            if sticky > 1:
                raise InvalidConfigurationRequest(
                    "A listener takes at most one stickiness policy")
            target["PolicyNames"] = names
            lb.listeners = listeners
            common.touch(lb)
        return {}

    @operation("SetLoadBalancerPoliciesForBackendServer")
    async def set_backend_policies(self, ctx: RequestContext,
                                   params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        port = int(params.get("InstancePort") or 0)
        names = [str(n) for n in params.get("PolicyNames") or []]
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            have = {p["PolicyName"]: p for p in lb.policies}
            for name in names:
                if name not in have:
                    raise PolicyNotFound(f"There is no policy with name {name}")
                if have[name]["PolicyTypeName"] not in BACKEND_TYPES:
                    raise InvalidConfigurationRequest(
                        f"{have[name]['PolicyTypeName']} policies cannot be set on a "
                        "back-end server")
            policies = dict(lb.backend_policies)
            if names:
                policies[str(port)] = names
            else:
                policies.pop(str(port), None)
            lb.backend_policies = policies
            common.touch(lb)
        return {}
