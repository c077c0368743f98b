"""A load balancer in a VPC subnet on the real data planes: the VPC host agents
(``guest_bridges`` mode, as ``cloudctl up`` runs them) realise the load balancer's ENI,
netd's ``LbPlane`` plugs its haproxy into that ENI's bridge with the ENI's MAC and
address (what ``elb.dataplane`` gives it for a load balancer in subnets), and the VPC
carries its traffic: a client in an allowed subnet reaches the back-end on another
host through it, the load balancer's security group refuses a client outside its
rule, the outside reaches it through the internet gateway at its public address only
while it has one (internet-facing; internal: only inside the VPC), and the back-end's
group admits the load balancer by its group (revoking that rule takes the back-end
OutOfService). Moved to another subnet, it answers at its new interface only."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from netd import netns
from netd.lab import wait_until
from netd.lb import LbPlane
from netd.lbspec import Backend, HealthCheck, LbSpec, Listener
from netd.vpc import topology as t
from netd.vpc.names import guest_bridge_name
from tests.integration.elb_lab import SERVER
from tests.integration.test_vpc_dataplane import eni, vpc_objects
from tests.integration.vpc_world import World

pytestmark = pytest.mark.integration

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.fail("needs root and haproxy: run scripts/install-deps.sh", pytrace=False)

EGRESS_ALL = (t.SgRule(cidrs=("0.0.0.0/0",)),)
LB_IP = "10.0.1.50"
LB_PUBLIC = "198.51.100.20"
# on the gateway host, as the cloud's topology places a load balancer's interface
LB_ENI = t.Eni(id="eni-elb-1", vpc_id="vpc-l", subnet_id="sn1-vpc-l", mac="02:00:00:0e:1b:01",
               private_ips=(LB_IP,), group_ids=("sg-lb",), host="gw")
# the load balancer's group: HTTP from subnet 1 and from the outside world's network
SG_LB = t.SecurityGroup(id="sg-lb", vpc_id="vpc-l", egress=EGRESS_ALL, ingress=(
    t.SgRule(protocol=t.PROTO_TCP, from_port=80, to_port=80,
             cidrs=("10.0.1.0/24", "198.51.100.0/24")),))
ROUTES = t.RouteTable(id="rtb-vpc-l", vpc_id="vpc-l", routes=(
    t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_IGW, "igw-l")))


def _igw(public: bool) -> t.InternetGateway:
    """The VPC's gateway: mapping the load balancer's public address when it faces the
    internet (internal: no public address, no mapping)."""
    return t.InternetGateway(id="igw-l", vpc_id="vpc-l", host="gw", mappings=(
        (t.PublicMapping(LB_PUBLIC, LB_IP, LB_ENI.id),) if public else ()))


def _backend_group(admit_lb: bool) -> t.SecurityGroup:
    rules = (t.SgRule(protocol=t.PROTO_TCP, from_port=8080, to_port=8080, groups=("sg-lb",)),)
    return t.SecurityGroup(id="sg-be", vpc_id="vpc-l", egress=EGRESS_ALL,
                           ingress=rules if admit_lb else ())


def _get(ns: str, timeout: float = 2.0, address: str = LB_IP) -> str | None:
    def body() -> str | None:
        conn = http.client.HTTPConnection(address, 80, timeout=timeout)
        try:
            conn.request("GET", "/")
            return conn.getresponse().read().decode()
        except OSError:
            return None
        finally:
            conn.close()

    return netns.run_in(ns, body)


@pytest.fixture
def world(zookeeper: object, tmp_path: Path) -> Iterator[World]:
    w = World(zookeeper, tmp_path, hosts=("h1", "h2", "gw"), guest_bridges=True)
    yield w
    w.close()


def test_vpc_load_balancer_carried_by_the_vpc_with_its_groups(world: World,
                                                              tmp_path: Path) -> None:
    base = vpc_objects("vpc-l", 1301, sg_ingress=(t.SgRule(cidrs=("0.0.0.0/0",)),))
    backend = eni(1, "vpc-l", 2, "h2", "10.0.2.5", groups=("sg-be",))
    allowed = eni(2, "vpc-l", 1, "h2", "10.0.1.7")
    refused = eni(3, "vpc-l", 2, "h1", "10.0.2.9")
    hosts = ("h1", "h2", "gw")
    for h in hosts:
        world.start_agent(h)
    world.applied(world.publish(*base, ROUTES, _igw(True), SG_LB, _backend_group(True),
                                backend, allowed, refused, LB_ENI), hosts)
    server_ns = world.plug_guest(backend, "10.0.2.0/24")
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c", SERVER,
                               "i-backend1", "8080", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plane = LbPlane(tmp_path / "netd")
    spec = LbSpec(lb_id="v1", address=f"{LB_IP}/24", uplink_netns=world.host_ns["gw"],
                  uplink_bridge=guest_bridge_name(LB_ENI.id), gateway="10.0.1.1",
                  mac=LB_ENI.mac, listeners=(Listener("HTTP", 80, "HTTP", 8080),),
                  backends=(Backend("i-backend1", "10.0.2.5"),),
                  health=HealthCheck("HTTP:8080/health", 1, 1, 2, 2))
    try:
        good, bad = world.plug_guest(allowed, "10.0.1.0/24"), world.plug_guest(
            refused, "10.0.2.0/24")
        plane.reconcile([spec])

        def up() -> bool:
            found = (plane.health("v1") or {}).get("i-backend1")
            return found is not None and found.up

        assert wait_until(up, 15), f"never InService: {plane.health('v1')}"
        body = _get(good)
        assert body is not None and body.split()[0] == "i-backend1", body
        assert body.split()[1] == "10.0.1.7"  # X-Forwarded-For: the client through the VPC
        assert _get(bad, timeout=1.0) is None, "the load balancer's group admits subnet 1 only"
        # internet-facing: the outside reaches it at its public address through the IGW
        body = _get(world.world, address=LB_PUBLIC)
        assert body is not None and body.split()[0] == "i-backend1", body
        assert _get(world.world, timeout=1.0) is None, "its private address is not outside"
        # internal (no public address mapped): only inside the VPC
        world.applied(world.publish(_igw(False)), hosts)
        assert _get(world.world, timeout=1.0, address=LB_PUBLIC) is None
        assert (_get(good) or "").startswith("i-backend1")

        # moved to another subnet (attach the second, detach the first): the node plugs
        # into the new interface's bridge with its address; the old one is gone
        moved = t.Eni(id="eni-elb-2", vpc_id="vpc-l", subnet_id="sn2-vpc-l",
                      mac="02:00:00:0e:1b:02", private_ips=("10.0.2.50",),
                      group_ids=("sg-lb",), host="gw")
        world.applied(world.publish(moved, delete=(("enis", LB_ENI.id),)), hosts)
        plane.reconcile([replace(spec, address="10.0.2.50/24", mac=moved.mac,
                                 uplink_bridge=guest_bridge_name(moved.id),
                                 gateway="10.0.2.1")])
        assert wait_until(lambda: (_get(good, 1.0, "10.0.2.50") or "").startswith(
            "i-backend1"), 10), "not served at the new address"
        assert _get(good, 1.0) is None, "still answering at the old address"
        shown = subprocess.run(["ip", "-n", plane.ns_of("v1"), "-4", "-o", "addr", "show",
                                "dev", "eth0"], capture_output=True, text=True).stdout
        assert [line.split()[3] for line in shown.splitlines()] == ["10.0.2.50/24"]

        # the back-end's group no longer admits the load balancer's group: checks fail
        world.applied(world.publish(_backend_group(False)), hosts)
        assert wait_until(lambda: not up(), 10), "still InService without the group rule"
        assert "503" in (_get(good, 2.0, "10.0.2.50") or ""), "no server: haproxy answers 503"
    finally:
        plane.reconcile([])
        server.kill()
        server.wait()
    assert not netns.exists(plane.ns_of("v1"))
