"""nftables rulesets (nft text) of a VPC router namespace and a NAT gateway namespace.

Owns the pure translation topology -> ruleset for the tables netd keeps there:

- `bridge vpcs`: per local ENI port, anti-spoofing (its MAC always; its IPs for
  IPv4 and ARP unless source/dest check is off, so a NAT instance may forward)
  and the destination check (IPv4 to the port only for its own addresses, again
  unless the check is off).
- `inet vpcf`, forward hook (bridged traffic reaches it via br_netfilter):
  1. network ACLs, stateless, at the subnet edge: a packet leaving subnet S
     (iif S's bridge) runs S's egress entries, one entering S (oif S's bridge)
     its ingress entries; lowest number first, first match wins, anything
     unmatched is denied; traffic within one subnet is not subject to ACLs;
  2. conntrack: established/related accepted (security groups are stateful);
  3. security groups per local ENI: egress chain keyed by source IP, ingress
     chain keyed by destination IP; peers as CIDRs or group member sets;
  4. only IGW-mapped private addresses leave through the outside leg.
- `ip vpcnat`: the IGW's 1:1 NAT (DNAT public -> private on the outside leg,
  SNAT private -> public leaving it).

Each ruleset text first adds, deletes and re-adds its tables, so one
libnftables run replaces everything atomically and nothing stale survives.
"""

from __future__ import annotations

import ipaddress

from netd.vpc import topology as t
from netd.vpc.names import bridge_name, eni_port, short

TABLES = (("bridge", "vpcs"), ("inet", "vpcf"), ("ip", "vpcnat"))


def _reset(tables: tuple[tuple[str, str], ...]) -> list[str]:
    out: list[str] = []
    for fam, name in tables:
        out += [f"add table {fam} {name}", f"delete table {fam} {name}", f"add table {fam} {name}"]
    return out


def _set(items: list[str] | set[str] | tuple[str, ...]) -> str:
    return "{ " + ", ".join(sorted(items)) + " }"


def _l4(protocol: int, from_port: int | None, to_port: int | None,
        icmp_type: int | None, icmp_code: int | None) -> str | None:
    """The protocol/port match; None when the entry can never match IPv4."""
    if protocol == t.PROTO_ALL:
        return ""
    if protocol in (t.PROTO_TCP, t.PROTO_UDP):
        name = "tcp" if protocol == t.PROTO_TCP else "udp"
        if from_port is None or to_port is None or (from_port <= 0 and to_port >= 65535):
            return f"meta l4proto {name}"
        if from_port == to_port:
            return f"{name} dport {from_port}"
        return f"{name} dport {from_port}-{to_port}"
    if protocol == t.PROTO_ICMP:
        out = "meta l4proto icmp"
        if icmp_type is not None and icmp_type >= 0:
            out += f" icmp type {icmp_type}"
            if icmp_code is not None and icmp_code >= 0:
                out += f" icmp code {icmp_code}"
        return out
    if 0 <= protocol <= 255:
        return f"meta l4proto {protocol}"
    return None


def _v4(cidr: str) -> str | None:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return str(net) if net.version == 4 else None


def _acl_chain(name: str, subnet: t.Subnet, acl: t.NetworkAcl | None, egress: bool) -> list[str]:
    key = "daddr" if egress else "saddr"
    lines = [f"add chain inet vpcf {name}",
             f"add rule inet vpcf {name} ip {key} {subnet.cidr} return"]
    entries = sorted((acl.egress if egress else acl.ingress) if acl else (), key=lambda e: e.number)
    for e in entries:
        l4 = _l4(e.protocol, e.from_port, e.to_port, e.icmp_type, e.icmp_code)
        cidr = _v4(e.cidr)
        if l4 is None or cidr is None:
            continue
        peer = "" if cidr == "0.0.0.0/0" else f"ip {key} {cidr} "
        verdict = "return" if e.action == "allow" else "drop"
        lines.append(f"add rule inet vpcf {name} {peer}{l4} {verdict}".replace("  ", " "))
    lines.append(f"add rule inet vpcf {name} drop")
    return lines


def _sg_chain(name: str, groups: list[t.SecurityGroup], egress: bool,
              group_sets: dict[str, str]) -> list[str]:
    key = "daddr" if egress else "saddr"
    lines = [f"add chain inet vpcf {name}"]
    for g in groups:
        for r in (g.egress if egress else g.ingress):
            l4 = _l4(r.protocol, r.from_port, r.to_port, r.icmp_type, r.icmp_code)
            if l4 is None:
                continue
            peers = [f"ip {key} {c} " for c in map(_v4, r.cidrs) if c is not None]
            peers = ["" if p == f"ip {key} 0.0.0.0/0 " else p for p in peers]
            peers += [f"ip {key} @{group_sets[gid]} " for gid in r.groups if gid in group_sets]
            for p in peers:
                lines.append(f"add rule inet vpcf {name} {p}{l4} return".replace("  ", " "))
    lines.append(f"add rule inet vpcf {name} drop")
    return lines


