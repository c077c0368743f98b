"""What one host must look like for a given VPC topology (pure: no kernel, no ZooKeeper).

Owns: translating a `Topology` snapshot plus the hosts' underlay addresses into
a `HostPlan`: one router namespace per VPC present on this host (a VPC is
present when one of its ENIs or NAT gateways runs here, when this host is the
gateway host of its attached IGW, or when it is actively peered with a present
VPC), with its subnet bridges (gateway .1), ENI ports, VXLAN port (one VNI per
VPC), outside leg (IGW), peering legs, routes, policy rules, static
neighbours and forwarding entries, and its nftables ruleset text; one
namespace per local NAT gateway. Every object gets a stable name derived
from ids, so a restarted agent recognises what it made (mark and sweep).

Routing model: L3 everywhere. Each subnet bridge carries .1 on every host
where the VPC is present; addresses of remote ENIs are /32 routes on the VXLAN
port with a permanent neighbour (the remote router's MAC) and a forwarding
entry (that MAC -> the remote host's underlay address). Policy routing: rule
100 looks up `main` (the VPC's local routes), then one rule per subnet
(`from <cidr>`) looks up the table of its route table; every host has every
table, so a packet forwarded across VXLAN is routed on by the same table.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from netd.vpc import topology as t
from netd.vpc.names import (
    bridge_name,
    eni_port,
    guest_bridge_name,
    nat_port,
    pcx_port,
    router_mac,
    stable_mac,
    tap_name,
)
from netd.vpc.nftrules import render_nat, render_router

__all__ = ["bridge_name", "eni_port", "guest_bridge_name", "nat_port", "pcx_port", "router_mac",
           "stable_mac",
           "tap_name"]

IGW_HOP = "169.254.255.1"
PCX_HOP = "169.254.254.2"
METADATA_IP = "169.254.169.254"
RULE_MAIN = 100
RULE_SUBNET_BASE = 1000
TABLE_BASE = 1000
ROUTE_PROTO = 99


@dataclass(frozen=True)
class HostConfig:
    """How this host is wired: its name, underlay, optional outside network."""

    host: str
    underlay_ip: str
    underlay_dev: str
    host_ns: str
    prefix: str = "vpc-"
    outside_bridge: str | None = None
    outside_gateway: str | None = None
    region: str = "cloud-1"
    dhcp: bool = True
    vxlan_port: int = 4789
    metadata_upstream: str | None = None  # "unix:/path" or "tcp:host:port"
    guest_bridges: bool = False  # per-ENI host bridge for hypervisor taps
    python: str = "python3"

    def router_ns(self, vpc_id: str) -> str:
        return f"{self.prefix}r-{vpc_id}"

    def nat_ns(self, nat_id: str) -> str:
        return f"{self.prefix}n-{nat_id}"


@dataclass(frozen=True)
class Port:
    """A veth: `inner` in the router namespace on `bridge`, `outer` in the host.

    With `guest_bridge`, `outer` is a port of that host bridge, where the hypervisor
    attaches the guest's tap (libvirt `<interface type='bridge'>`); `outer` then has
    a MAC of its own (`outer_mac`) and the guest uses the ENI's.
    """

    inner: str
    outer: str
    mac: str
    bridge: str
    guest_bridge: str | None = None
    outer_mac: str | None = None


@dataclass(frozen=True)
class Bridge:
    name: str
    address: str  # "10.0.1.1/24"
    mac: str


@dataclass(frozen=True, order=True)
class DhcpHost:
    mac: str
    ip: str
    name: str


@dataclass(frozen=True)
class Dhcp:
    bridge: str
    cidr: str
    gateway: str
    dns: tuple[str, ...]
    domain: str
    hosts: tuple[DhcpHost, ...]
    names: tuple[tuple[str, str], ...] = ()  # (ip, name) in DNS: every ENI of the VPC


@dataclass(frozen=True)
class RouterSpec:
    ns: str
    vpc_id: str
    vni: int
    mac: str
    bridges: tuple[Bridge, ...]
    ports: tuple[Port, ...]
    routes: tuple[str, ...]   # `ip route` arguments, each with table/proto
    rules: tuple[str, ...]    # `ip rule` arguments, each with pref
    neighbours: tuple[tuple[str, str, str], ...]  # (ip, mac, dev)
    fdb: tuple[tuple[str, str], ...]              # (mac, underlay ip) on vx
    outside: tuple[str, ...] | None               # /32 addresses on `out`; None: no leg
    nft: str
    dhcp: tuple[Dhcp, ...] = ()
    keep: tuple[str, ...] = ()  # links made by others (NAT, peering legs) kept in a sweep
    # (ip, vpc, eni, instance) of local ENIs, when the metadata proxy runs (169.254.169.254).
    metadata: tuple[tuple[str, str, str, str], ...] | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class NatSpec:
    ns: str
    router_ns: str
    inner: str      # router side port
    bridge: str
    mac: str
    address: str    # "10.0.0.9/24"
    gateway: str
    nft: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PeerLink:
    """A veth between two router namespaces of a peering on this host."""

    ns_a: str
    name_a: str
    mac_a: str
    ns_b: str
    name_b: str
    mac_b: str


@dataclass
class HostPlan:
    routers: dict[str, RouterSpec] = field(default_factory=dict)
    nats: dict[str, NatSpec] = field(default_factory=dict)
    peer_links: list[PeerLink] = field(default_factory=list)
    version: int = 0

    def namespaces(self) -> set[str]:
        return set(self.routers) | set(self.nats)


def _gateway(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr, strict=False).network_address + 1)


def present_vpcs(topo: t.Topology, host: str) -> set[str]:
    base: set[str] = set()
    for eni in topo.enis.values():
        if eni.host == host and eni.vpc_id in topo.vpcs and eni.subnet_id in topo.subnets:
            base.add(eni.vpc_id)
    for nat in topo.of(t.NatGateway).values():
        if nat.host == host and nat.vpc_id in topo.vpcs and nat.subnet_id in topo.subnets:
            base.add(nat.vpc_id)
    for igw in topo.of(t.InternetGateway).values():
        if igw.host == host and igw.vpc_id in topo.vpcs:
            base.add(igw.vpc_id)
    out = set(base)
    for pcx in topo.of(t.Peering).values():
        a, b = pcx.requester_vpc_id, pcx.accepter_vpc_id
        if pcx.active and a in topo.vpcs and b in topo.vpcs and a != b:
            if a in base:
                out.add(b)
            if b in base:
                out.add(a)
    return out


def _endpoints(topo: t.Topology, vpc_id: str) -> list[tuple[str, str, str, str]]:
    """(ip, host, subnet_id, what) of every placed ENI address and NAT gateway in a VPC."""
    out: list[tuple[str, str, str, str]] = []
    for eni in sorted(topo.enis.values(), key=lambda e: e.id):
        if eni.vpc_id == vpc_id and eni.host and eni.subnet_id in topo.subnets:
            out += [(ip, eni.host, eni.subnet_id, eni.id) for ip in eni.private_ips]
    for nat in sorted(topo.of(t.NatGateway).values(), key=lambda n: n.id):
        if nat.vpc_id == vpc_id and nat.host and nat.subnet_id in topo.subnets:
            out.append((nat.private_ip, nat.host, nat.subnet_id, nat.id))
    return out


def attached_igw(topo: t.Topology, vpc_id: str) -> t.InternetGateway | None:
    for igw in sorted(topo.of(t.InternetGateway).values(), key=lambda g: g.id):
        if igw.vpc_id == vpc_id and igw.host:
            return igw
    return None


def public_mappings(topo: t.Topology, vpc_id: str) -> dict[str, str]:
    """public IP -> private IP served by the VPC's attached IGW (ENIs and NAT EIPs)."""
    igw = attached_igw(topo, vpc_id)
    if igw is None:
        return {}
    out = {m.public_ip: m.private_ip for m in igw.mappings}
    for nat in topo.of(t.NatGateway).values():
        if nat.vpc_id == vpc_id and nat.public_ip and nat.private_ip:
            out[nat.public_ip] = nat.private_ip
    return out


