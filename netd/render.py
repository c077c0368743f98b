"""Render one host's share of the network view into an nftables JSON transaction.

Owns: the pure translation view -> libnftables JSON commands for the two
tables netd owns in a host's namespace:

- `bridge netd`: stateless per-port anti-spoofing (each instance port may only
  send its own MAC, and its own IP for IPv4 and ARP, or a DHCP request from
  0.0.0.0), and hygiene on the overlay port (no gateway ARP, no DHCP, nothing
  from a remote gateway address crosses between hosts).
- `inet netd`: stateful security groups on the forward hook (bridged traffic
  reaches it through br_netfilter), one chain per group and direction, verdict
  maps keyed by instance IP (instances sharing a set of groups share a chain),
  one set of member IPs per group used as a peer; host protection (input from
  the instance bridge); the metadata DNAT; elastic IP DNAT/SNAT through maps.

The transaction adds, deletes and re-creates both tables, so the kernel swaps
the whole ruleset atomically and nothing stale survives. Nothing here talks
to the kernel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from netd.view import (
    PROTO_ALL,
    PROTO_ICMP,
    PROTO_TCP,
    PROTO_UDP,
    Instance,
    IPv4,
    Net4,
    NetworkView,
    Rule,
    SecurityGroup,
)
from netd.vpc.names import HOST_PORT_PATTERNS

TABLE = "netd"
METADATA_IP = "169.254.169.254"
Json = dict[str, Any]


@dataclass(frozen=True)
class HostLayout:
    """Names and addresses of the objects netd keeps in one host namespace."""

    host: str
    bridge: str = "br-cloud"
    overlay: str | None = None
    gateway: IPv4 | None = None
    metadata_port: int = 8775


def render(view: NetworkView, layout: HostLayout) -> list[Json]:
    """The full transaction (list of libnftables JSON commands) for one host."""
    cmds: list[Json] = []
    for family in ("bridge", "inet"):
        table = {"table": {"family": family, "name": TABLE}}
        cmds.append({"add": table})
        cmds.append({"delete": table})
        cmds.append({"add": table})
    local = view.instances_on(layout.host)
    for obj in _bridge_objects(local, layout) + _inet_objects(view, local, layout):
        cmds.append({"add": obj})
    return cmds


def delete_all() -> list[Json]:
    """Commands removing both tables (idempotent: add first, then delete)."""
    cmds: list[Json] = []
    for family in ("bridge", "inet"):
        table = {"table": {"family": family, "name": TABLE}}
        cmds += [{"add": table}, {"delete": table}]
    return cmds


# -- expression helpers -----------------------------------------------------------------

def _payload(proto: str, fld: str) -> Json:
    return {"payload": {"protocol": proto, "field": fld}}


def _meta(key: str) -> Json:
    return {"meta": {"key": key}}


def _match(left: Any, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _prefix(net: Net4) -> Any:
    if net.prefixlen == 32:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


class _Builder:
    """Accumulates objects of one table."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.sets: list[Json] = []
        self.chains: list[Json] = []
        self.maps: list[Json] = []
        self.rules: list[Json] = []

    @property
    def objects(self) -> list[Json]:
        """Objects in an order the kernel accepts: a jump needs its target first."""
        table: Json = {"table": {"family": self.family, "name": TABLE}}
        return [table, *self.sets, *self.chains, *self.maps, *self.rules]

    def chain(self, name: str, hook: str | None = None, prio: int = 0,
              ctype: str = "filter", policy: str = "accept") -> None:
        c: Json = {"family": self.family, "table": TABLE, "name": name}
        if hook is not None:
            c.update(type=ctype, hook=hook, prio=prio, policy=policy)
        self.chains.append({"chain": c})

    def rule(self, chain: str, *expr: Json) -> None:
        self.rules.append({"rule": {
            "family": self.family, "table": TABLE, "chain": chain, "expr": list(expr),
        }})

    def set(self, name: str, stype: Any, elems: list[Any], flags: list[str] | None = None) -> None:
        s: Json = {"family": self.family, "table": TABLE, "name": name, "type": stype}
        if flags:
            s["flags"] = flags
        if elems:
            s["elem"] = elems
        self.sets.append({"set": s})

    def map(self, name: str, ktype: str, vtype: str, elems: list[Any]) -> None:
        m: Json = {"family": self.family, "table": TABLE, "name": name, "type": ktype,
                   "map": vtype}
        if elems:
            m["elem"] = elems
        self.maps.append({"map": m})