def render_router(topo: t.Topology, vpc: t.Vpc, subnets: list[t.Subnet], host: str,
                  has_outside: bool, mappings: dict[str, str]) -> str:
    lines = _reset(TABLES)
    # -- bridge: anti-spoofing per local port ------------------------------------------
    lines.append("add chain bridge vpcs c_pre { type filter hook prerouting priority -200; "
                 "policy accept; }")
    local = sorted((e for e in topo.enis.values()
                    if e.host == host and e.vpc_id == vpc.id
                    and any(s.id == e.subnet_id for s in subnets)), key=lambda e: e.id)
    dest_ports: list[str] = []
    for e in local:
        port, chain = eni_port(e.id), f"sp_{short(e.id)}"
        lines.append(f"add chain bridge vpcs {chain}")
        lines.append(f'add rule bridge vpcs c_pre iifname "{port}" jump {chain}')
        if e.mac:
            lines.append(f"add rule bridge vpcs {chain} ether saddr != {e.mac} drop")
        if e.private_ips:
            ips = _set(e.private_ips)
            if e.source_dest_check:
                lines.append(f"add rule bridge vpcs {chain} arp saddr ip != {ips} drop")
                lines.append(f"add rule bridge vpcs {chain} ip saddr 0.0.0.0 udp dport 67 return")
                lines.append(f"add rule bridge vpcs {chain} ip saddr != {ips} drop")
                # Destination check: the port receives only IPv4 addressed to the ENI.
                dchain = f"dp_{short(e.id)}"
                lines.append(f"add chain bridge vpcs {dchain}")
                lines.append(f"add rule bridge vpcs {dchain} ip daddr 255.255.255.255 return")
                lines.append(f"add rule bridge vpcs {dchain} ip daddr != {ips} drop")
                dest_ports.append(f'"{port}" : jump {dchain}')
    if dest_ports:
        for hook in ("forward", "output"):
            lines.append(f"add chain bridge vpcs c_{hook} {{ type filter hook {hook} "
                         "priority -200; policy accept; }")
            lines.append(f"add rule bridge vpcs c_{hook} oifname vmap {_set(dest_ports)}")
    # -- inet: ACLs, conntrack, security groups ----------------------------------------
    lines.append("add chain inet vpcf c_fwd { type filter hook forward priority 0; "
                 "policy accept; }")
    out_map: list[str] = []
    in_map: list[str] = []
    for s in subnets:
        acl = topo.get(t.NetworkAcl, s.network_acl_id)
        sid = short(s.id)
        lines += _acl_chain(f"ao_{sid}", s, acl, egress=True)
        lines += _acl_chain(f"ai_{sid}", s, acl, egress=False)
        out_map.append(f'"{bridge_name(s.id)}" : jump ao_{sid}')
        in_map.append(f'"{bridge_name(s.id)}" : jump ai_{sid}')
    if out_map:
        lines.append(f"add rule inet vpcf c_fwd iifname vmap {_set(out_map)}")
        lines.append(f"add rule inet vpcf c_fwd oifname vmap {_set(in_map)}")
    lines.append("add rule inet vpcf c_fwd ct state established,related accept")
    # No "ct state invalid drop": a router that only carries a flow one way (peering
    # crosses on the sender's host in each direction) must pass what it never saw begin.
    groups = {g.id: g for g in topo.of(t.SecurityGroup).values() if g.vpc_id == vpc.id}
    referenced = {gid for g in groups.values() for r in (*g.ingress, *g.egress)
                  for gid in r.groups if gid in groups}
    group_sets: dict[str, str] = {}
    for gid in sorted(referenced):
        name = f"g_{short(gid)}"
        group_sets[gid] = name
        members = sorted({ip for e in topo.enis.values() if e.vpc_id == vpc.id
                          and gid in e.group_ids for ip in e.private_ips})
        elems = f" elements = {_set(members)};" if members else ""
        lines.append(f"add set inet vpcf {name} {{ type ipv4_addr;{elems} }}")
    src_map: list[str] = []
    dst_map: list[str] = []
    for e in local:
        eg = [groups[g] for g in e.group_ids if g in groups]
        sid = short(e.id)
        lines += _sg_chain(f"so_{sid}", eg, True, group_sets)
        lines += _sg_chain(f"si_{sid}", eg, False, group_sets)
        for ip in e.private_ips:
            src_map.append(f"{ip} : jump so_{sid}")
            dst_map.append(f"{ip} : jump si_{sid}")
    if src_map:
        lines.append(f'add rule inet vpcf c_fwd iifname != "vx" ip saddr vmap {_set(src_map)}')
        lines.append(f'add rule inet vpcf c_fwd oifname != "vx" ip daddr vmap {_set(dst_map)}')
    # -- IGW 1:1 NAT ---------------------------------------------------------------------
    if has_outside:
        # From outside only to public addresses (DNAT'd), never to private ones.
        lines.append('add rule inet vpcf c_fwd iifname "out" ct status & dnat == 0 drop')
        privs = sorted(set(mappings.values()))
        if privs:
            lines.append(f'add rule inet vpcf c_fwd oifname "out" ip saddr != {_set(privs)} drop')
        else:
            lines.append('add rule inet vpcf c_fwd oifname "out" drop')
        lines.append("add chain ip vpcnat c_pre { type nat hook prerouting priority -100; }")
        lines.append("add chain ip vpcnat c_post { type nat hook postrouting priority 100; }")
        if mappings:
            dn = _set([f"{p} : {v}" for p, v in mappings.items()])
            sn = _set([f"{v} : {p}" for p, v in sorted(mappings.items())
                       if list(mappings.values()).count(v) == 1 or
                       p == min(k for k, x in mappings.items() if x == v)])
            lines.append(f'add rule ip vpcnat c_pre iifname "out" dnat to ip daddr map {dn}')
            lines.append(f'add rule ip vpcnat c_post oifname "out" snat to ip saddr map {sn}')
    return "\n".join(lines) + "\n"


def render_nat(private_ip: str) -> str:
    """A NAT gateway: everything it forwards leaves with its own address."""
    lines = _reset((("ip", "vpcnat"),))
    lines.append("add chain ip vpcnat c_post { type nat hook postrouting priority 100; }")
    lines.append(f'add rule ip vpcnat c_post oifname "eth0" ip saddr != {private_ip} '
                 f"masquerade")
    return "\n".join(lines) + "\n"