def plan_host(topo: t.Topology, cfg: HostConfig, underlays: dict[str, str]) -> HostPlan:
    """The whole desired state of host `cfg.host`."""
    plan = HostPlan(version=topo.version)
    present = present_vpcs(topo, cfg.host)
    for vpc_id in sorted(present):
        plan.routers[cfg.router_ns(vpc_id)] = _router(topo, cfg, topo.vpcs[vpc_id], underlays,
                                                      present)
    for nat in sorted(topo.of(t.NatGateway).values(), key=lambda n: n.id):
        subnet = topo.subnets.get(nat.subnet_id)
        if nat.host != cfg.host or subnet is None or nat.vpc_id not in present:
            continue
        prefix = ipaddress.ip_network(subnet.cidr, strict=False).prefixlen
        plan.nats[cfg.nat_ns(nat.id)] = NatSpec(
            ns=cfg.nat_ns(nat.id), router_ns=cfg.router_ns(nat.vpc_id),
            inner=nat_port(nat.id), bridge=bridge_name(subnet.id),
            mac=nat.mac or stable_mac(f"nat/{nat.id}"),
            address=f"{nat.private_ip}/{prefix}", gateway=_gateway(subnet.cidr),
            nft=render_nat(nat.private_ip))
    for pcx in sorted(topo.of(t.Peering).values(), key=lambda p: p.id):
        a, b = pcx.requester_vpc_id, pcx.accepter_vpc_id
        if pcx.active and a in present and b in present and a != b:
            plan.peer_links.append(PeerLink(
                cfg.router_ns(a), pcx_port(pcx.id), stable_mac(f"pcx/{pcx.id}/{a}"),
                cfg.router_ns(b), pcx_port(pcx.id), stable_mac(f"pcx/{pcx.id}/{b}")))
    return plan


