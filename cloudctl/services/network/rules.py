"""Security group rules: parsing EC2 `IpPermissions`, shaping responses, view rules.

Pure functions over plain data: `parse_permissions` turns the request
(IpPermissions or the legacy flat CidrIp/IpProtocol/FromPort/ToPort/
SourceSecurityGroup* parameters) into `RuleSpec`s, one per peer (a CIDR or
a group), validated as EC2 does (InvalidParameterValue for a bad CIDR,
protocol or port range). Peer groups are named, not yet resolved: the
caller resolves them against the database.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from cloudctl.errors import AwsError

_NAMES = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
          "-1": "-1", "all": "-1"}
_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "-1": -1}


@dataclass(frozen=True)
class PeerGroup:
    """A referenced group as the request named it (id, or name + owner)."""

    group_id: str | None = None
    group_name: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One rule to add or remove: normalised protocol, ports, one peer."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str | None = None
    peer: PeerGroup | None = None
    description: str = ""


def invalid(message: str) -> AwsError:
    return AwsError(message, code="InvalidParameterValue")


def normalise_protocol(value: Any) -> str:
    text = str(value).strip().lower()
    if text in _NAMES:
        return _NAMES[text]
    try:
        number = int(text)
    except ValueError:
        raise invalid(f"Invalid value '{value}' for IP protocol. Unknown protocol.") from None
    if not 0 <= number <= 255:
        raise invalid(f"Invalid value '{value}' for IP protocol. Unknown protocol.")
    return str(number)


def protocol_number(protocol: str) -> int:
    if protocol in _NUMBERS:
        return _NUMBERS[protocol]
    return int(protocol)


def _ports(protocol: str, from_port: Any, to_port: Any) -> tuple[int | None, int | None]:
    if protocol in ("tcp", "udp"):
        if from_port is None or to_port is None:
            raise invalid("Invalid value for portRange. Must specify both from and to ports "
                          "with TCP/UDP.")
        lo, hi = int(from_port), int(to_port)
        if not (0 <= lo <= 65535 and 0 <= hi <= 65535):
            raise invalid(f"Invalid value for portRange. Ports {lo}-{hi} out of range 0-65535.")
        if lo > hi:
            raise invalid(f"Invalid value for portRange. From port {lo} is greater than "
                          f"to port {hi}.")
        return lo, hi
    if protocol == "icmp":
        icmp_type = -1 if from_port is None else int(from_port)
        code = -1 if to_port is None else int(to_port)
        if not -1 <= icmp_type <= 255 or not -1 <= code <= 255:
            raise invalid(f"Invalid value for ICMP type {icmp_type} / code {code}.")
        if icmp_type == -1 and code != -1:
            raise invalid("Invalid ICMP code: a code needs an ICMP type.")
        return icmp_type, code
    return None, None


def _cidr(value: Any) -> str:
    try:
        net = ipaddress.IPv4Network(str(value).strip(), strict=False)
    except ValueError:
        raise invalid(f"CIDR block {value} is malformed") from None
    if "/" not in str(value):
        raise invalid(f"CIDR block {value} is malformed")
    return str(net)


def parse_permissions(params: dict[str, Any], egress: bool) -> list[RuleSpec]:
    """Every rule a (Authorize|Revoke)SecurityGroup(Ingress|Egress) request names."""
    specs: list[RuleSpec] = []
    perms = list(params.get("IpPermissions") or [])
    flat_source = params.get("SourceSecurityGroupName") or params.get("SourceSecurityGroupOwnerId")
    if params.get("CidrIp") or params.get("IpProtocol") or flat_source:
        perm: dict[str, Any] = {
            "IpProtocol": params.get("IpProtocol") or "-1",
            "FromPort": params.get("FromPort"), "ToPort": params.get("ToPort"),
        }
        if params.get("CidrIp"):
            perm["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
        if flat_source:
            if not params.get("IpProtocol") and not params.get("CidrIp"):
                perm["IpProtocol"] = "-1"
            perm["UserIdGroupPairs"] = [{"GroupName": params.get("SourceSecurityGroupName"),
                                         "UserId": params.get("SourceSecurityGroupOwnerId")}]
        if not params.get("CidrIp") and not flat_source:
            raise AwsError("Either CidrIp or a source security group must be specified.",
                           code="MissingParameter")
        perms.append(perm)
    if not perms:
        raise AwsError("No permissions were specified (IpPermissions).",
                       code="MissingParameter")
    for perm in perms:
        if perm.get("IpProtocol") is None:
            raise AwsError("The request must contain the parameter ipProtocol",
                           code="MissingParameter")
        protocol = normalise_protocol(perm["IpProtocol"])
        lo, hi = _ports(protocol, perm.get("FromPort"), perm.get("ToPort"))
        if perm.get("Ipv6Ranges") or perm.get("PrefixListIds"):
            raise invalid("IPv6 ranges and prefix lists are not supported in EDGE networking.")
        ranges = list(perm.get("IpRanges") or [])
        pairs = list(perm.get("UserIdGroupPairs") or [])
        if not ranges and not pairs:
            raise AwsError("No CIDR range or security group was specified in IpPermissions.",
                           code="MissingParameter")
        for r in ranges:
            if not r.get("CidrIp"):
                raise AwsError("The request must contain the parameter CidrIp",
                               code="MissingParameter")
            specs.append(RuleSpec(protocol, lo, hi, cidr=_cidr(r["CidrIp"]),
                                  description=str(r.get("Description") or "")))
        for p in pairs:
            if not p.get("GroupId") and not p.get("GroupName"):
                raise AwsError("A source security group needs GroupId or GroupName.",
                               code="MissingParameter")
            specs.append(RuleSpec(protocol, lo, hi, peer=PeerGroup(
                group_id=p.get("GroupId") or None, group_name=p.get("GroupName") or None,
                user_id=p.get("UserId") or None), description=str(p.get("Description") or "")))
    _ = egress
    return specs


def describe_rule(protocol: str, from_port: int | None, to_port: int | None,
                  peer: str) -> str:
    ports = "" if from_port is None else f", from port: {from_port}, to port: {to_port}"
    return f'peer: {peer}, {protocol.upper()}{ports}, ALLOW'


def ports_out(protocol: str, from_port: int | None, to_port: int | None) -> dict[str, int]:
    """`FromPort`/`ToPort` as EC2 shows them (absent for all protocols)."""
    if protocol == "-1" or from_port is None:
        return {}
    return {"FromPort": from_port, "ToPort": to_port if to_port is not None else from_port}