ACCEPT: Json = {"accept": None}
DROP: Json = {"drop": None}
RETURN: Json = {"return": None}


# -- bridge table: anti-spoofing ---------------------------------------------------------

def _bridge_objects(local: list[Instance], layout: HostLayout) -> list[Json]:
    b = _Builder("bridge")
    b.set("port_mac", ["ifname", "ether_addr"],
          [{"concat": [i.interface, i.mac]} for i in local])
    b.set("port_ip", ["ifname", "ipv4_addr"],
          [{"concat": [i.interface, str(i.private_ip)]} for i in local])
    b.chain("prerouting", hook="prerouting", prio=-200)
    b.chain("from_instance")
    iif = _meta("iifname")
    # frames of the VPC data plane (its veths and the guests' taps on guest bridges, the
    # routers' outside legs) are policed by the VPC routers, not by EDGE
    for pattern in HOST_PORT_PATTERNS:
        b.rule("prerouting", _match(iif, pattern), ACCEPT)
    if layout.overlay:
        b.chain("from_overlay")
        b.chain("forward", hook="forward", prio=-200)
        b.chain("output", hook="output", prio=-200)
        b.rule("prerouting", _match(iif, layout.overlay), {"goto": {"target": "from_overlay"}})
        oif = _match(_meta("oifname"), layout.overlay)
        b.rule("forward", oif, _match(_payload("udp", "dport"), {"set": [67, 68]}), DROP)
        b.rule("output", oif, _match(_payload("udp", "dport"), {"set": [67, 68]}), DROP)
        if layout.gateway is not None:
            gw = str(layout.gateway)
            b.rule("from_overlay", _match(_payload("arp", "saddr ip"), gw), DROP)
            b.rule("from_overlay", _match(_payload("arp", "daddr ip"), gw), DROP)
            b.rule("from_overlay", _match(_payload("ip", "saddr"), gw), DROP)
            b.rule("output", oif, _match(_payload("arp", "saddr ip"), gw), DROP)
            b.rule("output", oif, _match(_payload("ip", "saddr"), gw), DROP)
        b.rule("from_overlay", _match(_payload("udp", "dport"), {"set": [67, 68]}), DROP)
    b.rule("prerouting", {"goto": {"target": "from_instance"}})
    fi = "from_instance"
    b.rule(fi, _match({"concat": [iif, _payload("ether", "saddr")]}, "@port_mac", "!="), DROP)
    b.rule(fi, _match({"concat": [iif, _payload("ip", "saddr")]}, "@port_ip"), ACCEPT)
    b.rule(fi, _match(_payload("ip", "saddr"), "0.0.0.0"),
           _match(_payload("ip", "daddr"), "255.255.255.255"),
           _match(_payload("udp", "sport"), 68), _match(_payload("udp", "dport"), 67), ACCEPT)
    b.rule(fi, _match({"concat": [iif, _payload("arp", "saddr ether")]}, "@port_mac"),
           _match({"concat": [iif, _payload("arp", "saddr ip")]}, "@port_ip"), ACCEPT)
    b.rule(fi, _match({"concat": [iif, _payload("arp", "saddr ether")]}, "@port_mac"),
           _match(_payload("arp", "saddr ip"), "0.0.0.0"), ACCEPT)
    b.rule(fi, DROP)
    return b.objects


