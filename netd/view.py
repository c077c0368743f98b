"""The versioned global network view that the cloud controller renders.

Owns: the typed, JSON-serialisable description of what the network must look
like (EDGE configuration, hosts, instances, security groups, the metadata
server endpoint) and the checks that make a view internally consistent.
Every host applies the same view and reports back the version it applied.

Pure data: nothing here touches the kernel. Never imports `cloudctl`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from netd.config import EdgeConfig, NetworkConfigError, parse_edge_config

IPv4 = ipaddress.IPv4Address
Net4 = ipaddress.IPv4Network

PROTO_ALL = -1
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")
_IFNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,15}\Z")
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")


class ViewError(ValueError):
    """The view is inconsistent; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid network view: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Rule:
    """One security group rule (ingress: sources; egress: destinations).

    `protocol` is an IP protocol number or -1 for all. Ports apply to TCP and
    UDP (None: all ports). `icmp_type`/`icmp_code` apply to ICMP (None: any).
    The rule matches peers in any of `cidrs` or any member of `groups`.
    """

    protocol: int = PROTO_ALL
    from_port: int | None = None
    to_port: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    cidrs: tuple[Net4, ...] = ()
    groups: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol, "from_port": self.from_port, "to_port": self.to_port,
            "icmp_type": self.icmp_type, "icmp_code": self.icmp_code,
            "cidrs": [str(c) for c in self.cidrs], "groups": list(self.groups),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Rule:
        proto = d.get("protocol", PROTO_ALL)
        if isinstance(proto, str):
            proto = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "icmp": PROTO_ICMP, "-1": PROTO_ALL,
                     "all": PROTO_ALL}.get(proto.lower(), proto)
        return cls(
            protocol=int(proto),
            from_port=_opt_int(d.get("from_port")), to_port=_opt_int(d.get("to_port")),
            icmp_type=_opt_int(d.get("icmp_type")), icmp_code=_opt_int(d.get("icmp_code")),
            cidrs=tuple(Net4(c, strict=False) for c in d.get("cidrs", [])),
            groups=tuple(str(g) for g in d.get("groups", [])),
        )


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    owner: str = ""
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "owner": self.owner,
            "ingress": [r.to_json() for r in self.ingress],
            "egress": [r.to_json() for r in self.egress],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SecurityGroup:
        return cls(
            id=str(d["id"]), owner=str(d.get("owner", "")),
            ingress=tuple(Rule.from_json(r) for r in d.get("ingress", [])),
            egress=tuple(Rule.from_json(r) for r in d.get("egress", [])),
        )


@dataclass(frozen=True)
class Instance:
    """An instance NIC: where it runs, its addresses and its groups.

    `interface` is the name of the tap (or veth) on the host's instance bridge.
    """

    id: str
    host: str
    mac: str
    private_ip: IPv4
    interface: str
    public_ip: IPv4 | None = None
    security_groups: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "host": self.host, "mac": self.mac,
            "private_ip": str(self.private_ip),
            "public_ip": None if self.public_ip is None else str(self.public_ip),
            "security_groups": list(self.security_groups), "interface": self.interface,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Instance:
        pub = d.get("public_ip")
        return cls(
            id=str(d["id"]), host=str(d["host"]), mac=str(d["mac"]).lower(),
            private_ip=IPv4(d["private_ip"]), interface=str(d["interface"]),
            public_ip=None if pub in (None, "") else IPv4(pub),
            security_groups=tuple(str(g) for g in d.get("security_groups", [])),
        )


@dataclass(frozen=True)
class Host:
    """A host running netd: its name and its address on the physical network."""

    name: str
    underlay_ip: IPv4 | None = None
    cluster: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "underlay_ip": None if self.underlay_ip is None else str(self.underlay_ip),
            "cluster": self.cluster,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Host:
        ul = d.get("underlay_ip")
        cl = d.get("cluster")
        return cls(name=str(d["name"]), underlay_ip=None if ul in (None, "") else IPv4(ul),
                   cluster=None if cl in (None, "") else str(cl))


@dataclass(frozen=True)
class Metadata:
    """Where the controller's metadata server listens.

    `upstream` is `unix:/path/to.sock` (crosses network namespaces) or
    `tcp:host:port` (reached from inside the host's namespace).
    """

    upstream: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"upstream": self.upstream}


