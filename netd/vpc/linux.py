"""The Linux driver of the VPC agent: namespaces, links, routes, nftables, dnsmasq.

Owns: programming one host through network namespaces named with the host's
prefix (`<prefix>r-<vpc>` routers, `<prefix>n-<nat>` NAT gateways). Reads go
through pyroute2 inside the namespace; changes go through one `ip -batch`
per namespace (host side: ENI veths whose router end is created directly in
the router namespace, the VXLAN port created in the host namespace, so its
UDP socket stays on the underlay, then moved into the router, the outside
leg on the outside bridge), the forwarding entries through pyroute2, the
ruleset through libnftables as one transaction. One dnsmasq per router
serving its subnets with local ENIs (a tag per subnet bridge: DHCP static
leases plus DNS for the `ip-a-b-c-d` names), tracked by pid files under
`state_dir/<namespace>/dhcp/`; a lease of an interface that is gone is dropped (with a
restart: dnsmasq keeps leases in memory) so its address can go to the next one.

Only touches the namespaces it names, and in the host namespace only links
whose names it derives (`te*` taps, `x*` VXLAN, `o*` outside legs).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from netd import daemons, netns
from netd import dhcp as dhcp_leases
from netd.links import sync_fdb, with_ipr
from netd.vpc.names import outside_leg_name, short
from netd.vpc.plan import ROUTE_PROTO, Dhcp, HostConfig, HostPlan, NatSpec, PeerLink, RouterSpec

NETNS_DIR = "/run/netns"
METADATA_IP = "169.254.169.254"
DHCP_DIR = "dhcp"  # a router's dnsmasq state under <state>/<router ns>/
_SYSCTLS = (("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
            ("net.bridge.bridge-nf-call-iptables", "1"))
# No IPv6 in a router namespace (VPCs are IPv4 here): set before any link exists, so no
# link-local address, duplicate-address detection or multicast join is made for the
# 1,000s of legs and bridges of a host (kernel work a from-scratch apply otherwise pays
# for every device). Skipped on a kernel without IPv6.
_OPTIONAL_SYSCTLS = (("net.ipv6.conf.default.disable_ipv6", "1"),
                     ("net.ipv6.conf.all.disable_ipv6", "1"))


# The policy rules a new namespace starts with (besides `local`, pref 0): main, default.
_NEW_NS_RULES = ((32766, "", 254), (32767, "", 253))


class DriverError(RuntimeError):
    """A kernel or helper program refused a change."""


def _batch(ns: str | None, lines: list[str], force: bool = False) -> None:
    if not lines:
        return
    argv = ["ip"] + (["-n", ns] if ns is not None else []) + (["-force"] if force else [])
    argv += ["-batch", "-"]
    proc = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if proc.returncode != 0 and not force:
        raise DriverError(f"ip -batch in {ns or 'root'} failed: {proc.stderr.strip()[:800]}")


def _nft_here(ns: str, text: str) -> None:
    """Run an nft script in the calling thread's namespace (`ns` names it in errors)."""
    import nftables  # Debian python3-nftables; see scripts/deps/net.sh

    rc, _out, err = nftables.Nftables().cmd(text)
    if rc != 0:
        raise DriverError(f"nft in {ns} failed: {str(err).strip()[:1500]}")


def nft_text(ns: str, text: str) -> None:
    netns.run_in(ns, lambda: _nft_here(ns, text))


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


def _route_key(spec: str) -> tuple[str, int]:
    words = spec.split()
    table = int(words[words.index("table") + 1]) if "table" in words else 254
    dst = words[0] if words[0] != "default" else "0.0.0.0/0"
    return (dst if "/" in dst else f"{dst}/32", table)


def _rule_key(spec: str) -> tuple[int, str, int]:
    words = spec.split()
    table = words[words.index("lookup") + 1]
    src = words[words.index("from") + 1] if "from" in words else ""
    return (int(words[words.index("pref") + 1]), src,
            254 if table == "main" else 255 if table == "local" else int(table))