def _router(topo: t.Topology, cfg: HostConfig, vpc: t.Vpc, underlays: dict[str, str],
            present: set[str]) -> RouterSpec:
    me = cfg.host
    subnets = sorted((s for s in topo.subnets.values() if s.vpc_id == vpc.id),
                     key=lambda s: s.id)
    bridges = tuple(
        Bridge(bridge_name(s.id),
               f"{_gateway(s.cidr)}/{ipaddress.ip_network(s.cidr, strict=False).prefixlen}",
               stable_mac(f"gw/{s.id}"))
        for s in subnets)
    sub_by_id = {s.id: s for s in subnets}
    ports = tuple(
        Port(eni_port(e.id), tap_name(e.id), e.mac or stable_mac(f"eni/{e.id}"),
             bridge_name(e.subnet_id),
             guest_bridge_name(e.id) if cfg.guest_bridges else None,
             stable_mac(f"tap/{e.id}") if cfg.guest_bridges else None)
        for e in sorted(topo.enis.values(), key=lambda e: e.id)
        if e.host == me and e.vpc_id == vpc.id and e.subnet_id in sub_by_id)
    routes: list[str] = []
    neigh: dict[tuple[str, str], str] = {}
    fdb: set[tuple[str, str]] = set()

    def remote(host: str) -> bool:
        if host == me or host not in underlays:
            return False
        fdb.add((router_mac(host, vpc.id), underlays[host]))
        return True

    where: dict[str, tuple[str, str]] = {}  # ip -> (host, subnet)
    for ip, host, subnet_id, _what in _endpoints(topo, vpc.id):
        where[ip] = (host, subnet_id)
        if remote(host):
            routes.append(f"{ip}/32 dev vx proto {ROUTE_PROTO}")
            neigh[(ip, "vx")] = router_mac(host, vpc.id)
    igw = attached_igw(topo, vpc.id)
    if igw is not None and remote(igw.host):
        neigh[(IGW_HOP, "vx")] = router_mac(igw.host, vpc.id)
    outside: tuple[str, ...] | None = None
    mappings = public_mappings(topo, vpc.id)
    if igw is not None and igw.host == me and cfg.outside_bridge:
        outside = tuple(sorted(mappings))
    peer_ok: dict[str, str] = {}
    for pcx in topo.of(t.Peering).values():
        a, b = pcx.requester_vpc_id, pcx.accepter_vpc_id
        if pcx.active and a in present and b in present and vpc.id in (a, b) and a != b:
            other = b if vpc.id == a else a
            peer_ok[pcx.id] = other
            neigh[(PCX_HOP, pcx_port(pcx.id))] = stable_mac(f"pcx/{pcx.id}/{other}")
    tables = {rt_id: TABLE_BASE + i for i, rt_id in enumerate(sorted(
        rt.id for rt in topo.of(t.RouteTable).values() if rt.vpc_id == vpc.id))}
    for rt_id, table in sorted(tables.items()):
        rt = topo.of(t.RouteTable)[rt_id]
        for r in rt.routes:
            via = _route_via(topo, cfg, vpc.id, r, igw, where, peer_ok, outside is not None)
            if via is not None:
                routes.append(f"{r.destination} {via} table {table} proto {ROUTE_PROTO}")
    rules = [f"pref {RULE_MAIN} lookup main"]
    for i, s in enumerate(subnets):
        if s.route_table_id in tables:
            rules.append(f"pref {RULE_SUBNET_BASE + i} from {s.cidr} "
                         f"lookup {tables[s.route_table_id]}")
    dhcp: list[Dhcp] = []
    if cfg.dhcp:
        dhcp = _dhcp(topo, cfg, vpc, subnets, me)
    nft = render_router(topo, vpc, subnets, me, outside is not None, mappings)
    metadata = None
    if cfg.metadata_upstream:
        metadata = tuple(sorted(
            (ip, vpc.id, e.id, e.instance_id or "")
            for e in topo.enis.values() if e.host == me and e.vpc_id == vpc.id
            and e.subnet_id in sub_by_id for ip in e.private_ips))
    keep = [pcx_port(p) for p in peer_ok]
    keep += [nat_port(n.id) for n in topo.of(t.NatGateway).values()
             if n.host == me and n.vpc_id == vpc.id and n.subnet_id in sub_by_id]
    return RouterSpec(
        ns=cfg.router_ns(vpc.id), vpc_id=vpc.id, vni=vpc.vni, mac=router_mac(me, vpc.id),
        bridges=bridges, ports=ports, routes=tuple(sorted(set(routes))), rules=tuple(rules),
        neighbours=tuple(sorted((ip, mac, dev) for (ip, dev), mac in neigh.items())),
        fdb=tuple(sorted(fdb)), outside=outside, nft=nft, dhcp=tuple(dhcp),
        keep=tuple(sorted(keep)), metadata=metadata)


