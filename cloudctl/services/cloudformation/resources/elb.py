"""The classic load balancer type, AWS::ElasticLoadBalancing::LoadBalancer, over
``cloudctl.services.elb.api``: listeners, zones or subnets, security groups, scheme,
health check, instances, tags, and the attributes (``CrossZone``,
``ConnectionDrainingPolicy``, ``ConnectionSettings``, ``AccessLoggingPolicy``: set at
creation, changed in place on update, back to the defaults when removed). Ref is the name; GetAtt DNSName,
CanonicalHostedZoneName(ID) and SourceSecurityGroup.GroupName/OwnerAlias come from
DescribeLoadBalancers. Creation is idempotent by the name derived from the token.
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.services.cloudformation.resources.base import (
    Act,
    Outcome,
    ResourceType,
    resumed_exists,
)
from cloudctl.services.elb import api as elb

_CHECK_NUMBERS = ("HealthyThreshold", "UnhealthyThreshold", "Interval", "Timeout")


def _listener(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Protocol": item["Protocol"],
                           "LoadBalancerPort": int(item["LoadBalancerPort"]),
                           "InstancePort": int(item["InstancePort"])}
    for key in ("InstanceProtocol", "SSLCertificateId"):
        if item.get(key):
            out[key] = item[key]
    return out


def _health_check(check: dict[str, Any]) -> dict[str, Any]:
    return {"Target": check["Target"], **{k: int(check[k]) for k in _CHECK_NUMBERS}}


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _attributes(props: dict[str, Any]) -> dict[str, Any]:
    """The load balancer attributes the template's properties ask for (AWS's defaults for
    those it leaves out)."""
    drain = props.get("ConnectionDrainingPolicy") or {}
    log = props.get("AccessLoggingPolicy") or {}
    out: dict[str, Any] = {
        "CrossZoneLoadBalancing": {"Enabled": _flag(props.get("CrossZone", False))},
        "ConnectionDraining": {"Enabled": _flag(drain.get("Enabled", False)),
                               "Timeout": int(drain.get("Timeout") or 300)},
        "ConnectionSettings": {"IdleTimeout": int(
            (props.get("ConnectionSettings") or {}).get("IdleTimeout") or 60)},
        "AccessLog": {"Enabled": _flag(log.get("Enabled", False))}}
    if out["AccessLog"]["Enabled"]:
        out["AccessLog"].update({"S3BucketName": log.get("S3BucketName", ""),
                                 "EmitInterval": int(log.get("EmitInterval") or 60),
                                 "S3BucketPrefix": log.get("S3BucketPrefix", "")})
    return out


class LoadBalancer(ResourceType):
    type_name = "AWS::ElasticLoadBalancing::LoadBalancer"
    updatable = frozenset({"HealthCheck", "Instances", "CrossZone", "ConnectionDrainingPolicy",
                           "ConnectionSettings", "AccessLoggingPolicy"})
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("LoadBalancerName") or act.physical_name(32)
        params: dict[str, Any] = {
            "LoadBalancerName": name,
            "Listeners": [_listener(item) for item in props.get("Listeners") or []]}
        tags = list(props.get("Tags") or []) + act.user_tags()
        if tags:
            params["Tags"] = tags
        for key in ("AvailabilityZones", "Subnets", "SecurityGroups", "Scheme"):
            if props.get(key):
                params[key] = props[key]
        try:
            await elb.create_load_balancer(act.cloud, act.caller, params)
        except AwsError as error:
            if not resumed_exists(act, error, "DuplicateLoadBalancerName"):
                raise
        if props.get("HealthCheck"):
            await elb.configure_health_check(act.cloud, act.caller, name,
                                             _health_check(props["HealthCheck"]))
        if _attributes(props) != _attributes({}):
            await elb.modify_attributes(act.cloud, act.caller, name, _attributes(props))
        await elb.register_as(act.cloud, act.caller, name, list(props.get("Instances") or []))
        return Outcome(name, await self._attributes(act, name))

    @staticmethod
    async def _attributes(act: Act, name: str) -> dict[str, Any]:
        found = await elb.load_balancer(act.cloud, act.caller, name) or {}
        source = found.get("SourceSecurityGroup") or {}
        return {"DNSName": found.get("DNSName", ""),
                "CanonicalHostedZoneName": found.get("CanonicalHostedZoneName", ""),
                "CanonicalHostedZoneNameID": found.get("CanonicalHostedZoneNameID", ""),
                "SourceSecurityGroup.GroupName": source.get("GroupName", ""),
                "SourceSecurityGroup.OwnerAlias": source.get("OwnerAlias", "")}

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        if new.get("HealthCheck") and old.get("HealthCheck") != new.get("HealthCheck"):
            await elb.configure_health_check(act.cloud, act.caller, physical_id,
                                             _health_check(new["HealthCheck"]))
        if _attributes(old) != _attributes(new):
            await elb.modify_attributes(act.cloud, act.caller, physical_id, _attributes(new))
        before, after = set(old.get("Instances") or []), set(new.get("Instances") or [])
        await elb.deregister_as(act.cloud, act.caller, physical_id, sorted(before - after))
        await elb.register_as(act.cloud, act.caller, physical_id, sorted(after - before))
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await elb.delete_load_balancer(act.cloud, act.caller, physical_id)


TYPES: tuple[type[ResourceType], ...] = (LoadBalancer,)