def _routing(ipr: Any) -> dict[str, Any]:
    """Our routes (protocol 99, every table), the policy rules (but the local one) and
    the permanent neighbours in the namespace, as comparable keys."""
    names = {int(m["index"]): str(m.get_attr("IFLA_IFNAME")) for m in ipr.get_links()}
    routes: set[tuple[str, int]] = set()
    for m in ipr.route("dump", family=2):
        if m["proto"] != ROUTE_PROTO:
            continue
        table = m.get_attr("RTA_TABLE") or m["table"]
        routes.add((f"{m.get_attr('RTA_DST') or '0.0.0.0'}/{m['dst_len']}", int(table)))
    rules: set[tuple[int, str, int]] = set()
    for m in ipr.get_rules(family=2):
        pref = int(m.get_attr("FRA_PRIORITY") or 0)
        if pref == 0:
            continue
        src = f"{m.get_attr('FRA_SRC')}/{m['src_len']}" if m.get_attr("FRA_SRC") else ""
        rules.add((pref, src, int(m.get_attr("FRA_TABLE") or m["table"])))
    neigh: set[tuple[str, str]] = set()
    for m in ipr.get_neighbours(family=2):
        if m["state"] & 0x80:  # NUD_PERMANENT
            neigh.add((str(m.get_attr("NDA_DST")), names.get(int(m["ifindex"]), "")))
    return {"routes": routes, "rules": rules, "neigh": neigh}


def dnsmasq_argv(sdir: Path, dhcp: tuple[Dhcp, ...]) -> list[str]:
    """The command line of a router's dnsmasq: the VPC's domain, then per subnet bridge
    (tag) its interface, listen address, static range, router and name servers."""
    domain = dhcp[0].domain
    argv = ["dnsmasq", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--bind-interfaces", "--except-interface=lo",
            f"--dhcp-hostsfile={sdir / 'hosts'}", f"--dhcp-leasefile={sdir / 'leases'}",
            f"--addn-hosts={sdir / 'names'}", f"--pid-file={sdir / 'dnsmasq.pid'}",
            "--dhcp-authoritative", "--no-ping", "--user=root", f"--domain={domain}",
            f"--local=/{domain}/", "--expand-hosts",
            f"--dhcp-option=option:domain-name,{domain}"]
    for d in dhcp:
        net = ipaddress.ip_network(d.cidr, strict=False)
        argv += [f"--interface={d.bridge}", f"--listen-address={d.gateway}",
                 f"--dhcp-range=set:{d.bridge},{net.network_address},static,{net.netmask},3600",
                 f"--dhcp-option=tag:{d.bridge},option:router,{d.gateway}"]
        if d.dns:
            argv.append(f"--dhcp-option=tag:{d.bridge},option:dns-server," + ",".join(d.dns))
    return argv


