"""Validation of the EDGE network configuration JSON.

Owns: turning the value of the `cloud.network.network_configuration` property
(the Eucalyptus EDGE shape: `Mode`, `PublicIps`, `PrivateIps`, `Subnets`,
`Clusters`, `InstanceDnsServers`, `InstanceDnsDomain`, `MacPrefix`,
`PublicGateway`) into a typed, checked `EdgeConfig`, and back.

Every problem found is reported at once, each with the JSON path it concerns,
in one `NetworkConfigError`. This module is pure: it touches no kernel state.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

IPv4 = ipaddress.IPv4Address
Net4 = ipaddress.IPv4Network

_MAC_PREFIX = re.compile(r"^[0-9a-f]{2}:[0-9a-f]{2}\Z")
_KNOWN_KEYS = {
    "Mode", "InstanceDnsDomain", "InstanceDnsServers", "MacPrefix", "PublicIps",
    "PrivateIps", "PublicGateway", "Subnets", "Clusters", "Mido",
}


class NetworkConfigError(ValueError):
    """The network configuration is invalid; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid network configuration: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Subnet:
    """One private subnet: where instances live, with its gateway."""

    name: str
    network: Net4
    gateway: IPv4

    def to_json(self) -> dict[str, str]:
        return {
            "Name": self.name,
            "Subnet": str(self.network.network_address),
            "Netmask": str(self.network.netmask),
            "Gateway": str(self.gateway),
        }


@dataclass(frozen=True)
class Cluster:
    """A cluster (availability zone) with its subnet, MAC prefix and private IPs."""

    name: str
    subnet: Subnet
    mac_prefix: str
    private_ips: tuple[IPv4, ...]
    raw_private_ips: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "MacPrefix": self.mac_prefix,
            "Subnet": self.subnet.to_json(),
            "PrivateIps": list(self.raw_private_ips),
        }


