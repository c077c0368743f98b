"""DHCP for instances: one dnsmasq per host namespace, static leases only.

Owns: the dnsmasq process bound to the instance bridge, its hosts file (one
`MAC,IP,name` line per local instance; dnsmasq answers no other MAC because
the range is `static`), its lease and pid files under the host's state dir.
A change of hosts is applied by rewriting the file and sending SIGHUP; a
change of anything on the command line restarts dnsmasq, and so does a lease
left by a host that is gone (pruned from the lease file while dnsmasq is down).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from netd import daemons
from netd.view import IPv4, Net4

DNSMASQ = "dnsmasq"


@dataclass(frozen=True)
class DhcpSpec:
    bridge: str
    subnet: Net4
    gateway: IPv4
    dns_servers: tuple[IPv4, ...] = ()
    domain: str = ""
    mtu: int | None = None
    lease_seconds: int = 43200
    hosts: tuple[tuple[str, IPv4, str], ...] = ()


def _paths(state_dir: Path) -> dict[str, Path]:
    return {
        "pid": state_dir / "dnsmasq.pid",
        "hosts": state_dir / "dhcp-hosts",
        "leases": state_dir / "dnsmasq.leases",
        "log": state_dir / "dnsmasq.log",
    }


def argv(state_dir: Path, spec: DhcpSpec) -> list[str]:
    p = _paths(state_dir)
    args = [
        DNSMASQ, "--conf-file=/dev/null", "--port=0", "--no-resolv", "--no-hosts",
        "--bind-interfaces", f"--interface={spec.bridge}", "--except-interface=lo",
        f"--dhcp-range={spec.subnet.network_address},static,{spec.subnet.netmask},"
        f"{spec.lease_seconds}",
        f"--dhcp-hostsfile={p['hosts']}", f"--dhcp-leasefile={p['leases']}",
        f"--pid-file={p['pid']}", "--dhcp-authoritative", "--no-ping", "--user=root",
        f"--dhcp-option=option:router,{spec.gateway}",
    ]
    if spec.dns_servers:
        args.append("--dhcp-option=option:dns-server," + ",".join(map(str, spec.dns_servers)))
    if spec.domain:
        args.append(f"--dhcp-option=option:domain-name,{spec.domain}")
    if spec.mtu:
        args.append(f"--dhcp-option=option:mtu,{spec.mtu}")
    return args


def hosts_text(spec: DhcpSpec) -> str:
    return "".join(f"{mac},{ip},{name}\n" for mac, ip, name in sorted(spec.hosts))


def ensure(ns: str, state_dir: Path, spec: DhcpSpec) -> str:
    """Converge dnsmasq; return what was done: 'none', 'reloaded' or 'started'."""
    p = _paths(state_dir)
    text = hosts_text(spec)
    changed = not p["hosts"].exists() or p["hosts"].read_text() != text
    if changed:
        tmp = p["hosts"].with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, p["hosts"])
    want = argv(state_dir, spec)
    pid = daemons.running(p["pid"], want)
    stale = stale_leases(p["leases"], {mac.lower() for mac, _, _ in spec.hosts})
    if pid is not None and not stale:
        if changed:
            daemons.signal_pid(pid, signal.SIGHUP)
            return "reloaded"
        return "none"
    # dnsmasq keeps a removed host's lease (in memory and in its file) until it
    # expires: drop it while dnsmasq is down, so a gone instance leaves nothing.
    daemons.stop(p["pid"])
    if stale:
        prune_leases(p["leases"], stale)
    daemons.start(ns, want, p["log"], wait=True)
    daemons.wait_for_pidfile(p["pid"], want)
    return "started"


def stale_leases(path: Path, macs: set[str]) -> set[str]:
    """MACs holding a lease in `path` that no longer have a host entry."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return set()
    fields = (line.split() for line in lines)
    return {f[1].lower() for f in fields if len(f) >= 3 and f[1].lower() not in macs}


def prune_leases(path: Path, stale: set[str]) -> None:
    keep = [line for line in path.read_text().splitlines()
            if len(line.split()) < 3 or line.split()[1].lower() not in stale]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{line}\n" for line in keep))
    os.replace(tmp, path)


def stop(state_dir: Path) -> bool:
    return daemons.stop(_paths(state_dir)["pid"])
