"""A namespace laboratory: hosts, instances and an outside world for tests and benches.

Owns: building throw-away topologies entirely inside network namespaces it
creates (all named `cnd-<random>-...`) and removing them again, plus probes
that send real packets from inside those namespaces (TCP connect/listen,
ICMP echo) using sockets opened by threads that joined the namespace.

Topology: an underlay namespace with bridge `br-ul` stands in for the
physical network; every host namespace has `ul0` on it (address, default
route via the outside router); the outside namespace sits on the same
segment with the router address and an address in the public range; an
instance is a namespace whose `eth0` is a veth whose other end (named like
a libvirt tap) is a port of the host's `br-cloud`.

Never touches the root namespace beyond creating and deleting the named
namespaces themselves.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import socket
import struct
import subprocess
import threading
import time
from types import TracebackType
from typing import Any

from netd import netns
from netd.links import with_ipr


def _link_up(ipr: Any, name: str) -> int:
    idx = int(ipr.link_lookup(ifname=name)[0])
    ipr.link("set", index=idx, state="up")
    return idx


class Lab:
    """Creates namespaces with a unique prefix; `close` deletes every one."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"cnd-{secrets.token_hex(3)}"
        self.namespaces: list[str] = []
        self.underlay: str | None = None

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def ns(self, suffix: str) -> str:
        name = f"{self.prefix}-{suffix}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.namespaces.append(name)
        with_ipr(name, lambda ipr: _link_up(ipr, "lo"))
        return name

    def close(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], check=False,
                           stderr=subprocess.DEVNULL)
        self.namespaces.clear()

    def make_underlay(self) -> str:
        ul = self.ns("ul")

        def body(ipr: Any) -> None:
            ipr.link("add", ifname="br-ul", kind="bridge")
            _link_up(ipr, "br-ul")

        with_ipr(ul, body)
        self.underlay = ul
        return ul

    def _plug(self, ns: str, ifname: str, cidrs: list[str], port: str) -> None:
        """Connect `ns` to the underlay bridge by a veth named `ifname` inside `ns`."""
        ul = self.underlay or self.make_underlay()

        def in_ul(ipr: Any) -> None:
            ipr.link("add", ifname=port, kind="veth", peer={"ifname": ifname, "net_ns_fd": ns})
            br = ipr.link_lookup(ifname="br-ul")[0]
            idx = ipr.link_lookup(ifname=port)[0]
            ipr.link("set", index=idx, master=br, state="up")

        with_ipr(ul, in_ul)

        def in_ns(ipr: Any) -> None:
            idx = _link_up(ipr, ifname)
            for c in cidrs:
                iface = ipaddress.IPv4Interface(c)
                ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)

        with_ipr(ns, in_ns)

    def add_outside(self, cidrs: tuple[str, ...] = ("192.168.100.1/24", "198.51.100.1/24")) -> str:
        out = self.ns("out")
        self._plug(out, "eth0", list(cidrs), "p-out")
        return out

    def add_host(self, name: str, cidr: str, router: str | None = "192.168.100.1") -> str:
        h = self.ns(name)
        self._plug(h, "ul0", [cidr], f"p-{name}"[:15])
        if router is not None:
            with_ipr(h, lambda ipr: ipr.route("add", dst="0.0.0.0/0", gateway=router))
        return h

    def add_instance(self, host_ns: str, tap: str, mac: str, cidr: str, gateway: str,
                     bridge: str = "br-cloud") -> str:
        """An instance namespace plugged into `bridge` of `host_ns` through port `tap`."""
        inst = self.ns(f"i{len(self.namespaces)}")

        def in_host(ipr: Any) -> None:
            ipr.link("add", ifname=tap, kind="veth", peer={"ifname": "eth0", "net_ns_fd": inst})
            br = ipr.link_lookup(ifname=bridge)[0]
            idx = ipr.link_lookup(ifname=tap)[0]
            ipr.link("set", index=idx, master=br, state="up")

        with_ipr(host_ns, in_host)

        def in_inst(ipr: Any) -> None:
            idx = int(ipr.link_lookup(ifname="eth0")[0])
            ipr.link("set", index=idx, address=mac, state="up")
            iface = ipaddress.IPv4Interface(cidr)
            ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)

        with_ipr(inst, in_inst)
        return inst


# -- probes ---------------------------------------------------------------------------------

class Listener:
    """A TCP server inside a namespace that answers each client with the peer IP it saw."""

    def __init__(self, ns: str, port: int, host: str = "0.0.0.0") -> None:
        self.sock = netns.listen_in(ns, host, port, backlog=64)
        self.sock.settimeout(0.2)
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                self.peers.append(addr[0])
                try:
                    conn.sendall(f"{addr[0]}\n".encode())
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tcp_probe(ns: str, ip: str, port: int, timeout: float = 1.0,
              source: str | None = None) -> str | None:
    """Connect from `ns`; return the source address the server saw, None if blocked."""

    def body() -> str | None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            if source is not None:
                s.bind((source, 0))
            try:
                s.connect((ip, port))
                return recv_line(s).decode().strip() or None
            except (TimeoutError, ConnectionError, OSError):
                return None

    return netns.run_in(ns, body)


def recv_line(s: socket.socket, size: int = 100) -> bytes:
    """What ``s`` sends up to and including its first newline (or until it closes)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(size)
        if not chunk:
            break
        data += chunk
    return data


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(ns: str, ip: str, timeout: float = 1.0) -> bool:
    """One ICMP echo from `ns` to `ip`; True when the reply arrives in time."""

    def body() -> bool:
        ident = os.getpid() & 0xFFFF
        seq = secrets.randbelow(0xFFFF)
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        payload = b"netd-lab"
        pkt = struct.pack("!BBHHH", 8, 0, _checksum(hdr + payload), ident, seq) + payload
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
            s.settimeout(timeout)
            s.sendto(pkt, (ip, 0))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    data, addr = s.recvfrom(2048)
                except TimeoutError:
                    return False
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    return False
                ihl = (data[0] & 0x0F) * 4
                typ, _code, _ck, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if typ == 0 and addr[0] == ip and rid == ident and rseq == seq:
                    return True
            return False

    return netns.run_in(ns, body)


def wait_until(pred: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def set_mac(ns: str, ifname: str, mac: str) -> None:
    def body(ipr: Any) -> None:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.link("set", index=idx, address=mac)

    with_ipr(ns, body)


def add_address(ns: str, ifname: str, cidr: str) -> None:
    iface = ipaddress.IPv4Interface(cidr)

    def body(ipr: Any) -> None:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)

    with_ipr(ns, body)


__all__ = ["Lab", "Listener", "add_address", "ping", "set_mac", "tcp_probe",
           "wait_until"]