# -- inet table: security groups, host protection, NAT ------------------------------------

def _inet_objects(view: NetworkView, local: list[Instance], layout: HostLayout) -> list[Json]:
    b = _Builder("inet")
    groups = view.group_map()
    used = {g for i in local for g in i.security_groups}
    referenced: set[str] = set()
    for gid in used:
        for r in groups[gid].ingress + groups[gid].egress:
            referenced.update(r.groups)
    members: dict[str, list[str]] = {g: [] for g in referenced}
    for inst in view.instances:
        for g in inst.security_groups:
            if g in members:
                members[g].append(str(inst.private_ip))
    for gid in sorted(referenced):
        b.set(f"sg-{gid}", "ipv4_addr", sorted(set(members[gid]), key=_ipkey))
    b.set("private_nets", "ipv4_addr", [_prefix(s.network) for s in view.network.subnets],
          flags=["interval"])
    # Instances with the same groups share one dispatch chain (a single group's
    # chain itself), so the per-instance cost is one map element per direction.
    dispatch: dict[tuple[str, ...], str] = {}
    for inst in local:
        key = tuple(inst.security_groups)
        if key and key not in dispatch:
            dispatch[key] = key[0] if len(key) == 1 else "set-" + hashlib.sha1(
                "\0".join(key).encode()).hexdigest()[:12]
    b.set("local", "ipv4_addr", sorted({str(i.private_ip) for i in local}, key=_ipkey))
    b.map("ingress", "ipv4_addr", "verdict",
          [[str(i.private_ip), {"jump": {"target": f"sgi-{dispatch[tuple(i.security_groups)]}"}}]
           for i in local if i.security_groups])
    b.map("egress", "ipv4_addr", "verdict",
          [[str(i.private_ip), {"jump": {"target": f"sge-{dispatch[tuple(i.security_groups)]}"}}]
           for i in local if i.security_groups])
    eips = [i for i in local if i.public_ip is not None]
    b.map("eip_dnat", "ipv4_addr", "ipv4_addr",
          [[str(i.public_ip), str(i.private_ip)] for i in eips])
    b.map("eip_snat", "ipv4_addr", "ipv4_addr",
          [[str(i.private_ip), str(i.public_ip)] for i in eips])

    established = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
    invalid = _match({"ct": {"key": "state"}}, "invalid")
    # Egress first (priority 0), ingress after (priority 10): an accept in one
    # base chain hands the packet to the next, a drop is final. A group chain
    # that matches nothing returns here, to the drop for local instances.
    b.chain("egress", hook="forward", prio=0)
    b.rule("egress", established, ACCEPT)
    b.rule("egress", invalid, DROP)
    b.rule("egress", {"vmap": {"key": _payload("ip", "saddr"), "data": "@egress"}})
    b.rule("egress", _match(_payload("ip", "saddr"), "@local"), DROP)
    b.chain("ingress", hook="forward", prio=10)
    b.rule("ingress", established, ACCEPT)
    b.rule("ingress", invalid, DROP)
    b.rule("ingress", {"vmap": {"key": _payload("ip", "daddr"), "data": "@ingress"}})
    b.rule("ingress", _match(_payload("ip", "daddr"), "@local"), DROP)

    for gid in sorted(used):
        _group_chains(b, groups[gid])
    for key, name in sorted(dispatch.items()):
        if len(key) > 1:
            for prefix in ("sgi", "sge"):
                b.chain(f"{prefix}-{name}")
                for gid in key:
                    b.rule(f"{prefix}-{name}", {"jump": {"target": f"{prefix}-{gid}"}})

    _host_protection(b, layout)
    _nat(b, layout)
    return b.objects


def _group_chains(b: _Builder, group: SecurityGroup) -> None:
    for prefix, rules, peer_field in (("sgi", group.ingress, "saddr"),
                                      ("sge", group.egress, "daddr")):
        chain = f"{prefix}-{group.id}"
        b.chain(chain)
        for rule in rules:
            for exprs in rule_matches(rule, peer_field):
                b.rule(chain, *exprs, ACCEPT)


