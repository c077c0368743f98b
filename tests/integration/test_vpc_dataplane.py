"""The VPC data plane with real packets: ZooKeeper, host agents, namespaces, nftables.

Hosts h1, h2 and the gateway host gw are namespaces on one underlay; instances
are namespaces attached through their ENI's tap. Every test publishes topology
into a real ZooKeeper server and waits until the hosts report the version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netd.lab import Listener, ping, tcp_probe, wait_until
from netd.links import with_ipr
from netd.vpc import topology as t
from tests.integration.vpc_world import World

pytestmark = pytest.mark.integration

ALLOW_ALL = (t.AclEntry(100, "allow"),)
EGRESS_ALL = (t.SgRule(cidrs=("0.0.0.0/0",)),)


@pytest.fixture
def world(zookeeper, tmp_path: Path):
    w = World(zookeeper, tmp_path)
    yield w
    w.close()


def vpc_objects(vpc: str, vni: int, cidr: str = "10.0.0.0/16", prefix: str = "10.0",
                sg_ingress: tuple[t.SgRule, ...] | None = None) -> list[t.Obj]:
    """A VPC with subnets 1 and 2 (.1.0/24, .2.0/24), one route table, an allow-all ACL,
    a security group open to its own members."""
    ingress = sg_ingress if sg_ingress is not None else (t.SgRule(groups=(f"sg-{vpc}",)),)
    return [
        t.Vpc(id=vpc, vni=vni, cidrs=(cidr,)),
        t.Subnet(id=f"sn1-{vpc}", vpc_id=vpc, cidr=f"{prefix}.1.0/24",
                 route_table_id=f"rtb-{vpc}", network_acl_id=f"acl-{vpc}"),
        t.Subnet(id=f"sn2-{vpc}", vpc_id=vpc, cidr=f"{prefix}.2.0/24",
                 route_table_id=f"rtb-{vpc}", network_acl_id=f"acl-{vpc}"),
        t.RouteTable(id=f"rtb-{vpc}", vpc_id=vpc, routes=(t.Route(cidr),)),
        t.NetworkAcl(id=f"acl-{vpc}", vpc_id=vpc, ingress=ALLOW_ALL, egress=ALLOW_ALL),
        t.SecurityGroup(id=f"sg-{vpc}", vpc_id=vpc, ingress=ingress, egress=EGRESS_ALL),
    ]


def eni(n: int, vpc: str, subnet: int, host: str, ip: str, **kw) -> t.Eni:
    return t.Eni(id=f"eni-{vpc}-{n}", vpc_id=vpc, subnet_id=f"sn{subnet}-{vpc}",
                 mac=f"02:00:00:{n // 256:02x}:{n % 256:02x}:{subnet:02x}", private_ips=(ip,),
                 group_ids=kw.pop("groups", (f"sg-{vpc}",)), host=host, instance_id=f"i-{n}",
                 **kw)


def reach(src: str, dst_ns: str, ip: str, port: int = 8080, timeout: float = 2.5) -> bool:
    """A TCP connect succeeds (the timeout outlasts one SYN retransmission)."""
    with Listener(dst_ns, port):
        return tcp_probe(src, ip, port, timeout=timeout) is not None


def blocked(src: str, dst_ns: str, ip: str, port: int = 8080) -> bool:
    """A TCP connect gets nowhere within 0.5 s."""
    return not reach(src, dst_ns, ip, port, timeout=0.5)


def test_subnets_on_two_hosts_reach_each_other_until_route_acl_or_group_changes(world):
    base = vpc_objects("vpc-a", 1001)
    e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    e2 = eni(2, "vpc-a", 2, "h2", "10.0.2.5")
    e3 = eni(3, "vpc-a", 1, "h2", "10.0.1.6")
    world.start_agent("h1")
    world.start_agent("h2")
    world.applied(world.publish(*base, e1, e2, e3), ("h1", "h2"))
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.2.0/24")
    i3 = world.plug(e3, "10.0.1.0/24")
    assert ping(i1, "10.0.2.5") and ping(i2, "10.0.1.5")
    assert ping(i1, "10.0.1.6"), "same subnet across hosts (proxy ARP + VXLAN)"
    assert reach(i1, i2, "10.0.2.5")
    assert reach(i3, i1, "10.0.1.5")
    # Security group: only tcp/22 from members now -> 8080 blocked, ping blocked.
    sg = t.SecurityGroup(id="sg-vpc-a", vpc_id="vpc-a",
                         ingress=(t.SgRule(6, 22, 22, groups=("sg-vpc-a",)),), egress=EGRESS_ALL)
    world.applied(world.publish(sg), ("h1", "h2"))
    assert blocked(i1, i2, "10.0.2.5")
    assert reach(i1, i2, "10.0.2.5", port=22)
    # Network ACL of subnet 2: deny inbound tcp/22 at rule 50, before the allow.
    acl = t.NetworkAcl(id="acl-vpc-a", vpc_id="vpc-a", egress=ALLOW_ALL,
                       ingress=(t.AclEntry(50, "deny", 6, "10.0.1.0/24", 22, 22),
                                t.AclEntry(100, "allow")))
    world.applied(world.publish(acl), ("h1", "h2"))
    assert blocked(i1, i2, "10.0.2.5", port=22), "ACL deny wins over the group allow"
    assert reach(i3, i1, "10.0.1.5", port=22), "no ACL inside one subnet"
    # Route: a route table without the local route still delivers locally (local is
    # implicit), but a subnet whose table's routes are gone keeps only local traffic.
    world.applied(world.publish(t.NetworkAcl(id="acl-vpc-a", vpc_id="vpc-a",
                                             egress=ALLOW_ALL, ingress=ALLOW_ALL)), ("h1", "h2"))
    assert reach(i1, i2, "10.0.2.5", port=22)


def test_new_custom_acl_denies_everything_and_return_traffic_needs_its_own_rule(world):
    base = vpc_objects("vpc-a", 1002)
    e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    e2 = eni(2, "vpc-a", 2, "h1", "10.0.2.5")
    world.start_agent("h1")
    world.applied(world.publish(*base, e1, e2), ("h1",))
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.2.0/24")
    assert reach(i1, i2, "10.0.2.5")
    custom = t.NetworkAcl(id="acl-custom", vpc_id="vpc-a")
    sn2 = t.Subnet(id="sn2-vpc-a", vpc_id="vpc-a", cidr="10.0.2.0/24",
                   route_table_id="rtb-vpc-a", network_acl_id="acl-custom")
    world.applied(world.publish(custom, sn2), ("h1",))
    assert blocked(i1, i2, "10.0.2.5")
    # Inbound 8080 allowed, but the reply (egress to ephemeral ports) still denied.
    custom = t.NetworkAcl(id="acl-custom", vpc_id="vpc-a",
                          ingress=(t.AclEntry(100, "allow", 6, "10.0.0.0/16", 8080, 8080),))
    world.applied(world.publish(custom), ("h1",))
    assert blocked(i1, i2, "10.0.2.5")
    custom = t.NetworkAcl(id="acl-custom", vpc_id="vpc-a",
                          ingress=(t.AclEntry(100, "allow", 6, "10.0.0.0/16", 8080, 8080),),
                          egress=(t.AclEntry(100, "allow", 6, "10.0.0.0/16", 1024, 65535),))
    world.applied(world.publish(custom), ("h1",))
    assert reach(i1, i2, "10.0.2.5")


def test_egress_rule_blocks_and_revoking_egress_all_cuts(world):
    base = vpc_objects("vpc-a", 1003, sg_ingress=(t.SgRule(cidrs=("10.0.0.0/16",)),))
    e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5", groups=("sg-vpc-a", "sg-out"))
    e2 = eni(2, "vpc-a", 2, "h2", "10.0.2.5")
    out = t.SecurityGroup(id="sg-out", vpc_id="vpc-a", egress=(t.SgRule(6, 22, 22,
                                                                       cidrs=("10.0.0.0/16",)),))
    world.start_agent("h1")
    world.start_agent("h2")
    # e1's groups: sg-vpc-a (egress all) + sg-out: union allows everything.
    world.applied(world.publish(*base, out, e1, e2), ("h1", "h2"))
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.2.0/24")
    assert reach(i1, i2, "10.0.2.5", 8080)
    e1b = eni(1, "vpc-a", 1, "h1", "10.0.1.5", groups=("sg-out",))
    world.applied(world.publish(e1b), ("h1", "h2"))
    assert blocked(i1, i2, "10.0.2.5", 8080), "egress rule only allows 22"
    assert reach(i1, i2, "10.0.2.5", 22)


def test_source_dest_check_blocks_spoofing_until_turned_off(world):
    base = vpc_objects("vpc-a", 1004, sg_ingress=(t.SgRule(cidrs=("10.0.0.0/16",)),))
    e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    e2 = eni(2, "vpc-a", 1, "h1", "10.0.1.6")
    world.start_agent("h1")
    world.applied(world.publish(*base, e1, e2), ("h1",))
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.1.0/24")
    from netd.lab import add_address

    add_address(i1, "eth0", "10.0.1.77/24")
    with Listener(i2, 8080):
        assert tcp_probe(i1, "10.0.1.6", 8080, timeout=0.5, source="10.0.1.77") is None
        world.applied(world.publish(eni(1, "vpc-a", 1, "h1", "10.0.1.5",
                                        source_dest_check=False)), ("h1",))
        assert wait_until(lambda: tcp_probe(i1, "10.0.1.6", 8080, timeout=0.5,
                                            source="10.0.1.77") == "10.0.1.77", 3)


def test_public_ip_only_through_the_igw_and_detach_cuts(world):
    base = vpc_objects("vpc-a", 1005, sg_ingress=(t.SgRule(cidrs=("0.0.0.0/0",)),))
    rtb = t.RouteTable(id="rtb-vpc-a", vpc_id="vpc-a", routes=(
        t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_IGW, "igw-a")))
    e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    e2 = eni(2, "vpc-a", 1, "h2", "10.0.1.6")  # no public IP
    igw = t.InternetGateway(id="igw-a", vpc_id="vpc-a", host="gw",
                            mappings=(t.PublicMapping("198.51.100.10", "10.0.1.5", e1.id),))
    for h in ("h1", "h2", "gw"):
        world.start_agent(h)
    world.applied(world.publish(*base, rtb, e1, e2, igw), ("h1", "h2", "gw"))
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.1.0/24")
    assert reach(world.world, i1, "198.51.100.10"), "inbound through the IGW's 1:1 NAT"
    with Listener(world.world, 9000):
        assert tcp_probe(i1, "198.51.100.1", 9000, timeout=2.5) == "198.51.100.10", "outbound as its EIP"
        assert tcp_probe(i2, "198.51.100.1", 9000, timeout=0.5) is None, "no public IP"
    # Even an outside host routing the VPC's private range at the IGW gets nowhere.
    with_ipr(world.world, lambda ipr: ipr.route("add", dst="10.0.0.0/16",
                                                gateway="198.51.100.10"))
    assert blocked(world.world, i1, "10.0.1.5"), "private addresses are not reachable outside"
    detached = t.InternetGateway(id="igw-a", vpc_id=None, host="gw")
    world.applied(world.publish(detached), ("h1", "h2", "gw"))
    assert blocked(world.world, i1, "198.51.100.10")
    with Listener(world.world, 9000):
        assert tcp_probe(i1, "198.51.100.1", 9000, timeout=0.5) is None


def test_private_subnet_reaches_outside_only_through_nat_gateway(world):
    base = vpc_objects("vpc-a", 1006)
    public_rt = t.RouteTable(id="rtb-pub", vpc_id="vpc-a", routes=(
        t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_IGW, "igw-a")))
    private_rt = t.RouteTable(id="rtb-vpc-a", vpc_id="vpc-a", routes=(t.Route("10.0.0.0/16"),))
    sn1 = t.Subnet(id="sn1-vpc-a", vpc_id="vpc-a", cidr="10.0.1.0/24", route_table_id="rtb-pub",
                   network_acl_id="acl-vpc-a")
    igw = t.InternetGateway(id="igw-a", vpc_id="vpc-a", host="gw")
    nat = t.NatGateway(id="nat-a", vpc_id="vpc-a", subnet_id="sn1-vpc-a", private_ip="10.0.1.200",
                       public_ip="198.51.100.20", host="gw")
    e2 = eni(2, "vpc-a", 2, "h1", "10.0.2.5")
    for h in ("h1", "gw"):
        world.start_agent(h)
    world.applied(world.publish(*base, public_rt, private_rt, sn1, igw, nat, e2), ("h1", "gw"))
    i2 = world.plug(e2, "10.0.2.0/24")
    with Listener(world.world, 9000):
        assert tcp_probe(i2, "198.51.100.1", 9000, timeout=0.5) is None, "no route out yet"
        private_rt = t.RouteTable(id="rtb-vpc-a", vpc_id="vpc-a", routes=(
            t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_NAT, "nat-a")))
        world.applied(world.publish(private_rt), ("h1", "gw"))
        assert tcp_probe(i2, "198.51.100.1", 9000, timeout=2.5) == "198.51.100.20", "outside sees the NAT EIP"
    assert blocked(world.world, i2, "198.51.100.20"), "the NAT admits nothing inbound"
    world.applied(world.publish(delete=(("nat_gateways", "nat-a"),)), ("h1", "gw"))
    with Listener(world.world, 9000):
        assert tcp_probe(i2, "198.51.100.1", 9000, timeout=0.5) is None
    assert not any("n-nat-a" in ns for ns in world.driver("gw").namespaces())


def test_same_cidr_vpcs_are_isolated_until_peered_with_routes(world):
    a = vpc_objects("vpc-a", 1007)
    b = vpc_objects("vpc-b", 1008, cidr="10.1.0.0/16", prefix="10.1")
    # Overlap first: vpc-c uses vpc-a's CIDR on the same hosts.
    c = vpc_objects("vpc-c", 1009)
    ea = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    ea2 = eni(2, "vpc-a", 1, "h2", "10.0.1.6")
    ec = eni(3, "vpc-c", 1, "h2", "10.0.1.5")  # same address as ea, other VPC
    eb = eni(4, "vpc-b", 1, "h2", "10.1.1.5", groups=("sg-vpc-b", "sg-open-b"))
    open_b = t.SecurityGroup(id="sg-open-b", vpc_id="vpc-b",
                             ingress=(t.SgRule(cidrs=("10.0.0.0/16",)),))
    world.start_agent("h1")
    world.start_agent("h2")
    world.applied(world.publish(*a, *b, *c, open_b, ea, ea2, ec, eb), ("h1", "h2"))
    ia, ia2 = world.plug(ea, "10.0.1.0/24"), world.plug(ea2, "10.0.1.0/24")
    ic, ib = world.plug(ec, "10.0.1.0/24"), world.plug(eb, "10.1.1.0/24")
    with Listener(ia, 8080), Listener(ic, 8080):
        assert tcp_probe(ia2, "10.0.1.5", 8080, timeout=2.5) == "10.0.1.6"
    # From vpc-c's 10.0.1.5 (on h2) nothing of vpc-a is reachable, though addresses overlap.
    assert blocked(ic, ia2, "10.0.1.6")
    assert not ping(ia, "10.1.1.5")
    pcx = t.Peering(id="pcx-ab", requester_vpc_id="vpc-a", accepter_vpc_id="vpc-b", active=True)
    world.applied(world.publish(pcx), ("h1", "h2"))
    assert blocked(ia, ib, "10.1.1.5"), "peering without routes carries nothing"
    rta = t.RouteTable(id="rtb-vpc-a", vpc_id="vpc-a", routes=(
        t.Route("10.0.0.0/16"), t.Route("10.1.0.0/16", t.TARGET_PCX, "pcx-ab")))
    rtb = t.RouteTable(id="rtb-vpc-b", vpc_id="vpc-b", routes=(
        t.Route("10.1.0.0/16"), t.Route("10.0.0.0/16", t.TARGET_PCX, "pcx-ab")))
    world.applied(world.publish(rta, rtb), ("h1", "h2"))
    with Listener(ib, 8080):
        assert tcp_probe(ia, "10.1.1.5", 8080, timeout=2.5) == "10.0.1.5", "h1 vpc-a -> h2 vpc-b over peering"
    assert blocked(ic, ib, "10.1.1.5"), "vpc-c is not part of the peering"
    world.applied(world.publish(delete=(("peerings", "pcx-ab"),)), ("h1", "h2"))
    assert blocked(ia, ib, "10.1.1.5")


def test_forced_resync_leaves_routes_rules_and_neighbours_in_place(world):
    """The periodic full pass replaces nothing that is right (no gap for packets): the
    kernel's routes, rules and neighbours read back exactly as the plan wants them."""
    from netd.vpc.linux import _route_key, _routing, _rule_key
    from netd.vpc.plan import plan_host

    base = vpc_objects("vpc-a", 1010)
    rtb = t.RouteTable(id="rtb-vpc-a", vpc_id="vpc-a", routes=(
        t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_IGW, "igw-a")))
    igw = t.InternetGateway(id="igw-a", vpc_id="vpc-a", host="gw")
    e1, e2 = eni(1, "vpc-a", 1, "h1", "10.0.1.5"), eni(2, "vpc-a", 2, "h2", "10.0.2.5")
    agent = world.start_agent("h1")
    world.start_agent("h2")
    world.start_agent("gw")
    world.applied(world.publish(*base, rtb, igw, e1, e2), ("h1", "h2", "gw"))
    plan = plan_host(world.reader.load(), world.cfgs["h1"],
                     {h: s.underlay for h, s in world.reader.hosts().items()})
    (ns, spec), = plan.routers.items()
    have = with_ipr(ns, _routing)
    assert have["routes"] == {_route_key(r) for r in spec.routes}
    assert have["rules"] == {_rule_key(r) for r in spec.rules}
    assert have["neigh"] == {(ip, dev) for ip, _mac, dev in spec.neighbours}
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.2.0/24")
    with Listener(i2, 8080):
        for _ in range(5):
            agent.step(force=True)
            assert tcp_probe(i1, "10.0.2.5", 8080, timeout=0.3) == "10.0.1.5"


