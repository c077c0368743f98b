"""A load balancer in subnets runs one haproxy a zone when cross-zone load balancing is
off (each on its zone's interface, sending to its zone's instances) and one when it is
on; netd finds a load balancer's zone nodes by their ids."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cloudctl.services.ec2.api import InstanceFacts, ServiceInterface
from cloudctl.services.elb import dataplane, vpc
from netd.lb import LbPlane
from netd.vpc.names import guest_bridge_name

ENIS = [ServiceInterface("eni-a", "subnet-a", "vpc-1", "z-a", "10.0.1.0/24", "02:00:00:00:00:0a",
                         "10.0.1.10", ("sg-1",), "198.51.100.20"),
        ServiceInterface("eni-b", "subnet-b", "vpc-1", "z-b", "10.0.2.0/24", "02:00:00:00:00:0b",
                         "10.0.2.10", ("sg-1",), "198.51.100.21")]


def _nodes(monkeypatch: pytest.MonkeyPatch, cross: bool) -> list[dataplane.Node]:
    async def interfaces(session: Any, lb: Any) -> list[ServiceInterface]:
        return list(reversed(ENIS))  # any order: the load balancer's subnets order them

    monkeypatch.setattr(vpc, "interfaces", interfaces)
    lb = SimpleNamespace(lb_id="1234567890", subnets=["subnet-a", "subnet-b"],
                         attributes={"CrossZoneLoadBalancing": {"Enabled": cross}})
    return asyncio.run(dataplane.vpc_nodes(None, {"uplink_netns": "h"}, lb))  # type: ignore[arg-type]


def test_one_node_a_zone_without_cross_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = _nodes(monkeypatch, cross=False)
    assert [(n.node_id, n.zone, n.public_ip) for n in nodes] == [
        ("1234567890", "z-a", "198.51.100.20"), ("1234567890z1", "z-b", "198.51.100.21")]
    assert nodes[1].uplink == {"address": "10.0.2.10/24", "uplink_netns": "h",
                               "uplink_bridge": guest_bridge_name("eni-b"),
                               "gateway": "10.0.2.1", "mac": "02:00:00:00:00:0b",
                               "uplink_port": "tl1234567890z1"}
    facts = {"i-a": InstanceFacts("i-a", "z-a", "running", "10.0.1.5", None),
             "i-b": InstanceFacts("i-b", "z-b", "running", "10.0.2.5", None),
             "i-c": InstanceFacts("i-c", "z-b", "stopped", "10.0.2.6", None)}
    ids = ["i-a", "i-b", "i-c"]
    assert [b.instance_id for b in dataplane.node_backends(ids, facts, "z-a")] == ["i-a"]
    assert [b.instance_id for b in dataplane.node_backends(ids, facts, "z-b")] == ["i-b"]
    assert [b.instance_id for b in dataplane.node_backends(ids, facts, None)] == ["i-a", "i-b"]


def test_a_node_a_zone_each_sending_everywhere_with_cross_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cross-zone on: still a node in each zone (each of its interfaces answers, as its
    DNS name says), each sending to every zone's instances (zone None)."""
    nodes = _nodes(monkeypatch, cross=True)
    assert [(n.node_id, n.zone, n.public_ip) for n in nodes] == [
        ("1234567890", None, "198.51.100.20"), ("1234567890z1", None, "198.51.100.21")]
    assert [n.uplink["address"] for n in nodes] == ["10.0.1.10/24", "10.0.2.10/24"]


def test_plane_finds_zone_nodes(tmp_path: Path) -> None:
    plane = LbPlane(tmp_path)
    for name in ("1234567890", "1234567890z1", "1234567890z2", "1234567890zx", "123456789"):
        plane.dir_of(name).mkdir(parents=True)
    assert plane.nodes("1234567890") == ["1234567890", "1234567890z1", "1234567890z2"]
    assert plane.nodes("555") == ["555"]


def test_edge_nodes_one_a_zone_with_addresses_kept() -> None:
    """Outside a VPC: one node an enabled zone, each with its own pool addresses,
    recorded on the row and kept on the next pass; cross-zone on frees the others."""
    import ipaddress

    lb = SimpleNamespace(lb_id="1234567890", zones=["z-a", "z-b"], scheme="internet-facing",
                         attributes={}, address=None, public_address=None, zone_addresses=[])
    conf = {"uplink_netns": "up", "uplink_bridge": "", "gateway": None}

    def pools() -> dataplane.Pools:
        return dataplane.Pools(
            ipaddress.IPv4Network("10.9.0.8/29"), set(dataplane._private_addresses(lb)),  # type: ignore[arg-type]
            ipaddress.IPv4Network("198.51.100.8/29"),
            set(dataplane._public_addresses(lb)))  # type: ignore[arg-type]

    nodes = dataplane.edge_nodes(lb, conf, pools(), 24)  # type: ignore[arg-type]
    assert [(n.node_id, n.zone, n.uplink["address"], n.public_ip) for n in nodes] == [
        ("1234567890", "z-a", "10.9.0.9/24", "198.51.100.9"),
        ("1234567890z1", "z-b", "10.9.0.10/24", "198.51.100.10")]
    assert lb.zone_addresses == [["z-b", "10.9.0.10", "198.51.100.10"]]
    again = dataplane.edge_nodes(lb, conf, pools(), 24)  # type: ignore[arg-type]
    assert again == nodes  # the recorded addresses, not new ones
    lb.attributes = {"CrossZoneLoadBalancing": {"Enabled": True}}
    [one] = dataplane.edge_nodes(lb, conf, pools(), 24)  # type: ignore[arg-type]
    assert (one.node_id, one.zone, one.uplink["address"]) == ("1234567890", None,
                                                              "10.9.0.9/24")
    assert lb.zone_addresses == []  # the second zone's addresses freed
    lb.attributes, lb.scheme = {}, "internal"
    assert [n.public_ip for n in dataplane.edge_nodes(lb, conf, pools(), 24)] == [  # type: ignore[arg-type]
        None, None]
