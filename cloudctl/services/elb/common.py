"""What every ELB operation shares: the AWS errors, name and listener validation
(AWS's protocol pairings), the default health check and attributes, the lookup of a
load balancer of the caller, its DNS name and its DescribeLoadBalancers shape."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.services.elb.models import ElbLoadBalancer

NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
PROTOCOLS = ("HTTP", "HTTPS", "TCP", "SSL")
SECURE = ("HTTPS", "SSL")
LAYER7 = ("HTTP", "HTTPS")
ALLOWED_LB_PORTS = (25, 80, 443, 465, 587)
DEFAULT_DNS_DOMAIN = "localhost"


# a load balancer's source security group outside a VPC: this and its id
SOURCE_GROUP_PREFIX = "default_elb_"


def _error(code: str, status: int = 400) -> type[AwsError]:
    return type(code, (AwsError,), {"code": code, "status": status})


LoadBalancerNotFound = _error("LoadBalancerNotFound")
DuplicateLoadBalancerName = _error("DuplicateLoadBalancerName")
DuplicateListener = _error("DuplicateListener")
ListenerNotFound = _error("ListenerNotFound")
CertificateNotFound = _error("CertificateNotFound")
InvalidConfigurationRequest = _error("InvalidConfigurationRequest", 409)
InvalidInstance = _error("InvalidInstance")
InvalidScheme = _error("InvalidScheme")
InvalidSecurityGroup = _error("InvalidSecurityGroup")
SubnetNotFound = _error("SubnetNotFound")
PolicyNotFound = _error("PolicyNotFound")
PolicyTypeNotFound = _error("PolicyTypeNotFound")
DuplicatePolicyName = _error("DuplicatePolicyName")
DuplicateTagKeys = _error("DuplicateTagKeys")
TooManyTags = _error("TooManyTags")
TooManyPolicies = _error("TooManyPolicies")
TooManyLoadBalancers = _error("TooManyLoadBalancers")
UnsupportedProtocol = _error("UnsupportedProtocol")
LoadBalancerAttributeNotFound = _error("LoadBalancerAttributeNotFound")
ValidationError = _error("ValidationError")


def default_health_check(listeners: list[dict[str, Any]]) -> dict[str, Any]:
    """AWS's default: TCP on the first listener's instance port, 30 s, 5 s, 10/2."""
    port = int(listeners[0]["InstancePort"]) if listeners else 80
    return {"Target": f"TCP:{port}", "Interval": 30, "Timeout": 5,
            "UnhealthyThreshold": 2, "HealthyThreshold": 10}


def default_attributes() -> dict[str, Any]:
    return {"CrossZoneLoadBalancing": {"Enabled": False},
            "AccessLog": {"Enabled": False},
            "ConnectionDraining": {"Enabled": False, "Timeout": 300},
            "ConnectionSettings": {"IdleTimeout": 60},
            "AdditionalAttributes": []}


def check_name(name: Any) -> str:
    text = str(name or "")
    if not NAME_RE.match(text):
        raise ValidationError(
            f"LoadBalancerName '{text}' isn't valid: it must have at most 32 characters, "
            "be alphanumeric or hyphens, and not begin or end with a hyphen")
    return text


def check_listener(raw: dict[str, Any]) -> dict[str, Any]:
    """One listener as AWS accepts it (protocols upper-cased, pairings checked)."""
    proto = str(raw.get("Protocol") or "").upper()
    if proto not in PROTOCOLS:
        raise ValidationError(f"Invalid LoadBalancer protocol: {raw.get('Protocol')}")
    inst_proto = str(raw.get("InstanceProtocol") or "").upper()
    if not inst_proto:
        inst_proto = {"HTTPS": "HTTP", "SSL": "TCP"}.get(proto, proto)
    if inst_proto not in PROTOCOLS:
        raise ValidationError(f"Invalid Instance protocol: {raw.get('InstanceProtocol')}")
    if (proto in LAYER7) != (inst_proto in LAYER7):
        raise ValidationError(
            f"Listener protocol {proto} and instance protocol {inst_proto} are not "
            "compatible: both must be layer 7 (HTTP, HTTPS) or layer 4 (TCP, SSL)")
    lb_port = int(raw.get("LoadBalancerPort") or 0)
    inst_port = int(raw.get("InstancePort") or 0)
    if not (1 <= lb_port <= 65535) or not (1 <= inst_port <= 65535):
        raise ValidationError("LoadBalancerPort and InstancePort must be between 1 and 65535")
    if lb_port not in ALLOWED_LB_PORTS and not 1024 <= lb_port <= 65535:
        raise ValidationError(
            f"LoadBalancerPort {lb_port} is not allowed: use 25, 80, 443, 465, 587 or "
            "1024-65535")
    cert = raw.get("SSLCertificateId")
    if proto in SECURE and not cert:
        raise ValidationError("SSLCertificateId is required for an HTTPS or SSL listener")
    out: dict[str, Any] = {"Protocol": proto, "LoadBalancerPort": lb_port,
                           "InstanceProtocol": inst_proto, "InstancePort": inst_port}
    if proto in SECURE:
        out["SSLCertificateId"] = str(cert)
    return out


def check_backend_protocols(listeners: list[dict[str, Any]]) -> None:
    """AWS refuses two listeners reaching one instance port with unlike security."""
    seen: dict[int, str] = {}
    for lst in listeners:
        secure = "secure" if lst["InstanceProtocol"] in SECURE else "plain"
        port = int(lst["InstancePort"])
        if seen.setdefault(port, secure) != secure:
            raise InvalidConfigurationRequest(
                f"Instance port {port} is used by listeners with both secure and "
                "non-secure instance protocols")


def dns_domain(cloud: Cloud) -> str:
    try:
        value = str(cloud.properties.get("system.dns.dnsdomain") or "")
    except KeyError:
        value = ""
    return value or DEFAULT_DNS_DOMAIN


def dns_name(cloud: Cloud, lb: ElbLoadBalancer) -> str:
    prefix = "internal-" if lb.scheme == "internal" else ""
    return f"{prefix}{lb.name}-{lb.lb_id}.{lb.region}.elb.{dns_domain(cloud)}".lower()


def lb_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/{name}"


async def find(session: AsyncSession, account: str, region: str,
               name: str) -> ElbLoadBalancer | None:
    from cloudctl.services.elb.models import ElbLoadBalancer

    row = await session.execute(select(ElbLoadBalancer).where(
        ElbLoadBalancer.account_id == account, ElbLoadBalancer.region == region,
        ElbLoadBalancer.name == name))
    return row.scalar_one_or_none()


async def get(session: AsyncSession, account: str, region: str, name: Any) -> ElbLoadBalancer:
    text = str(name or "")
    if not text:
        raise ValidationError("LoadBalancerName is required")
    lb = await find(session, account, region, text)
    if lb is None:
        raise LoadBalancerNotFound(f"There is no ACTIVE Load Balancer named '{text}'")
    return lb


def touch(lb: ElbLoadBalancer) -> None:
    """Mark ``lb`` changed for the data plane (a new generation to render)."""
    from cloudctl.db.base import utcnow

    lb.generation = int(lb.generation or 0) + 1
    lb.updated_at = utcnow()


def describe(cloud: Cloud, lb: ElbLoadBalancer, vpc_id: str | None = None,
             first_group: str | None = None) -> dict[str, Any]:
    """``lb`` as a LoadBalancerDescription (``vpc_id``: its VPC, when in subnets;
    ``first_group``: the name of its first security group, its source group there)."""
    name = dns_name(cloud, lb)
    by_port: dict[int, list[str]] = {}
    for port, names in (lb.backend_policies or {}).items():
        by_port[int(port)] = list(names)
    policies = list(lb.policies or [])
    lb_cookie = [p["PolicyName"] for p in policies
                 if p["PolicyTypeName"] == "LBCookieStickinessPolicyType"]
    app_cookie = [p["PolicyName"] for p in policies
                  if p["PolicyTypeName"] == "AppCookieStickinessPolicyType"]
    other = [p["PolicyName"] for p in policies if p["PolicyName"] not in lb_cookie + app_cookie]
    out: dict[str, Any] = {
        "LoadBalancerName": lb.name,
        "DNSName": name,
        "CanonicalHostedZoneNameID": "Z" + lb.lb_id,
        "ListenerDescriptions": [
            {"Listener": {k: v for k, v in lst.items() if k != "PolicyNames"},
             "PolicyNames": list(lst.get("PolicyNames") or [])}
            for lst in lb.listeners],
        "Policies": {
            "AppCookieStickinessPolicies": [
                {"PolicyName": p["PolicyName"], "CookieName": _attr(p, "CookieName")}
                for p in policies if p["PolicyName"] in app_cookie],
            "LBCookieStickinessPolicies": [
                {"PolicyName": p["PolicyName"],
                 **({"CookieExpirationPeriod": int(_attr(p, "CookieExpirationPeriod"))}
                    if _attr(p, "CookieExpirationPeriod") else {})}
                for p in policies if p["PolicyName"] in lb_cookie],
            "OtherPolicies": other},
        "BackendServerDescriptions": [{"InstancePort": port, "PolicyNames": names}
                                      for port, names in sorted(by_port.items()) if names],
        "AvailabilityZones": list(lb.zones),
        "Subnets": list(lb.subnets),
        "Instances": [{"InstanceId": i} for i in lb.instances],
        "HealthCheck": dict(lb.health_check),
        "SourceSecurityGroup": {"OwnerAlias": lb.account_id,
                                "GroupName": SOURCE_GROUP_PREFIX + lb.lb_id},
        "SecurityGroups": list(lb.security_groups),
        "CreatedTime": lb.created_at,
        "Scheme": lb.scheme,
    }
    if lb.scheme != "internal":
        out["CanonicalHostedZoneName"] = name
    if vpc_id:
        out["VPCId"] = vpc_id
        if first_group:  # AWS: in a VPC, the source group is the first of its groups
            out["SourceSecurityGroup"] = {"OwnerAlias": lb.account_id,
                                          "GroupName": first_group}
    return out


def _attr(policy: dict[str, Any], name: str) -> str:
    for attr in policy.get("PolicyAttributeDescriptions") or []:
        if attr.get("AttributeName") == name:
            return str(attr.get("AttributeValue") or "")
    return ""