def test_destination_check_drops_routed_traffic_until_turned_off(world):
    """A route to an ENI (a NAT instance) delivers packets for other addresses to it only
    once its source/dest check is off, as on AWS."""
    import socket as so

    from netd import netns
    from netd.lab import add_address

    base = vpc_objects("vpc-a", 1011, sg_ingress=(t.SgRule(cidrs=("10.0.0.0/16",)),))
    rtb = t.RouteTable(id="rtb-vpc-a", vpc_id="vpc-a", routes=(
        t.Route("10.0.0.0/16"), t.Route("10.99.0.0/16", t.TARGET_ENI, "eni-vpc-a-1")))
    e1, e2 = eni(1, "vpc-a", 1, "h1", "10.0.1.5"), eni(2, "vpc-a", 2, "h2", "10.0.2.5")
    world.start_agent("h1")
    world.start_agent("h2")
    world.applied(world.publish(*base, rtb, e1, e2), ("h1", "h2"))
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.2.0/24")
    add_address(i1, "lo", "10.99.0.1/32")

    def received() -> bool:
        rx = netns.run_in(i1, lambda: so.socket(so.AF_INET, so.SOCK_DGRAM))
        rx.bind(("10.99.0.1", 5005))
        rx.settimeout(0.5)
        try:
            def send() -> None:
                with so.socket(so.AF_INET, so.SOCK_DGRAM) as tx:
                    for _ in range(3):
                        tx.sendto(b"hi", ("10.99.0.1", 5005))

            netns.run_in(i2, send)
            return rx.recv(10) == b"hi"
        except TimeoutError:
            return False
        finally:
            rx.close()

    assert not received(), "destination check on: routed packet for 10.99.0.1 dropped"
    world.applied(world.publish(eni(1, "vpc-a", 1, "h1", "10.0.1.5", source_dest_check=False)),
                  ("h1", "h2"))
    assert wait_until(received, 3)