def _route_via(topo: t.Topology, cfg: HostConfig, vpc_id: str, r: t.Route,
               igw: t.InternetGateway | None, where: dict[str, tuple[str, str]],
               peer_ok: dict[str, str], has_outside: bool) -> str | None:
    kind = r.target_kind
    if kind == t.TARGET_IGW:
        if igw is None or igw.id != r.target_id:
            return None
        if igw.host == cfg.host:
            if not has_outside or not cfg.outside_gateway:
                return None
            return f"via {cfg.outside_gateway} dev out onlink"
        return f"via {IGW_HOP} dev vx onlink"
    hop: str | None = None
    if kind == t.TARGET_NAT:
        nat = topo.get(t.NatGateway, r.target_id)
        hop = nat.private_ip if nat is not None and nat.vpc_id == vpc_id else None
    elif kind in (t.TARGET_ENI, t.TARGET_INSTANCE):
        eni = topo.get(t.Eni, r.target_id)
        if eni is None and r.target_id:
            eni = next((e for e in topo.enis.values()
                        if e.instance_id == r.target_id and e.device_index == 0), None)
        hop = eni.private_ips[0] if eni is not None and eni.private_ips else None
    elif kind == t.TARGET_PCX:
        if r.target_id in peer_ok:
            return f"via {PCX_HOP} dev {pcx_port(r.target_id)} onlink"
        return None
    if hop is None or hop not in where:
        return None
    host, subnet_id = where[hop]
    if host == cfg.host:
        return f"via {hop} dev {bridge_name(subnet_id)} onlink"
    return f"via {hop} dev vx onlink"


def _dhcp(topo: t.Topology, cfg: HostConfig, vpc: t.Vpc, subnets: list[t.Subnet],
          me: str) -> list[Dhcp]:
    opts = topo.get(t.DhcpOptions, vpc.dhcp_options_id)
    domain = (opts.domain_name if opts and opts.domain_name
              else f"{cfg.region}.compute.internal")
    names = opts.domain_name_servers if opts else ("AmazonProvidedDNS",)
    records: tuple[tuple[str, str], ...] = ()
    if vpc.enable_dns_hostnames:
        records = tuple(sorted(
            (ip, "ip-" + ip.replace(".", "-")) for e in topo.enis.values()
            if e.vpc_id == vpc.id for ip in e.private_ips))
    out: list[Dhcp] = []
    for s in subnets:
        # AmazonProvidedDNS is the subnet's dnsmasq on the gateway address.
        servers = [_gateway(s.cidr) if n == "AmazonProvidedDNS" else n for n in names]
        hosts = tuple(sorted(
            DhcpHost(e.mac or stable_mac(f"eni/{e.id}"), e.private_ips[0],
                     "ip-" + e.private_ips[0].replace(".", "-"))
            for e in topo.enis.values()
            if e.host == me and e.subnet_id == s.id and e.private_ips))
        if hosts:
            out.append(Dhcp(bridge_name(s.id), s.cidr, _gateway(s.cidr), tuple(servers),
                            domain, hosts, records))
    return out