@dataclass(frozen=True)
class EdgeConfig:
    """A validated EDGE network configuration."""

    public_ips: tuple[IPv4, ...]
    subnets: tuple[Subnet, ...]
    clusters: tuple[Cluster, ...] = ()
    mac_prefix: str = "d0:0d"
    instance_dns_servers: tuple[IPv4, ...] = ()
    instance_dns_domain: str = ""
    public_gateway: IPv4 | None = None
    private_ips: tuple[IPv4, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def subnet_for_cluster(self, cluster: str | None) -> Subnet:
        """The subnet instances of `cluster` use (the only subnet if no clusters)."""
        if cluster is not None:
            for c in self.clusters:
                if c.name == cluster:
                    return c.subnet
            raise KeyError(f"no cluster named {cluster!r}")
        if len(self.clusters) == 1:
            return self.clusters[0].subnet
        if len(self.subnets) == 1:
            return self.subnets[0]
        raise KeyError("several subnets are configured: the host must name its cluster")

    def mac_prefixes(self) -> set[str]:
        return {self.mac_prefix} | {c.mac_prefix for c in self.clusters}

    def is_public(self, ip: IPv4) -> bool:
        return ip in self._public_set

    @property
    def _public_set(self) -> frozenset[IPv4]:
        cached: frozenset[IPv4] | None = self.__dict__.get("_pubset")
        if cached is None:
            cached = frozenset(self.public_ips)
            object.__setattr__(self, "_pubset", cached)
        return cached

    def to_json(self) -> dict[str, Any]:
        """The property JSON (the original document when parsed from one)."""
        if self.raw:
            return dict(self.raw)
        doc: dict[str, Any] = {
            "Mode": "EDGE",
            "MacPrefix": self.mac_prefix,
            "PublicIps": [str(ip) for ip in self.public_ips],
            "InstanceDnsServers": [str(ip) for ip in self.instance_dns_servers],
            "Subnets": [s.to_json() for s in self.subnets],
            "Clusters": [c.to_json() for c in self.clusters],
        }
        if self.instance_dns_domain:
            doc["InstanceDnsDomain"] = self.instance_dns_domain
        if self.public_gateway is not None:
            doc["PublicGateway"] = str(self.public_gateway)
        if self.private_ips:
            doc["PrivateIps"] = [str(ip) for ip in self.private_ips]
        return doc


class _Checker:
    """Collects problems while walking the document."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def ip(self, path: str, value: Any) -> IPv4 | None:
        if not isinstance(value, str):
            self.fail(path, f"expected an IPv4 address string, got {type(value).__name__}")
            return None
        try:
            return IPv4(value.strip())
        except ValueError:
            self.fail(path, f"{value!r} is not an IPv4 address")
            return None

    def ip_list(self, path: str, value: Any, limit: int = 1 << 20) -> tuple[IPv4, ...]:
        """A list of addresses and `a-b` ranges, expanded."""
        if not isinstance(value, list):
            self.fail(path, "expected a list of addresses or 'a-b' ranges")
            return ()
        out: list[IPv4] = []
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if not isinstance(item, str):
                self.fail(p, "expected a string")
                continue
            if "-" in item:
                lo_s, _, hi_s = item.partition("-")
                lo, hi = self.ip(p, lo_s), self.ip(p, hi_s)
                if lo is None or hi is None:
                    continue
                if int(hi) < int(lo):
                    self.fail(p, f"range {item!r} ends before it starts")
                    continue
                if int(hi) - int(lo) + len(out) > limit:
                    self.fail(p, f"range {item!r} is larger than {limit} addresses")
                    continue
                out.extend(IPv4(n) for n in range(int(lo), int(hi) + 1))
            else:
                a = self.ip(p, item)
                if a is not None:
                    out.append(a)
        seen: set[IPv4] = set()
        for a in out:
            if a in seen:
                self.fail(path, f"{a} is listed more than once")
            seen.add(a)
        return tuple(out)

    def mac_prefix(self, path: str, value: Any) -> str | None:
        if not isinstance(value, str) or not _MAC_PREFIX.match(value.lower()):
            self.fail(path, f"{value!r} is not a MAC prefix of two hex octets like 'd0:0d'")
            return None
        prefix = value.lower()
        if int(prefix[:2], 16) & 1:
            self.fail(path, f"{value!r} is a multicast prefix (low bit of first octet set)")
            return None
        return prefix

    def subnet(self, path: str, value: Any) -> Subnet | None:
        if not isinstance(value, dict):
            self.fail(path, "expected an object with Name, Subnet, Netmask, Gateway")
            return None
        for key in ("Subnet", "Netmask", "Gateway"):
            if key not in value:
                self.fail(path, f"missing {key}")
        if any(key not in value for key in ("Subnet", "Netmask", "Gateway")):
            return None
        base = self.ip(f"{path}.Subnet", value["Subnet"])
        mask = self.ip(f"{path}.Netmask", value["Netmask"])
        gw = self.ip(f"{path}.Gateway", value["Gateway"])
        if base is None or mask is None or gw is None:
            return None
        try:
            net = Net4(f"{base}/{mask}")
        except ValueError as exc:
            self.fail(path, f"{base}/{mask} is not a network ({exc})")
            return None
        if net.prefixlen > 30:
            self.fail(f"{path}.Netmask", f"/{net.prefixlen} leaves no room for instances")
            return None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            self.fail(f"{path}.Gateway", f"{gw} is not a host address of {net}")
            return None
        name = value.get("Name", str(net))
        if not isinstance(name, str):
            self.fail(f"{path}.Name", "expected a string")
            name = str(net)
        return Subnet(name=name, network=net, gateway=gw)


def parse_edge_config(doc: Any) -> EdgeConfig:
    """Validate the EDGE network configuration JSON; raise `NetworkConfigError`."""
    ck = _Checker()
    if not isinstance(doc, dict):
        raise NetworkConfigError(["$: expected a JSON object"])
    for key in doc:
        if key not in _KNOWN_KEYS:
            ck.fail(key, "unknown field")
    mode = doc.get("Mode", "EDGE")
    if mode != "EDGE":
        ck.fail("Mode", f"{mode!r} is not supported by netd (only 'EDGE')")
    mac_prefix = ck.mac_prefix("MacPrefix", doc.get("MacPrefix", "d0:0d")) or "d0:0d"
    public_ips = ck.ip_list("PublicIps", doc.get("PublicIps", []))
    private_ips = ck.ip_list("PrivateIps", doc.get("PrivateIps", []))
    dns = ck.ip_list("InstanceDnsServers", doc.get("InstanceDnsServers", []))
    domain = doc.get("InstanceDnsDomain", "")
    if not isinstance(domain, str):
        ck.fail("InstanceDnsDomain", "expected a string")
        domain = ""
    public_gw = ck.ip("PublicGateway", doc["PublicGateway"]) if "PublicGateway" in doc else None

    subnets: list[Subnet] = []
    raw_subnets = doc.get("Subnets", [])
    if not isinstance(raw_subnets, list):
        ck.fail("Subnets", "expected a list")
        raw_subnets = []
    for i, item in enumerate(raw_subnets):
        s = ck.subnet(f"Subnets[{i}]", item)
        if s is not None:
            subnets.append(s)
    by_name = {s.name: s for s in subnets}

    clusters: list[Cluster] = []
    raw_clusters = doc.get("Clusters", [])
    if not isinstance(raw_clusters, list):
        ck.fail("Clusters", "expected a list")
        raw_clusters = []
    for i, item in enumerate(raw_clusters):
        c = _parse_cluster(ck, f"Clusters[{i}]", item, by_name, mac_prefix, subnets)
        if c is not None:
            clusters.append(c)

    if not subnets:
        ck.fail("Subnets", "at least one private subnet is required")
    for i, a in enumerate(subnets):
        for b in subnets[i + 1:]:
            if a.network.overlaps(b.network) and a.network != b.network:
                ck.fail("Subnets", f"{a.network} overlaps {b.network}")
    all_nets = [s.network for s in subnets]
    for ip in public_ips:
        if any(ip in n for n in all_nets):
            ck.fail("PublicIps", f"{ip} lies inside a private subnet")
    for ip in private_ips:
        if all_nets and not any(ip in n for n in all_nets):
            ck.fail("PrivateIps", f"{ip} lies outside every subnet")
    names = [c.name for c in clusters]
    for n in {n for n in names if names.count(n) > 1}:
        ck.fail("Clusters", f"cluster name {n!r} is used more than once")
    if ck.problems:
        raise NetworkConfigError(ck.problems)
    return EdgeConfig(
        public_ips=public_ips, subnets=tuple(subnets), clusters=tuple(clusters),
        mac_prefix=mac_prefix, instance_dns_servers=dns, instance_dns_domain=domain,
        public_gateway=public_gw, private_ips=private_ips, raw=dict(doc),
    )


def _parse_cluster(
    ck: _Checker, path: str, item: Any, by_name: dict[str, Subnet],
    mac_prefix: str, subnets: list[Subnet],
) -> Cluster | None:
    if not isinstance(item, dict):
        ck.fail(path, "expected an object with Name, Subnet, PrivateIps")
        return None
    name = item.get("Name")
    if not isinstance(name, str) or not name:
        ck.fail(f"{path}.Name", "expected a non-empty string")
        return None
    raw_subnet = item.get("Subnet")
    subnet: Subnet | None
    if isinstance(raw_subnet, str):
        subnet = by_name.get(raw_subnet)
        if subnet is None:
            ck.fail(f"{path}.Subnet", f"no subnet named {raw_subnet!r} in Subnets")
    elif raw_subnet is None and len(subnets) == 1:
        subnet = subnets[0]
    else:
        subnet = ck.subnet(f"{path}.Subnet", raw_subnet)
        if subnet is not None and subnet.name not in by_name:
            subnets.append(subnet)
            by_name[subnet.name] = subnet
    prefix = mac_prefix
    if "MacPrefix" in item:
        prefix = ck.mac_prefix(f"{path}.MacPrefix", item["MacPrefix"]) or mac_prefix
    raw_ips = item.get("PrivateIps", [])
    ips = ck.ip_list(f"{path}.PrivateIps", raw_ips)
    if subnet is None:
        return None
    for ip in ips:
        if ip not in subnet.network or ip in (
            subnet.gateway, subnet.network.network_address, subnet.network.broadcast_address
        ):
            ck.fail(f"{path}.PrivateIps", f"{ip} is not a usable address of {subnet.network}")
    return Cluster(
        name=name, subnet=subnet, mac_prefix=prefix, private_ips=ips,
        raw_private_ips=tuple(str(x) for x in raw_ips) if isinstance(raw_ips, list) else (),
    )