def test_guest_bridge_mode_carries_a_hypervisor_tap_and_is_swept(zookeeper, tmp_path: Path):
    """`guest_bridges`: a host bridge per ENI for libvirt's tap; the guest keeps the ENI's
    MAC (anti-spoofing still applies) and the bridge goes with the ENI."""
    from netd.vpc.plan import guest_bridge_name

    w = World(zookeeper, tmp_path, hosts=("h1", "h2"), guest_bridges=True)
    try:
        base = vpc_objects("vpc-a", 1012)
        e1, e2 = eni(1, "vpc-a", 1, "h1", "10.0.1.5"), eni(2, "vpc-a", 2, "h2", "10.0.2.5")
        w.start_agent("h1")
        w.start_agent("h2")
        w.applied(w.publish(*base, e1, e2), ("h1", "h2"))
        g1, g2 = w.plug_guest(e1, "10.0.1.0/24"), w.plug_guest(e2, "10.0.2.0/24")
        assert reach(g1, g2, "10.0.2.5")
        from netd.lab import set_mac

        set_mac(g1, "eth0", "02:00:00:00:99:99")
        assert blocked(g1, g2, "10.0.2.5"), "a guest with another MAC is not let through"
        w.applied(w.publish(delete=(("enis", e1.id),)), ("h1", "h2"))
        names = with_ipr(w.host_ns["h1"], lambda ipr: [
            str(m.get_attr("IFLA_IFNAME")) for m in ipr.get_links()])
        assert guest_bridge_name(e1.id) not in names
    finally:
        w.close()
