"""Stable names and MACs of what the VPC agent creates, derived from topology ids.

Interface names stay within 15 characters; a restarted agent finds its own
objects again by these names (mark and sweep), and every host derives the
same router MAC for a (host, VPC) pair without asking anyone.
"""

from __future__ import annotations

import hashlib


def short(obj_id: str, n: int = 10) -> str:
    return hashlib.sha256(obj_id.encode()).hexdigest()[:n]


def stable_mac(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *h[:5]))


def router_mac(host: str, vpc_id: str) -> str:
    """The MAC of VPC `vpc_id`'s router on `host` (its VXLAN port)."""
    return stable_mac(f"vx/{host}/{vpc_id}")


def bridge_name(subnet_id: str) -> str:
    return f"b-{short(subnet_id)}"


def tap_name(eni_id: str) -> str:
    """The host-side end of an ENI's veth: what the hypervisor (or a test) plugs in."""
    return f"te{short(eni_id, 12)}"


def eni_port(eni_id: str) -> str:
    return f"e-{short(eni_id)}"


def nat_port(nat_id: str) -> str:
    return f"n-{short(nat_id)}"


def pcx_port(pcx_id: str) -> str:
    return f"p-{short(pcx_id)}"


def outside_leg_name(router_ns: str) -> str:
    """The host-side end of a router's outside leg (on the outside bridge)."""
    return f"o{short(router_ns, 13)}"


def guest_bridge_name(eni_id: str) -> str:
    """The host bridge a hypervisor plugs the guest's tap into (`guest_bridges` mode)."""
    return f"tb{short(eni_id, 12)}"


def guest_tap_name(eni_id: str) -> str:
    """The hypervisor's tap of the guest NIC on `guest_bridge_name` (libvirt's target dev)."""
    return f"tv{short(eni_id, 12)}"


# host-side links of the VPC data plane, as nftables wildcards: on guest bridges (the
# routers' legs, the guests' taps, load balancers' nodes) and on the outside bridge (the
# routers' outside legs, ``o`` + 13 hex digits): a host's EDGE firewall leaves frames
# entering through them alone (the VPC routers police them)
HOST_PORT_PATTERNS = ("te*", "tv*", "tl*", "o*")


def lb_port_name(node_id: str) -> str:
    """The host-side veth of a load balancer's haproxy node on its interface's guest
    bridge (``tl<node id>``): one of `HOST_PORT_PATTERNS`, so a host's EDGE firewall
    leaves it to the VPC routers, as the guests' taps."""
    return f"tl{node_id}"[:15]
