"""The VPC host planner and the mark-and-sweep reconcile against the in-memory driver."""

from __future__ import annotations

import pytest

from netd.vpc import topology as t
from netd.vpc.fake import FakeDriver, InjectedCrash
from netd.vpc.plan import (
    IGW_HOP,
    HostConfig,
    bridge_name,
    plan_host,
    router_mac,
    tap_name,
)
from netd.vpc.reconcile import reconcile

CFG = HostConfig(host="h1", underlay_ip="192.0.2.1", underlay_dev="ul0", host_ns="root",
                 outside_bridge="br-out", outside_gateway="198.51.100.1")
UNDERLAYS = {"h1": "192.0.2.1", "h2": "192.0.2.2", "gw": "192.0.2.3"}


def topo(*objs: t.Obj, version: int = 1) -> t.Topology:
    out = t.Topology(version=version)
    for o in objs:
        out.put(o)
    return out


def base(vpc: str = "vpc-a") -> list[t.Obj]:
    return [
        t.Vpc(id=vpc, vni=7, cidrs=("10.0.0.0/16",)),
        t.Subnet(id=f"sn-{vpc}", vpc_id=vpc, cidr="10.0.1.0/24", route_table_id=f"rtb-{vpc}",
                 network_acl_id=f"acl-{vpc}"),
        t.RouteTable(id=f"rtb-{vpc}", vpc_id=vpc, routes=(
            t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_IGW, f"igw-{vpc}"))),
        t.NetworkAcl(id=f"acl-{vpc}", vpc_id=vpc),
    ]


def e(n: int, host: str, vpc: str = "vpc-a") -> t.Eni:
    return t.Eni(id=f"eni-{n}", vpc_id=vpc, subnet_id=f"sn-{vpc}", mac=f"02:00:00:00:00:{n:02x}",
                 private_ips=(f"10.0.1.{n}",), host=host)


def test_a_vpc_is_present_only_where_it_has_something():
    plan = plan_host(topo(*base(), e(5, "h2")), CFG, UNDERLAYS)
    assert plan.routers == {}
    plan = plan_host(topo(*base(), e(5, "h1")), CFG, UNDERLAYS)
    assert list(plan.routers) == ["vpc-r-vpc-a"]


def test_remote_enis_are_routes_neighbours_and_fdb_over_vxlan():
    plan = plan_host(topo(*base(), e(5, "h1"), e(6, "h2")), CFG, UNDERLAYS)
    r = plan.routers["vpc-r-vpc-a"]
    assert [p.outer for p in r.ports] == [tap_name("eni-5")]
    assert "10.0.1.6/32 dev vx proto 99" in r.routes
    assert ("10.0.1.6", router_mac("h2", "vpc-a"), "vx") in r.neighbours
    assert r.fdb == ((router_mac("h2", "vpc-a"), "192.0.2.2"),)
    assert r.bridges[0].name == bridge_name("sn-vpc-a") and r.bridges[0].address == "10.0.1.1/24"


def test_igw_route_goes_to_the_gateway_host_or_out_of_it():
    igw = t.InternetGateway(id="igw-vpc-a", vpc_id="vpc-a", host="gw",
                            mappings=(t.PublicMapping("198.51.100.5", "10.0.1.5"),))
    r = plan_host(topo(*base(), e(5, "h1"), igw), CFG, UNDERLAYS).routers["vpc-r-vpc-a"]
    assert f"0.0.0.0/0 via {IGW_HOP} dev vx onlink table 1000 proto 99" in r.routes
    assert (IGW_HOP, router_mac("gw", "vpc-a"), "vx") in r.neighbours
    assert r.outside is None
    on_gw = HostConfig(**{**CFG.__dict__, "host": "gw"})
    g = plan_host(topo(*base(), e(5, "h1"), igw), on_gw, UNDERLAYS).routers["vpc-r-vpc-a"]
    assert g.outside == ("198.51.100.5",)
    assert "0.0.0.0/0 via 198.51.100.1 dev out onlink table 1000 proto 99" in g.routes
    assert "dnat to ip daddr map { 198.51.100.5 : 10.0.1.5 }" in g.nft
    detached = t.InternetGateway(id="igw-vpc-a", vpc_id=None, host="gw")
    r = plan_host(topo(*base(), e(5, "h1"), detached), CFG, UNDERLAYS).routers["vpc-r-vpc-a"]
    assert not any(x.startswith("0.0.0.0/0") for x in r.routes)