def rule_matches(rule: Rule, peer_field: str) -> list[list[Json]]:
    """The match expressions of one security group rule (one list per nft rule)."""
    proto = _proto_matches(rule)
    peers: list[list[Json]] = []
    cidrs = [c for c in rule.cidrs]
    if any(c.prefixlen == 0 for c in cidrs):
        peers.append([])
    elif cidrs:
        right: Any = _prefix(cidrs[0]) if len(cidrs) == 1 else {
            "set": [_prefix(c) for c in sorted(set(cidrs))]}
        peers.append([_match(_payload("ip", peer_field), right)])
    for gid in rule.groups:
        peers.append([_match(_payload("ip", peer_field), f"@sg-{gid}")])
    return [p + proto for p in peers]


def _proto_matches(rule: Rule) -> list[Json]:
    p = rule.protocol
    if p == PROTO_ALL:
        return [_match(_meta("nfproto"), "ipv4")]
    if p in (PROTO_TCP, PROTO_UDP):
        name = "tcp" if p == PROTO_TCP else "udp"
        lo, hi = rule.from_port, rule.to_port
        if lo is None and hi is None:
            return [_match(_meta("l4proto"), p)]
        lo = 0 if lo is None else lo
        hi = 65535 if hi is None else hi
        right: Any = lo if lo == hi else {"range": [lo, hi]}
        return [_match(_payload(name, "dport"), right)]
    if p == PROTO_ICMP:
        out = [_match(_meta("l4proto"), PROTO_ICMP)]
        if rule.icmp_type is not None:
            out.append(_match(_payload("icmp", "type"), rule.icmp_type))
            if rule.icmp_code is not None:
                out.append(_match(_payload("icmp", "code"), rule.icmp_code))
        return out
    return [_match(_meta("l4proto"), p)]


def _host_protection(b: _Builder, layout: HostLayout) -> None:
    """Instances may reach the host only for DHCP, metadata and ping."""
    b.chain("input", hook="input", prio=0)
    b.chain("from_instances")
    b.rule("input", _match(_meta("iifname"), layout.bridge), {"jump": {"target": "from_instances"}})
    fi = "from_instances"
    b.rule(fi, _match({"ct": {"key": "state"}}, ["established", "related"], "in"), ACCEPT)
    b.rule(fi, _match(_payload("udp", "dport"), 67), ACCEPT)
    b.rule(fi, _match(_payload("tcp", "dport"), layout.metadata_port), ACCEPT)
    b.rule(fi, _match(_payload("icmp", "type"), "echo-request"), ACCEPT)
    b.rule(fi, DROP)


def _nat(b: _Builder, layout: HostLayout) -> None:
    b.chain("prerouting", hook="prerouting", prio=-100, ctype="nat")
    if layout.gateway is not None:
        b.rule("prerouting", _match(_meta("iifname"), layout.bridge),
               _match(_payload("ip", "daddr"), METADATA_IP),
               _match(_payload("tcp", "dport"), 80),
               {"dnat": {"family": "ip", "addr": str(layout.gateway),
                         "port": layout.metadata_port}})
    b.rule("prerouting", {"dnat": {"family": "ip", "addr": {
        "map": {"key": _payload("ip", "daddr"), "data": "@eip_dnat"}}}})
    b.chain("postrouting", hook="postrouting", prio=100, ctype="nat")
    b.rule("postrouting", _match(_payload("ip", "daddr"), "@private_nets"), RETURN)
    b.rule("postrouting", {"snat": {"family": "ip", "addr": {
        "map": {"key": _payload("ip", "saddr"), "data": "@eip_snat"}}}})


def _ipkey(ip: str) -> int:
    return int(IPv4(ip))
