"""Links, addresses and forwarding entries netd owns in a host namespace.

Owns, through pyroute2 (netlink sockets opened inside the namespace by
`netns.run_in`): the instance bridge and its gateway address, the VXLAN
overlay port and its static forwarding entries (one per remote instance MAC
plus the all-zero entry per peer host for broadcast), and the elastic IP /32
addresses on the host's public interface, plus gratuitous ARP for them.

Ownership: the bridge and VXLAN device are recognised by name; public /32
addresses by lying in the cloud's PublicIps pool. Nothing else is touched.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyroute2 import IPRoute

from netd import netns
from netd.view import IPv4

T = TypeVar("T")
ZERO_MAC = "00:00:00:00:00:00"
VXLAN_PORT = 4789


def with_ipr(ns: str, fn: Callable[[Any], T]) -> T:
    """Call `fn(ipr)` with an IPRoute socket opened inside namespace `ns`."""

    def body() -> T:
        with IPRoute() as ipr:
            return fn(ipr)

    return netns.run_in(ns, body)


def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC derived from `seed`."""
    h = hashlib.sha256(seed.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *h[:5]))


def _index(ipr: Any, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _addrs(ipr: Any, index: int) -> set[tuple[str, int]]:
    out = set()
    for msg in ipr.get_addr(index=index, family=socket.AF_INET):
        out.add((str(msg.get_attr("IFA_ADDRESS")), int(msg["prefixlen"])))
    return out


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    mac: str
    address: IPv4
    prefixlen: int


def ensure_bridge(ipr: Any, spec: BridgeSpec) -> int:
    """Create or fix the bridge: up, stable MAC, exactly the gateway address."""
    idx = _index(ipr, spec.name)
    if idx is None:
        ipr.link("add", ifname=spec.name, kind="bridge", address=spec.mac)
        idx = _index(ipr, spec.name)
        assert idx is not None
    link = ipr.get_links(idx)[0]
    if link.get_attr("IFLA_ADDRESS") != spec.mac:
        ipr.link("set", index=idx, address=spec.mac)
    want = (str(spec.address), spec.prefixlen)
    for addr, plen in _addrs(ipr, idx) - {want}:
        ipr.addr("del", index=idx, address=addr, prefixlen=plen)
    if want not in _addrs(ipr, idx):
        ipr.addr("add", index=idx, address=want[0], prefixlen=want[1])
    if link.get_attr("IFLA_OPERSTATE") != "UP" or not link["flags"] & 1:
        ipr.link("set", index=idx, state="up")
    return idx


@dataclass(frozen=True)
class VxlanSpec:
    name: str
    vni: int
    local: IPv4
    device: str
    bridge: str


def ensure_vxlan(ipr: Any, spec: VxlanSpec) -> int:
    """Create (or re-create when its parameters changed) the overlay port."""
    dev = _index(ipr, spec.device)
    if dev is None:
        raise RuntimeError(f"underlay interface {spec.device!r} does not exist")
    idx = _index(ipr, spec.name)
    if idx is not None:
        info = ipr.get_links(idx)[0].get_attr("IFLA_LINKINFO")
        data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
        same = data is not None and (
            data.get_attr("IFLA_VXLAN_ID") == spec.vni
            and data.get_attr("IFLA_VXLAN_LOCAL") == str(spec.local)
            and data.get_attr("IFLA_VXLAN_LINK") == dev
        )
        if not same:
            ipr.link("del", index=idx)
            idx = None
    if idx is None:
        ipr.link("add", ifname=spec.name, kind="vxlan", vxlan_id=spec.vni,
                 vxlan_local=str(spec.local), vxlan_link=dev, vxlan_port=VXLAN_PORT,
                 vxlan_learning=0)
        idx = _index(ipr, spec.name)
        assert idx is not None
    br = _index(ipr, spec.bridge)
    ipr.link("set", index=idx, master=br, state="up")
    return idx


def delete_link(ipr: Any, name: str) -> bool:
    idx = _index(ipr, name)
    if idx is None:
        return False
    ipr.link("del", index=idx)
    return True


def sync_fdb(ipr: Any, device: str, desired: set[tuple[str, str]]) -> tuple[int, int]:
    """Make the overlay's static (MAC, remote VTEP) entries exactly `desired`."""
    idx = _index(ipr, device)
    if idx is None:
        return (0, 0)
    have: set[tuple[str, str]] = set()
    for msg in ipr.fdb("dump", ifindex=idx):
        if msg["ifindex"] != idx:
            continue
        mac, dst = msg.get_attr("NDA_LLADDR"), msg.get_attr("NDA_DST")
        if mac and dst:
            have.add((str(mac), str(dst)))
    for mac, dst in have - desired:
        ipr.fdb("del", ifindex=idx, lladdr=mac, dst=dst)
    for mac, dst in sorted(desired - have):
        ipr.fdb("append", ifindex=idx, lladdr=mac, dst=dst)
    return (len(desired - have), len(have - desired))


def public_ips_on(ipr: Any, iface: str, owned: Callable[[IPv4], bool]) -> set[str]:
    """The owned /32 addresses currently on `iface`."""
    idx = _index(ipr, iface)
    if idx is None:
        raise RuntimeError(f"public interface {iface!r} does not exist")
    return {a for a, plen in _addrs(ipr, idx) if plen == 32 and owned(IPv4(a))}


def sync_public_ips(ns: str, iface: str, desired: Iterable[IPv4],
                    owned: Callable[[IPv4], bool]) -> list[IPv4]:
    """Make the owned /32s on `iface` exactly `desired`; return the ones added.

    Changes go through one `ip -batch` run: hundreds of addresses in one
    process instead of one netlink round trip each.
    """
    want = {str(ip) for ip in desired}
    have = with_ipr(ns, lambda ipr: public_ips_on(ipr, iface, owned))
    added = sorted(want - have, key=lambda a: int(IPv4(a)))
    batch = [f"address del {a}/32 dev {iface}" for a in sorted(have - want)]
    batch += [f"address add {a}/32 dev {iface}" for a in added]
    if batch:
        proc = subprocess.run(netns.exec_prefix(ns) + ["ip", "-batch", "-"],
                              input="\n".join(batch) + "\n", capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ip -batch in {ns} failed: {proc.stderr.strip()[:500]}")
    return [IPv4(a) for a in added]


def send_garp(ns: str, iface: str, ips: Iterable[IPv4]) -> None:
    """Announce `ips` on `iface` with gratuitous ARP so neighbours update caches."""
    targets = list(ips)
    if not targets:
        return

    def body(ipr: Any) -> None:
        idx = _index(ipr, iface)
        if idx is None:
            return
        mac = bytes.fromhex(str(ipr.get_links(idx)[0].get_attr("IFLA_ADDRESS")).replace(":", ""))
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((iface, 0))
            for ip in targets:
                arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip.packed,
                                  b"\0" * 6, ip.packed)
                s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)

    with_ipr(ns, body)
