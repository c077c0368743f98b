"""Reconcile one host's namespace to the network view, idempotently.

Owns the order and the bookkeeping of one host's convergence: per-namespace
sysctls, the instance bridge and gateway address, the VXLAN overlay and its
forwarding entries, the nftables tables (one atomic transaction), elastic IP
addresses on the public interface, dnsmasq, the metadata proxy, and the state
directory (pid, lease and hosts files, the last applied view). `teardown`
removes all of it. Objects are owned by name (`br-cloud`, `vx-cloud`, tables
`bridge netd` / `inet netd`), by pid files under the state dir, or (public
/32 addresses) by lying in the PublicIps pool; nothing else is touched.

Multi-host: instances of all hosts share one L2 private subnet carried by a
VXLAN port on each host's bridge with static forwarding entries rendered from
the view (no flood-and-learn), and every host answers as the subnet gateway
for its own instances only (the overlay never carries gateway ARP or DHCP).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netd import daemons, dhcp, links, netns, nft, render
from netd.view import IPv4, NetworkView, parse_view

VXLAN_OVERHEAD = 50
_PKG_PARENT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class HostConfig:
    """How netd runs on one host (local settings, not part of the view)."""

    netns: str
    host: str
    state_dir: Path
    public_interface: str | None = None
    underlay_interface: str | None = None
    bridge: str = "br-cloud"
    overlay: str = "vx-cloud"
    vni: int = 4242
    metadata_port: int = 8775
    python: str = sys.executable

    def layout(self, view: NetworkView) -> render.HostLayout:
        subnet = view.network.subnet_for_cluster(view.host(self.host).cluster)
        return render.HostLayout(
            host=self.host, bridge=self.bridge,
            overlay=self.overlay if self._overlay_local(view) else None,
            gateway=subnet.gateway, metadata_port=self.metadata_port,
        )

    def _overlay_local(self, view: NetworkView) -> IPv4 | None:
        if self.underlay_interface is None:
            return None
        return view.host(self.host).underlay_ip


@dataclass
class ApplyResult:
    version: int
    dhcp: str = "none"
    eips_added: list[str] = field(default_factory=list)
    fdb_added: int = 0
    fdb_removed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _timed(result: ApplyResult, step: str, t0: float) -> float:
    now = time.perf_counter()
    result.seconds[step] = round(now - t0, 4)
    return now


def reconcile(cfg: HostConfig, view: NetworkView) -> ApplyResult:
    """Converge the host namespace to `view`; safe to repeat at any point."""
    if not netns.exists(cfg.netns):
        raise netns.NetnsMissing(f"network namespace {cfg.netns!r} does not exist")
    res = ApplyResult(version=view.version)
    t = time.perf_counter()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    layout = cfg.layout(view)
    subnet = view.network.subnet_for_cluster(view.host(cfg.host).cluster)
    for key, value in (("net.ipv4.ip_forward", "1"),
                       ("net.bridge.bridge-nf-call-iptables", "1")):
        if netns.read_sysctl(cfg.netns, key) != value:
            netns.write_sysctl(cfg.netns, key, value)
    local_ul = cfg._overlay_local(view)
    local = view.instances_on(cfg.host)
    mtu: int | None = None

    def net_links(ipr: Any) -> tuple[int, int, int | None]:
        links.ensure_bridge(ipr, links.BridgeSpec(
            name=cfg.bridge, mac=links.stable_mac(f"{cfg.host}/{cfg.bridge}"),
            address=subnet.gateway, prefixlen=subnet.network.prefixlen))
        if local_ul is None or cfg.underlay_interface is None:
            links.delete_link(ipr, cfg.overlay)
            return (0, 0, None)
        idx = links.ensure_vxlan(ipr, links.VxlanSpec(
            name=cfg.overlay, vni=cfg.vni, local=local_ul, device=cfg.underlay_interface,
            bridge=cfg.bridge))
        peers = {h.name: h.underlay_ip for h in view.hosts
                 if h.name != cfg.host and h.underlay_ip is not None}
        want = {(links.ZERO_MAC, str(ip)) for ip in peers.values()}
        want |= {(i.mac, str(peers[i.host])) for i in view.instances if i.host in peers}
        added, removed = links.sync_fdb(ipr, cfg.overlay, want)
        return (added, removed, int(ipr.get_links(idx)[0].get_attr("IFLA_MTU")))

    res.fdb_added, res.fdb_removed, mtu = links.with_ipr(cfg.netns, net_links)
    t = _timed(res, "links", t)

    nft.apply(cfg.netns, render.render(view, layout))
    t = _timed(res, "nft", t)

    if cfg.public_interface is not None:
        iface = cfg.public_interface
        want_pub = [i.public_ip for i in local if i.public_ip is not None]
        added_pub = links.sync_public_ips(cfg.netns, iface, want_pub, view.network.is_public)
        links.send_garp(cfg.netns, iface, added_pub)
        res.eips_added = [str(ip) for ip in added_pub]
    t = _timed(res, "eips", t)

    res.dhcp = dhcp.ensure(cfg.netns, cfg.state_dir, dhcp.DhcpSpec(
        bridge=cfg.bridge, subnet=subnet.network, gateway=subnet.gateway,
        dns_servers=view.network.instance_dns_servers,
        domain=view.network.instance_dns_domain, mtu=mtu,
        hosts=tuple((i.mac, i.private_ip, i.id) for i in local)))
    t = _timed(res, "dhcp", t)

    _ensure_mdproxy(cfg, view, str(subnet.gateway))
    t = _timed(res, "metadata", t)
    _save_view(cfg.state_dir, view)
    return res


def _mdproxy_argv(cfg: HostConfig, gateway: str, upstream: str) -> list[str]:
    return [cfg.python, "-m", "netd.mdproxy", "--listen", f"{gateway}:{cfg.metadata_port}",
            "--upstream", upstream, "--pidfile", str(cfg.state_dir / "mdproxy.pid")]


def _ensure_mdproxy(cfg: HostConfig, view: NetworkView, gateway: str) -> None:
    pidfile = cfg.state_dir / "mdproxy.pid"
    if not view.metadata.upstream:
        daemons.stop(pidfile)
        return
    want = _mdproxy_argv(cfg, gateway, view.metadata.upstream)
    if daemons.running(pidfile, want) is not None:
        return
    if daemons.starting(pidfile) and not pidfile.exists():
        return
    daemons.stop(pidfile)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PKG_PARENT, env.get("PYTHONPATH")) if p)
    # Not waited for: the proxy writes its pid file once it listens (well
    # before any instance boots); the next apply restarts it if it died.
    daemons.start(cfg.netns, want, cfg.state_dir / "mdproxy.log", wait=False, env=env)


def _save_view(state_dir: Path, view: NetworkView) -> None:
    tmp = state_dir / "view.json.tmp"
    tmp.write_text(view.dumps())
    os.replace(tmp, state_dir / "view.json")


def load_saved_view(state_dir: Path) -> NetworkView | None:
    """The last view this host applied (survives agent restarts)."""
    path = state_dir / "view.json"
    if not path.exists():
        return None
    return parse_view(json.loads(path.read_text()))


def teardown(cfg: HostConfig) -> None:
    """Remove everything netd created for this host (processes, links, tables, state)."""
    daemons.stop(cfg.state_dir / "mdproxy.pid")
    dhcp.stop(cfg.state_dir)
    if netns.exists(cfg.netns):
        nft.apply(cfg.netns, render.delete_all())
        saved = None
        try:
            saved = load_saved_view(cfg.state_dir)
        except ValueError:
            saved = None
        pub = cfg.public_interface

        def drop_links(ipr: Any) -> bool:
            links.delete_link(ipr, cfg.overlay)
            links.delete_link(ipr, cfg.bridge)
            return pub is not None and bool(ipr.link_lookup(ifname=pub))

        if links.with_ipr(cfg.netns, drop_links) and pub is not None and saved is not None:
            links.sync_public_ips(cfg.netns, pub, [], saved.network.is_public)
    shutil.rmtree(cfg.state_dir, ignore_errors=True)