def host_link_names(ns: str | None) -> list[str]:
    """Link names in `ns` (None: the agent's own namespace; `ip -o link`: far cheaper
    than netlink parsing for 1,000s)."""
    argv = ["ip"] + (["-n", ns] if ns else []) + ["-o", "link", "show"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return [ln.split(":", 2)[1].strip().split("@", 1)[0] for ln in proc.stdout.splitlines()
            if ln.count(":") >= 2]


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdef" for c in s)


class LinuxDriver:
    def __init__(self, cfg: HostConfig, state_dir: Path) -> None:
        self.cfg = cfg
        # The host's own namespace: a named one (tests: each host is a namespace) or,
        # when `host_ns` is empty, the namespace the agent runs in (a real host).
        self.host_ns: str | None = cfg.host_ns or None
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # namespaces this driver made and nothing has touched since: they hold only `lo`,
        # so their first apply needs no read of links, addresses and routes
        self._fresh: set[str] = set()
        self._fresh_lock = threading.Lock()

    # -- namespaces ----------------------------------------------------------------------
    def namespaces(self) -> set[str]:
        try:
            names = os.listdir(NETNS_DIR)
        except FileNotFoundError:
            return set()
        return {n for n in names if n.startswith(self.cfg.prefix)}

    def create_namespace(self, ns: str) -> None:
        fresh = not netns.exists(ns)
        if fresh:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)

        def sysctls() -> None:
            for key, value in _SYSCTLS:
                path = "/proc/sys/" + key.replace(".", "/")
                if not os.path.exists(path):
                    # Without br_netfilter, bridged traffic between two ENIs of one
                    # subnet would bypass their security groups: refuse, loudly.
                    raise DriverError(f"{key} is missing: load br_netfilter "
                                      "(modprobe br_netfilter) on this host")
                with open(path, "w") as fh:
                    fh.write(value)
            for key, value in _OPTIONAL_SYSCTLS:
                path = "/proc/sys/" + key.replace(".", "/")
                if os.path.exists(path):
                    with open(path, "w") as fh:
                        fh.write(value)

        netns.run_in(ns, sysctls)
        if fresh:
            with self._fresh_lock:
                self._fresh.add(ns)

    def _take_fresh(self, ns: str) -> bool:
        with self._fresh_lock:
            if ns in self._fresh:
                self._fresh.discard(ns)
                return True
            return False

    def delete_namespace(self, ns: str) -> None:
        self._take_fresh(ns)
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
        self._take_fresh(link.ns_a)
        self._take_fresh(link.ns_b)
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
        return outside_leg_name(ns)

    def _host_lines(self, spec: RouterSpec, links: set[str]) -> list[str]:
        """`ip -batch` lines (host namespace, `-force`) creating the legs of `spec`
        whose router end is missing from `links`."""
        ns, cfg = spec.ns, self.cfg
        host_lines: list[str] = []
        for p in spec.ports:
            if p.inner not in links:
                # `-force`: a host end left by a crash between the halves is removed first.
                host_lines += [f"link del {p.outer}",
                               f"link add {p.outer} address {p.outer_mac or p.mac} type veth "
                               f"peer name {p.inner} netns {ns}",
                               f"link set {p.outer} up"]
                if p.guest_bridge:
                    host_lines += [f"link add {p.guest_bridge} type bridge",
                                   f"link set {p.outer} master {p.guest_bridge}",
                                   f"link set {p.guest_bridge} up"]
        vx_tmp = self._vx_tmp(ns)
        if "vx" not in links and vx_tmp not in links:
            host_lines += [f"link del {vx_tmp}",
                           f"link add {vx_tmp} type vxlan id {spec.vni} local {cfg.underlay_ip} "
                           f"dev {cfg.underlay_dev} dstport {cfg.vxlan_port} nolearning",
                           f"link set {vx_tmp} netns {ns}"]
        out_host = self._out_name(ns)
        if spec.outside is not None and "out" not in links:
            host_lines += [f"link del {out_host}",
                           f"link add {out_host} type veth peer name out netns {ns}",
                           f"link set {out_host} master {cfg.outside_bridge} up"]
        return host_lines

    def apply_router(self, spec: RouterSpec) -> None:
        """Converge one router namespace: one read, one host batch, one router batch,
        one netlink pass (forwarding entries, sysctls), one nftables transaction. A
        namespace this driver has just made is not read (it holds only `lo`) and, without
        VXLAN peers, needs no netlink socket after the batches either."""
        ns = spec.ns
        fresh = self._take_fresh(ns)
        if fresh:  # only `lo` there (down): nothing to read
            links: dict[str, dict[str, Any]] = {"lo": {
                "index": 1, "up": False, "mac": "00:00:00:00:00:00", "master": None,
                "kind": None}}
            addrs: dict[int, set[str]] = {}
            tables: dict[str, Any] = {"routes": set(), "rules": set(_NEW_NS_RULES),
                                      "neigh": set()}
        else:
            links, addrs, tables = with_ipr(ns, lambda ipr: (_links(ipr), _addrs(ipr),
                                                              _routing(ipr)))
        vx_tmp = self._vx_tmp(ns)
        host_lines = self._host_lines(spec, set(links))
        if host_lines:
            _batch(self.host_ns, host_lines, force=True)
        lines: list[str] = ["link set lo up"]
        if "vx" not in links:
            lines.append(f"link set {vx_tmp} name vx")
        want = ({"lo", "vx", vx_tmp} | {b.name for b in spec.bridges}
                | {p.inner for p in spec.ports} | set(spec.keep)
                | ({"out"} if spec.outside is not None else set()))
        lines += [f"link del {n}" for n in sorted(set(links) - want)]
        # Touch only what differs: re-setting even the same MAC makes the kernel flush
        # the device's ARP entries and drop packets waiting on a resolution.
        def ensure(name: str, mac: str | None = None, master: str | None = None) -> None:
            have = links.get(name)
            if have is not None and have["up"] and (mac is None or have["mac"] == mac) and (
                    master is None or have["master"] == links.get(master, {}).get("index")):
                return
            args = (f" address {mac}" if mac and (have is None or have["mac"] != mac) else "")
            args += f" master {master}" if master else ""
            lines.append(f"link set {name}{args} up")

        for b in spec.bridges:
            if b.name not in links:
                lines.append(f"link add {b.name} address {b.mac} type bridge")
            ensure(b.name, b.mac)
        if "vx" in links:
            ensure("vx", spec.mac)
        else:
            lines.append(f"link set vx address {spec.mac} up")
        for p in spec.ports:
            ensure(p.inner, master=p.bridge)
        for name in spec.keep:
            if name in links:
                ensure(name)
        if spec.outside is not None:
            ensure("out")
        # Addresses are diffed (no gap for connected routes); routes, rules and
        # neighbours are ours alone in this namespace and rewritten.
        wanted_addrs = {b.name: {b.address} for b in spec.bridges}
        if spec.outside is not None:
            wanted_addrs["out"] = {f"{a}/32" for a in spec.outside}
        for name, want_a in wanted_addrs.items():
            have_a = addrs.get(int(links[name]["index"]), set()) if name in links else set()
            lines += [f"addr del {a} dev {name}" for a in sorted(have_a - want_a)]
            lines += [f"addr add {a} dev {name}" for a in sorted(want_a - have_a)]
        # Neighbours and routes are replaced in place and only extras deleted, rules
        # only changed where they differ: a resync never opens a gap for packets.
        lines += [f"neigh replace {ip} lladdr {mac} dev {dev} nud permanent"
                  for ip, mac, dev in spec.neighbours]
        want_routes = {_route_key(r) for r in spec.routes}
        lines += [f"route replace {r}" for r in spec.routes]
        lines += [f"route del {dst} table {table} proto {ROUTE_PROTO}"
                  for dst, table in sorted(tables["routes"] - want_routes)]
        want_rules = {_rule_key(r): r for r in spec.rules}
        have_rules = tables["rules"]
        for key in sorted(have_rules - set(want_rules)):
            lines.append(f"rule del pref {key[0]}" + (f" from {key[1]}" if key[1] else "")
                         + f" lookup {key[2]}")
        lines += [f"rule add {r}" for k, r in want_rules.items() if k not in have_rules]
        want_neigh = {(ip, dev) for ip, _mac, dev in spec.neighbours}
        lines += [f"neigh del {ip} dev {dev}" for ip, dev in sorted(tables["neigh"] - want_neigh)
                  if dev in links or dev == "vx"]
        _batch(ns, lines)
        bridges = [b.name for b in spec.bridges]

        def finish(ipr: Any) -> None:
            if ipr is not None:
                sync_fdb(ipr, "vx", set(spec.fdb))
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

            _nft_here(ns, spec.nft)

        if fresh and not spec.fdb:  # a new VXLAN port has no forwarding entries to sync
            netns.run_in(ns, lambda: finish(None))
        else:
            with_ipr(ns, finish)
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
        """One dnsmasq per router namespace serving every subnet of the VPC here with DHCP
        and DNS (a tag per subnet bridge: its range, router and name servers): one daemon
        start per VPC, not per subnet."""
        root = self.state_dir / spec.ns
        sdir = root / DHCP_DIR
        if root.is_dir():  # a dnsmasq per subnet (the layout before this one)
            for sub in root.iterdir():
                if sub.is_dir() and sub.name.startswith("b-"):
                    daemons.stop(sub / "dnsmasq.pid")
                    shutil.rmtree(sub, ignore_errors=True)
        if not spec.dhcp:
            if sdir.is_dir():
                daemons.stop(sdir / "dnsmasq.pid")
                shutil.rmtree(sdir, ignore_errors=True)
            return
        self._ensure_dnsmasq(spec.ns, sdir, spec.dhcp)

    def _ensure_dnsmasq(self, ns: str, sdir: Path, dhcp: tuple[Dhcp, ...]) -> None:
        sdir.mkdir(parents=True, exist_ok=True)
        pidfile = sdir / "dnsmasq.pid"
        hosts_text = "".join(f"{h.mac},{h.ip},{h.name}\n" for d in dhcp for h in d.hosts)
        domain = dhcp[0].domain  # the VPC's option set: the same for each of its subnets
        records = sorted({(ip, n) for d in dhcp for ip, n in d.names})
        names_text = "".join(f"{ip} {n}.{domain} {n}\n" for ip, n in records)
        changed = False
        for name, text in (("hosts", hosts_text), ("names", names_text)):
            path = sdir / name
            if not path.exists() or path.read_text() != text:
                changed = True
                tmp = sdir / f"{name}.tmp"
                tmp.write_text(text)
                os.replace(tmp, path)
        argv = dnsmasq_argv(sdir, dhcp)
        pid = daemons.running(pidfile, argv)
        # a lease of an interface that is gone holds its address (dnsmasq keeps it in
        # memory and in its file until it expires): the next interface given that
        # address, a guest launched after another was terminated, would get no offer
        stale = dhcp_leases.stale_leases(sdir / "leases",
                                         {h.mac.lower() for d in dhcp for h in d.hosts})
        if pid is not None and not stale:
            if changed:
                daemons.signal_pid(pid, 1)  # SIGHUP: re-read the hosts files
            return
        daemons.stop(pidfile)
        if stale:  # dropped while dnsmasq is down
            dhcp_leases.prune_leases(sdir / "leases", stale)
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
        _batch(spec.ns, ["link set lo up", "addr flush dev eth0", f"addr add {spec.address} dev eth0",
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
        want = {self.state_dir / r.ns / DHCP_DIR / "dnsmasq.pid"
                for r in plan.routers.values() if r.dhcp}
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
        keep_tb = {p.guest_bridge for r in plan.routers.values() for p in r.ports
                   if p.guest_bridge}
        names = host_link_names(self.host_ns)
        stale = [n for n in names if len(n) == 14 and _is_hex(n[1:])
                 and (n.startswith("x") or (n.startswith("o") and n not in keep_out))]
        stale += [n for n in names if len(n) == 14 and n.startswith("tb") and _is_hex(n[2:])
                  and n not in keep_tb]
        _batch(self.host_ns, [f"link del {n}" for n in stale], force=True)
        stale += self._orphan_dnsmasq(plan)
        # dnsmasq state of namespaces that are gone.
        if self.state_dir.is_dir():
            live = self.namespaces()
            for sub in self.state_dir.iterdir():
                if sub.is_dir() and sub.name.startswith(self.cfg.prefix) and sub.name not in live:
                    self.delete_namespace(sub.name)
                    stale.append(sub.name)
        return len(stale)