def test_acl_entries_ordered_by_number_with_implicit_deny():
    acl = t.NetworkAcl(id="acl-vpc-a", vpc_id="vpc-a", ingress=(
        t.AclEntry(200, "allow"), t.AclEntry(100, "deny", 6, "10.9.0.0/16", 22, 22)))
    r = plan_host(topo(*base(), acl, e(5, "h1")), CFG, UNDERLAYS).routers["vpc-r-vpc-a"]
    lines = [ln for ln in r.nft.splitlines() if ln.startswith("add rule inet vpcf ai_")]
    assert lines[0].endswith("ip saddr 10.0.1.0/24 return")
    assert lines[1].endswith("ip saddr 10.9.0.0/16 tcp dport 22 drop")
    assert lines[2].endswith(" return") and lines[-1].endswith(" drop")


def test_reconcile_converges_is_idempotent_and_sweeps():
    d = FakeDriver()
    p1 = plan_host(topo(*base(), *base("vpc-b"), e(5, "h1"), e(6, "h1", "vpc-b")), CFG,
                   UNDERLAYS)
    res = reconcile(p1, d)
    assert sorted(res.created) == ["vpc-r-vpc-a", "vpc-r-vpc-b"]
    assert d.namespaces() == p1.namespaces()
    again = reconcile(p1, d)
    assert again.created == again.deleted == again.applied == []
    p2 = plan_host(topo(*base(), e(5, "h1"), version=2), CFG, UNDERLAYS)
    res = reconcile(p2, d)
    assert res.deleted == ["vpc-r-vpc-b"] and d.namespaces() == {"vpc-r-vpc-a"}
    assert all("vpc-b" not in h for h in d.host_links)
    d.spaces["vpc-r-vpc-zombie"] = None  # left by someone before a crash
    assert reconcile(p2, d).deleted == ["vpc-r-vpc-zombie"]


@pytest.mark.parametrize("step", ["create", "router", "digest", "nat"])
def test_a_crash_at_any_step_is_repaired_by_the_next_pass(step):
    nat = t.NatGateway(id="nat-1", vpc_id="vpc-a", subnet_id="sn-vpc-a", private_ip="10.0.1.9",
                       public_ip="198.51.100.9", host="h1")
    plan = plan_host(topo(*base(), e(5, "h1"), nat), CFG, UNDERLAYS)
    d = FakeDriver(fail_on=step)
    with pytest.raises(InjectedCrash):
        reconcile(plan, d)
    reconcile(plan, d)
    assert d.namespaces() == plan.namespaces() == {"vpc-r-vpc-a", "vpc-n-nat-1"}
    for ns, spec in {**plan.routers, **plan.nats}.items():
        assert d.spaces[ns] == spec and d.digests[ns] == spec.digest


def test_forced_pass_reapplies_everything():
    d = FakeDriver()
    plan = plan_host(topo(*base(), e(5, "h1")), CFG, UNDERLAYS)
    reconcile(plan, d)
    assert reconcile(plan, d, force=True).applied == ["vpc-r-vpc-a"]


def test_a_crash_mid_apply_is_redone_even_when_the_plan_returns_to_the_old_one():
    d = FakeDriver()
    old = plan_host(topo(*base(), e(5, "h1")), CFG, UNDERLAYS)
    reconcile(old, d)
    new = plan_host(topo(*base(), e(5, "h1"), e(6, "h1"), version=2), CFG, UNDERLAYS)
    d.fail_on = "router"
    with pytest.raises(InjectedCrash):
        reconcile(new, d)  # died half way through applying `new`
    assert reconcile(old, d).applied == ["vpc-r-vpc-a"], "old digest must not be trusted"


def test_teardown_leaves_nothing_of_ours():
    from netd.vpc.agent import teardown

    d = FakeDriver()
    reconcile(plan_host(topo(*base(), *base("vpc-b"), e(5, "h1"), e(6, "h1", "vpc-b")), CFG,
                        UNDERLAYS), d)
    assert d.namespaces() and d.host_links
    res = teardown(CFG, d)
    assert sorted(res.deleted) == ["vpc-r-vpc-a", "vpc-r-vpc-b"]
    assert d.namespaces() == set() and not d.host_links
