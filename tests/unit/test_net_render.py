"""The pure renderer: view -> nftables JSON transaction (netd.render)."""

from __future__ import annotations

import ipaddress
from typing import Any

from netd.render import TABLE, HostLayout, delete_all, render, rule_matches
from netd.view import Rule, parse_view

NET = {"Mode": "EDGE", "MacPrefix": "d0:0d", "PublicIps": ["198.51.100.10-198.51.100.20"],
       "Subnets": [{"Name": "s", "Subnet": "10.1.0.0", "Netmask": "255.255.0.0",
                    "Gateway": "10.1.0.1"}]}
LAYOUT = HostLayout(host="h1", overlay="vx-cloud", gateway=ipaddress.IPv4Address("10.1.0.1"))


def view() -> Any:
    return parse_view({
        "version": 1, "network": NET, "hosts": [{"name": "h1"}, {"name": "h2"}],
        "instances": [
            {"id": "i-1", "host": "h1", "mac": "d0:0d:00:00:00:01", "private_ip": "10.1.0.5",
             "public_ip": "198.51.100.10", "security_groups": ["sg-web"], "interface": "vn1"},
            {"id": "i-2", "host": "h2", "mac": "d0:0d:00:00:00:02", "private_ip": "10.1.0.6",
             "security_groups": ["sg-app"], "interface": "vn2"},
        ],
        "security_groups": [
            {"id": "sg-web", "ingress": [{"protocol": 6, "from_port": 80, "to_port": 80,
                                          "groups": ["sg-app"]}], "egress": []},
            {"id": "sg-app", "ingress": [], "egress": []},
        ],
    })


def objects(cmds: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c["add"][kind] for c in cmds if "add" in c and kind in c["add"]]


def test_transaction_replaces_both_tables_first() -> None:
    cmds = render(view(), LAYOUT)
    head = [(next(iter(c)), c[next(iter(c))]["table"]["family"]) for c in cmds[:6]]
    assert head == [("add", "bridge"), ("delete", "bridge"), ("add", "bridge"),
                    ("add", "inet"), ("delete", "inet"), ("add", "inet")]
    assert all(c["add"]["table"]["name"] == TABLE for c in delete_all() if "add" in c)


def test_only_local_instances_get_chains_but_groups_span_hosts() -> None:
    cmds = render(view(), LAYOUT)
    chains = {c["name"] for c in objects(cmds, "chain")}
    assert {"sgi-sg-web", "sge-sg-web"} <= chains
    assert "sgi-sg-app" not in chains  # no local member
    sets = {s["name"]: s for s in objects(cmds, "set")}
    assert sets["sg-sg-app"]["elem"] == ["10.1.0.6"]  # member on the other host
    assert sets["port_mac"]["elem"] == [{"concat": ["vn1", "d0:0d:00:00:00:01"]}]
    maps = {m["name"]: m for m in objects(cmds, "map")}
    assert maps["eip_dnat"]["elem"] == [["198.51.100.10", "10.1.0.5"]]
    assert maps["ingress"]["elem"] == [["10.1.0.5", {"jump": {"target": "sgi-sg-web"}}]]
    assert sets["local"]["elem"] == ["10.1.0.5"]


def test_jump_targets_are_declared_before_rules() -> None:
    cmds = render(view(), LAYOUT)
    seen: set[str] = set()
    for c in cmds:
        obj = c.get("add", {})
        if "chain" in obj:
            seen.add(obj["chain"]["name"])
        for e in obj.get("rule", {}).get("expr", []):
            for verb in ("jump", "goto"):
                if verb in e:
                    assert e[verb]["target"] in seen


def test_rule_matches() -> None:
    r = Rule(protocol=6, from_port=1000, to_port=2000,
             cidrs=(ipaddress.IPv4Network("10.0.0.0/8"),), groups=("sg-x",))
    out = rule_matches(r, "saddr")
    assert len(out) == 2
    assert out[0][1]["match"]["right"] == {"range": [1000, 2000]}
    assert out[1][0]["match"]["right"] == "@sg-sg-x"
    anyone = rule_matches(Rule(protocol=1, icmp_type=8,
                               cidrs=(ipaddress.IPv4Network("0.0.0.0/0"),)), "saddr")
    assert anyone == [[
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 1}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}},
                   "right": 8}}]]


def test_the_vpc_data_plane_ports_are_left_to_the_vpc_routers() -> None:
    """EDGE's bridge anti-spoofing polices guest ports; frames entering through the VPC
    data plane's links (router legs and guest taps on guest bridges, the routers'
    outside legs on the outside bridge, a VPC load balancer node's leg ``tl<node>``) pass
    it, the EDGE guests' taps (``vn-``) do not."""
    from netd.vpc.names import guest_tap_name, lb_port_name

    rules = [r["expr"] for r in objects(render(view(), LAYOUT), "rule")
             if r["family"] == "bridge" and r["chain"] == "prerouting"]
    accepted = [e[0]["match"]["right"] for e in rules
                if len(e) == 2 and e[1] == {"accept": None}]
    assert accepted == ["te*", "tv*", "tl*", "o*"]
    assert guest_tap_name("eni-0123456789abcdef0").startswith("tv")
    assert lb_port_name("5876297193z1").startswith("tl")
    assert not any(p.rstrip("*") and "vn-1234".startswith(p.rstrip("*")) for p in accepted)
