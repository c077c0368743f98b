"""The Linux driver of the VPC agent: namespaces, links, routes, nftables, dnsmasq.

Owns: programming one host through network namespaces named with the host's
prefix (`<prefix>r-<vpc>` routers, `<prefix>n-<nat>` NAT gateways). Reads go
through pyroute2 inside the namespace; changes go through one `ip -batch`
per namespace (host side: ENI veths whose router end is created directly in
the router namespace, the VXLAN port created in the host namespace, so its
UDP socket stays on the underlay, then moved into the router, the outside
leg on the outside bridge), the forwarding entries through pyroute2, the
ruleset through libnftables as one transaction. dnsmasq per subnet with
local ENIs (DHCP static leases plus DNS for the `ip-a-b-c-d` names), tracked
by pid files under `state_dir/<namespace>/`.

Only touches the namespaces it names, and in the host namespace only links
whose names it derives (`te*` taps, `x*` VXLAN, `o*` outside legs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from netd import daemons, netns
from netd.links import sync_fdb, with_ipr
from netd.vpc.names import short
from netd.vpc.plan import Dhcp, HostConfig, HostPlan, NatSpec, PeerLink, RouterSpec

NETNS_DIR = "/run/netns"
METADATA_IP = "169.254.169.254"
_SYSCTLS = (("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
            ("net.bridge.bridge-nf-call-iptables", "1"))


class DriverError(RuntimeError):
    """A kernel or helper program refused a change."""


def _batch(ns: str | None, lines: list[str], force: bool = False) -> None:
    if not lines:
        return
    argv = ["ip"] + (["-force"] if force else []) + ["-batch", "-"]
    if ns is not None:
        argv = netns.exec_prefix(ns) + argv
    proc = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise DriverError(f"ip -batch in {ns or 'root'} failed: {proc.stderr.strip()[:800]}")


def nft_text(ns: str, text: str) -> None:
    def run() -> tuple[int, str]:
        import nftables  # Debian python3-nftables; see scripts/deps/net.sh

        nft = nftables.Nftables()
        rc, _out, err = nft.cmd(text)
        return int(rc), str(err)

    rc, err = netns.run_in(ns, run)
    if rc != 0:
        raise DriverError(f"nft in {ns} failed: {err.strip()[:1500]}")


def _links(ipr: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for msg in ipr.get_links():
        info = msg.get_attr("IFLA_LINKINFO")
        out[str(msg.get_attr("IFLA_IFNAME"))] = {
            "index": msg["index"], "master": msg.get_attr("IFLA_MASTER"),
            "mac": msg.get_attr("IFLA_ADDRESS"), "up": bool(msg["flags"] & 1),
            "kind": info.get_attr("IFLA_INFO_KIND") if info is not None else None,
        }
    return out


def _addrs(ipr: Any) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for msg in ipr.get_addr(family=2):
        out.setdefault(int(msg["index"]), set()).add(
            f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
    return out


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdef" for c in s)


class LinuxDriver:
    def __init__(self, cfg: HostConfig, state_dir: Path) -> None:
        self.cfg = cfg
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    # -- namespaces ----------------------------------------------------------------------
    def namespaces(self) -> set[str]:
        try:
            names = os.listdir(NETNS_DIR)
        except FileNotFoundError:
            return set()
        return {n for n in names if n.startswith(self.cfg.prefix)}

    def create_namespace(self, ns: str) -> None:
        if not netns.exists(ns):
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        _batch(ns, ["link set lo up"])

        def sysctls() -> None:
            for key, value in _SYSCTLS:
                path = "/proc/sys/" + key.replace(".", "/")
                if os.path.exists(path):
                    with open(path, "w") as fh:
                        fh.write(value)

        netns.run_in(ns, sysctls)

    def delete_namespace(self, ns: str) -> None:
        sdir = self.state_dir / ns
        if sdir.is_dir():
            for pidfile in [*sdir.glob("*/dnsmasq.pid"), *sdir.glob("*/mdproxy.pid")]:
                daemons.stop(pidfile)
            shutil.rmtree(sdir, ignore_errors=True)
        if netns.exists(ns):
            subprocess.run(["ip", "netns", "del", ns], check=True, capture_output=True)

    def digest(self, ns: str) -> str | None:
        try:
            return (self.state_dir / ns / "digest").read_text().strip()
        except OSError:
            return None

    def set_digest(self, ns: str, digest: str) -> None:
        d = self.state_dir / ns
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "digest.tmp"
        tmp.write_text(digest)
        os.replace(tmp, d / "digest")

    # -- peering legs --------------------------------------------------------------------
    def ensure_peer_link(self, link: PeerLink) -> bool:
        have = with_ipr(link.ns_a, _links)
        if link.name_a in have:
            return False
        _batch(link.ns_a, [f"link add {link.name_a} address {link.mac_a} type veth "
                           f"peer name {link.name_b} address {link.mac_b} netns {link.ns_b}",
                           f"link set {link.name_a} up"])
        _batch(link.ns_b, [f"link set {link.name_b} up"])
        return True

    # -- routers ---------------------------------------------------------------------------
    def _vx_tmp(self, ns: str) -> str:
        return f"x{short(ns, 13)}"

    def _out_name(self, ns: str) -> str:
        return f"o{short(ns, 13)}"

    def apply_router(self, spec: RouterSpec) -> None:
        ns, cfg = spec.ns, self.cfg
        links = with_ipr(ns, _links)
        host_lines: list[str] = []
        for p in spec.ports:
            if p.inner not in links:
                host_lines += [f"link add {p.outer} address {p.mac} type veth peer name "
                               f"{p.inner} netns {ns}", f"link set {p.outer} up"]
        vx_tmp = self._vx_tmp(ns)
        if "vx" not in links and vx_tmp not in links:
            host_lines += [f"link add {vx_tmp} type vxlan id {spec.vni} local {cfg.underlay_ip} "
                           f"dev {cfg.underlay_dev} dstport {cfg.vxlan_port} nolearning",
                           f"link set {vx_tmp} netns {ns}"]
        out_host = self._out_name(ns)
        if spec.outside is not None and "out" not in links:
            host_lines += [f"link add {out_host} type veth peer name out netns {ns}",
                           f"link set {out_host} master {cfg.outside_bridge} up"]
        # A host end left by a crash between the two halves would block the add.
        stale_host = [ln.split()[2] for ln in host_lines if ln.startswith("link add ")]
        host_have = with_ipr(cfg.host_ns, _links)
        pre = [f"link del {n}" for n in stale_host if n in host_have]
        _batch(cfg.host_ns, pre + host_lines)
        links = with_ipr(ns, _links)
        lines: list[str] = []
        if vx_tmp in links:
            lines.append(f"link set {vx_tmp} name vx")
        want = ({"lo", "vx", vx_tmp} | {b.name for b in spec.bridges}
                | {p.inner for p in spec.ports} | set(spec.keep)
                | ({"out"} if spec.outside is not None else set()))
        lines += [f"link del {n}" for n in sorted(set(links) - want)]
        for b in spec.bridges:
            if b.name not in links:
                lines.append(f"link add {b.name} address {b.mac} type bridge")
            lines.append(f"link set {b.name} address {b.mac} up")
        lines.append(f"link set vx address {spec.mac} up")
        for p in spec.ports:
            lines.append(f"link set {p.inner} master {p.bridge} up")
        for name in spec.keep:
            if name in links:
                lines.append(f"link set {name} up")
        if spec.outside is not None:
            lines.append("link set out up")
        _batch(ns, lines)
        bridges = [b.name for b in spec.bridges]

        def proxy_arp() -> None:
            # No reverse-path filter on any port (a device moved in from the host keeps
            # the host's setting; peered and NAT'd sources have no route back that way).
            for name in os.listdir("/proc/sys/net/ipv4/conf"):
                with open(f"/proc/sys/net/ipv4/conf/{name}/rp_filter", "w") as fh:
                    fh.write("0")
            # Answer ARP for same-subnet addresses on other hosts (routed over VXLAN).
            for name in bridges:
                with open(f"/proc/sys/net/ipv4/conf/{name}/proxy_arp", "w") as fh:
                    fh.write("1")
                with open(f"/proc/sys/net/ipv4/neigh/{name}/proxy_delay", "w") as fh:
                    fh.write("0")

        netns.run_in(ns, proxy_arp)
        # Addresses (diffed: no gap for connected routes), routes, rules, neighbours.
        links = with_ipr(ns, _links)
        addrs = with_ipr(ns, _addrs)
        lines = []
        wanted_addrs = {b.name: {b.address} for b in spec.bridges}
        if spec.outside is not None:
            wanted_addrs["out"] = {f"{a}/32" for a in spec.outside}
        for name, want_a in wanted_addrs.items():
            have_a = addrs.get(int(links[name]["index"]), set()) if name in links else set()
            lines += [f"addr del {a} dev {name}" for a in sorted(have_a - want_a)]
            lines += [f"addr add {a} dev {name}" for a in sorted(want_a - have_a)]
        lines.append("route flush proto 99 table all")
        lines += [f"route replace {r}" for r in spec.routes]
        lines.append("rule flush")
        lines += [f"rule add {r}" for r in spec.rules]
        lines.append("neigh flush nud permanent")
        lines += [f"neigh replace {ip} lladdr {mac} dev {dev} nud permanent"
                  for ip, mac, dev in spec.neighbours]
        _batch(ns, lines)
        with_ipr(ns, lambda ipr: sync_fdb(ipr, "vx", set(spec.fdb)))
        nft_text(ns, spec.nft)
        self._dhcp(spec)
        self._metadata(spec)

    def _metadata(self, spec: RouterSpec) -> None:
        sdir = self.state_dir / spec.ns / "mdproxy"
        if spec.metadata is None or not self.cfg.metadata_upstream:
            daemons.stop(sdir / "mdproxy.pid")
            return
        sdir.mkdir(parents=True, exist_ok=True)
        ident = {ip: {"vpc": vpc, "eni": eni, "instance": inst}
                 for ip, vpc, eni, inst in spec.metadata}
        path = sdir / "identity.json"
        text = json.dumps(ident, sort_keys=True)
        if not path.exists() or path.read_text() != text:
            tmp = sdir / "identity.tmp"
            tmp.write_text(text)
            os.replace(tmp, path)
        _batch(spec.ns, [f"addr replace {METADATA_IP}/32 dev lo"])
        argv = [self.cfg.python, "-m", "netd.mdproxy", "--listen", f"{METADATA_IP}:80",
                "--upstream", self.cfg.metadata_upstream, "--pidfile", str(sdir / "mdproxy.pid"),
                "--identity", str(path)]
        if daemons.running(sdir / "mdproxy.pid", argv) is not None or \
                daemons.starting(sdir / "mdproxy.pid"):
            return
        daemons.stop(sdir / "mdproxy.pid")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[2]),
                        os.environ.get("PYTHONPATH", "")) if p)}
        daemons.start(spec.ns, argv, sdir / "mdproxy.log", wait=False, env=env)
        daemons.wait_for_pidfile(sdir / "mdproxy.pid", argv)

    def _dhcp(self, spec: RouterSpec) -> None:
        root = self.state_dir / spec.ns
        want = {d.bridge: d for d in spec.dhcp}
        if root.is_dir():
            for sub in root.iterdir():
                if sub.is_dir() and sub.name.startswith("b-") and sub.name not in want:
                    daemons.stop(sub / "dnsmasq.pid")
                    shutil.rmtree(sub, ignore_errors=True)
        for name, d in want.items():
            self._ensure_dnsmasq(spec.ns, root / name, d)

    def _ensure_dnsmasq(self, ns: str, sdir: Path, d: Dhcp) -> None:
        sdir.mkdir(parents=True, exist_ok=True)
        pidfile, hosts = sdir / "dnsmasq.pid", sdir / "hosts"
        text = "".join(f"{h.mac},{h.ip},{h.name}\n" for h in d.hosts)
        changed = not hosts.exists() or hosts.read_text() != text
        if changed:
            tmp = sdir / "hosts.tmp"
            tmp.write_text(text)
            os.replace(tmp, hosts)
        names = sdir / "names"
        ntext = "".join(f"{ip} {n}.{d.domain} {n}\n" for ip, n in d.names)
        if not names.exists() or names.read_text() != ntext:
            changed = True
            tmp = sdir / "names.tmp"
            tmp.write_text(ntext)
            os.replace(tmp, names)
        import ipaddress

        net = ipaddress.ip_network(d.cidr, strict=False)
        argv = [
            "dnsmasq", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
            f"--interface={d.bridge}", "--except-interface=lo", f"--listen-address={d.gateway}",
            f"--dhcp-range={net.network_address},static,{net.netmask},3600",
            f"--dhcp-hostsfile={hosts}", f"--dhcp-leasefile={sdir / 'leases'}",
            f"--addn-hosts={names}",
            f"--pid-file={pidfile}", "--dhcp-authoritative", "--no-ping", "--user=root",
            f"--domain={d.domain}", f"--local=/{d.domain}/", "--expand-hosts",
            f"--dhcp-option=option:router,{d.gateway}",
            f"--dhcp-option=option:domain-name,{d.domain}",
        ]
        if d.dns:
            argv.append("--dhcp-option=option:dns-server," + ",".join(d.dns))
        pid = daemons.running(pidfile, argv)
        if pid is not None:
            if changed:
                daemons.signal_pid(pid, 1)  # SIGHUP: re-read the hosts file
            return
        daemons.stop(pidfile)
        daemons.start(ns, argv, sdir / "dnsmasq.log", wait=True)
        daemons.wait_for_pidfile(pidfile, argv)

    # -- NAT gateways -----------------------------------------------------------------------
    def apply_nat(self, spec: NatSpec) -> None:
        rlinks = with_ipr(spec.router_ns, _links)
        nlinks = with_ipr(spec.ns, _links)
        lines: list[str] = []
        if spec.inner not in rlinks or "eth0" not in nlinks:
            if spec.inner in rlinks:
                lines.append(f"link del {spec.inner}")
            lines.append(f"link add {spec.inner} type veth peer name eth0 address {spec.mac} "
                         f"netns {spec.ns}")
        lines.append(f"link set {spec.inner} master {spec.bridge} up")
        _batch(spec.router_ns, lines)
        _batch(spec.ns, ["addr flush dev eth0", f"addr add {spec.address} dev eth0",
                         "link set eth0 up",
                         f"route replace default via {spec.gateway} dev eth0"])
        nft_text(spec.ns, spec.nft)

    def helper_processes(self) -> dict[int, Path]:
        """pid -> pid file of every dnsmasq and metadata proxy started from this
        driver's state dir (found by the pid file their command line names)."""
        out: dict[int, Path] = {}
        prefix = f"{self.state_dir}/"
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            args = daemons.cmdline(int(entry))
            if not args:
                continue
            if args[0].endswith("dnsmasq"):
                for a in args:
                    if a.startswith("--pid-file=" + prefix):
                        out[int(entry)] = Path(a.split("=", 1)[1])
            elif "netd.mdproxy" in args and "--pidfile" in args:
                path = args[args.index("--pidfile") + 1]
                if path.startswith(prefix):
                    out[int(entry)] = Path(path)
        return out

    def dnsmasq_processes(self) -> dict[int, Path]:
        """pid -> state directory of every dnsmasq of ours."""
        return {pid: p.parent for pid, p in self.helper_processes().items()
                if p.name == "dnsmasq.pid"}

    def _orphan_dnsmasq(self, plan: HostPlan) -> list[str]:
        """Kill helpers of ours that nothing desired wants (a crash lost track of them)."""
        want = {self.state_dir / r.ns / d.bridge / "dnsmasq.pid"
                for r in plan.routers.values() for d in r.dhcp}
        want |= {self.state_dir / r.ns / "mdproxy" / "mdproxy.pid"
                 for r in plan.routers.values() if r.metadata is not None}
        killed: list[str] = []
        for pid, pidfile in self.helper_processes().items():
            if pidfile not in want or daemons.read_pid(pidfile) != pid:
                try:
                    os.kill(pid, 9)
                    killed.append(f"{pidfile.name}:{pid}")
                except ProcessLookupError:
                    pass
        return killed

    # -- host namespace sweep -----------------------------------------------------------------
    def sweep_host(self, plan: HostPlan) -> int:
        keep_out = {self._out_name(ns) for ns, r in plan.routers.items() if r.outside is not None}
        have = with_ipr(self.cfg.host_ns, _links)
        stale: list[str] = []
        for name, info in have.items():
            if len(name) != 14 or not _is_hex(name[1:]):
                continue
            if name.startswith("x") and info["kind"] == "vxlan":
                stale.append(name)  # a VXLAN port created but never moved (crash)
            elif name.startswith("o") and info["kind"] == "veth" and name not in keep_out:
                stale.append(name)
        _batch(self.cfg.host_ns, [f"link del {n}" for n in stale], force=True)
        stale += self._orphan_dnsmasq(plan)
        # dnsmasq state of namespaces that are gone.
        if self.state_dir.is_dir():
            live = self.namespaces()
            for sub in self.state_dir.iterdir():
                if sub.is_dir() and sub.name.startswith(self.cfg.prefix) and sub.name not in live:
                    self.delete_namespace(sub.name)
                    stale.append(sub.name)
        return len(stale)