@dataclass(frozen=True)
class NetworkView:
    version: int
    network: EdgeConfig
    hosts: tuple[Host, ...] = ()
    instances: tuple[Instance, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    metadata: Metadata = field(default_factory=Metadata)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "network": self.network.to_json(),
            "hosts": [h.to_json() for h in self.hosts],
            "instances": [i.to_json() for i in self.instances],
            "security_groups": [g.to_json() for g in self.security_groups],
            "metadata": self.metadata.to_json(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        return Host(name=name)

    def instances_on(self, host: str) -> list[Instance]:
        return [i for i in self.instances if i.host == host]

    def group_map(self) -> dict[str, SecurityGroup]:
        return {g.id: g for g in self.security_groups}


def parse_view(doc: Any) -> NetworkView:
    """Build a `NetworkView` from JSON data and check it; raise `ViewError`."""
    if isinstance(doc, (str, bytes)):
        doc = json.loads(doc)
    if not isinstance(doc, dict):
        raise ViewError(["$: expected a JSON object"])
    try:
        network = parse_edge_config(doc.get("network", {}))
    except NetworkConfigError as exc:
        raise ViewError([f"network.{p}" for p in exc.problems]) from exc
    problems: list[str] = []
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        problems.append(f"version: expected a non-negative integer, got {version!r}")
        version = 0

    def each(key: str, ctor: Any) -> list[Any]:
        out = []
        items = doc.get(key, [])
        if not isinstance(items, list):
            problems.append(f"{key}: expected a list")
            return []
        for i, item in enumerate(items):
            try:
                out.append(ctor(item))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"{key}[{i}]: {type(exc).__name__}: {exc}")
        return out

    hosts = each("hosts", Host.from_json)
    instances = each("instances", Instance.from_json)
    groups = each("security_groups", SecurityGroup.from_json)
    md = doc.get("metadata") or {}
    view = NetworkView(
        version=version, network=network, hosts=tuple(hosts), instances=tuple(instances),
        security_groups=tuple(groups),
        metadata=Metadata(upstream=str(md.get("upstream", "")) if isinstance(md, dict) else ""),
    )
    problems.extend(check_view(view))
    if problems:
        raise ViewError(problems)
    return view


def check_view(view: NetworkView) -> list[str]:
    """Every internal inconsistency of `view` (empty when it is sound)."""
    problems: list[str] = []
    net = view.network
    subnets = [s.network for s in net.subnets]
    gateways = {s.gateway for s in net.subnets}
    prefixes = net.mac_prefixes()
    groups = view.group_map()
    if len(groups) != len(view.security_groups):
        problems.append("security_groups: duplicate group id")
    hostnames = [h.name for h in view.hosts]
    if len(set(hostnames)) != len(hostnames):
        problems.append("hosts: duplicate host name")
    cluster_names = {c.name for c in net.clusters}
    for h in view.hosts:
        if h.cluster is not None and h.cluster not in cluster_names:
            problems.append(f"hosts[{h.name}]: unknown cluster {h.cluster!r}")
    seen: dict[str, set[Any]] = {"id": set(), "mac": set(), "ip": set(), "pub": set(), "if": set()}

    def once(kind: str, key: Any, what: str) -> None:
        if key in seen[kind]:
            problems.append(f"{what}: used by more than one instance")
        seen[kind].add(key)

    for inst in view.instances:
        where = f"instances[{inst.id}]"
        if not _ID.match(inst.id):
            problems.append(f"{where}: bad id")
        once("id", inst.id, f"{where}: id")
        if not _MAC.match(inst.mac):
            problems.append(f"{where}: {inst.mac!r} is not a MAC address")
        elif not any(inst.mac.startswith(p) for p in prefixes):
            problems.append(f"{where}: MAC {inst.mac} does not start with MacPrefix {sorted(prefixes)}")
        once("mac", inst.mac, f"{where}: MAC {inst.mac}")
        if not any(inst.private_ip in s for s in subnets) or inst.private_ip in gateways:
            problems.append(f"{where}: private IP {inst.private_ip} is not a usable subnet address")
        once("ip", inst.private_ip, f"{where}: private IP {inst.private_ip}")
        if inst.public_ip is not None:
            if not net.is_public(inst.public_ip):
                problems.append(f"{where}: public IP {inst.public_ip} is not in PublicIps")
            once("pub", inst.public_ip, f"{where}: public IP {inst.public_ip}")
        if not _IFNAME.match(inst.interface):
            problems.append(f"{where}: interface {inst.interface!r} is not a Linux interface name")
        once("if", (inst.host, inst.interface), f"{where}: interface {inst.interface}")
        for gid in inst.security_groups:
            if gid not in groups:
                problems.append(f"{where}: unknown security group {gid!r}")
    for sg in view.security_groups:
        for kind, rules in (("ingress", sg.ingress), ("egress", sg.egress)):
            for n, r in enumerate(rules):
                problems.extend(_check_rule(f"security_groups[{sg.id}].{kind}[{n}]", r, groups))
    return problems


def _check_rule(where: str, r: Rule, groups: dict[str, SecurityGroup]) -> list[str]:
    out: list[str] = []
    if not (r.protocol == PROTO_ALL or 0 <= r.protocol <= 255):
        out.append(f"{where}: protocol {r.protocol} is not -1 or 0..255")
    for p in (r.from_port, r.to_port):
        if p is not None and not 0 <= p <= 65535:
            out.append(f"{where}: port {p} out of range")
    if r.from_port is not None and r.to_port is not None and r.from_port > r.to_port:
        out.append(f"{where}: from_port {r.from_port} > to_port {r.to_port}")
    for v in (r.icmp_type, r.icmp_code):
        if v is not None and not 0 <= v <= 255:
            out.append(f"{where}: ICMP type/code {v} out of range")
    if r.icmp_code is not None and r.icmp_type is None:
        out.append(f"{where}: an ICMP code needs an ICMP type")
    if not r.cidrs and not r.groups:
        out.append(f"{where}: a rule needs at least one CIDR or group")
    for gid in r.groups:
        if gid not in groups:
            out.append(f"{where}: unknown group {gid!r}")
    return out


def _opt_int(v: Any) -> int | None:
    if v is None or v == -1:
        return None
    return int(v)
