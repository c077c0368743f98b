"""A VPC test world: hosts as namespaces on an underlay, an outside network, agents, instances.

Hosts h1, h2 and the gateway host gw are namespaces on the lab underlay
(192.168.100.0/24). gw also has bridge `br-out` linked to the `world`
namespace (198.51.100.1/24, the Internet). Each host runs a `VpcAgent` with
the real Linux driver in a thread (or, for crash tests, `netd.vpc.agent` as
a subprocess). An instance is a namespace that takes an ENI's tap from its
host namespace as `eth0`.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from netd.lab import Lab, wait_until
from netd.links import with_ipr
from netd.vpc import topology as t
from netd.vpc.agent import VpcAgent
from netd.vpc.linux import LinuxDriver
from netd.vpc.plan import HostConfig, tap_name

UNDERLAY = {"h1": "192.168.100.11", "h2": "192.168.100.12", "gw": "192.168.100.13"}
WORLD_IP = "198.51.100.1"


class World:
    def __init__(self, zookeeper: Any, tmp: Path, hosts: tuple[str, ...] = ("h1", "h2", "gw"),
                 dhcp: bool = False, metadata: str | None = None,
                 guest_bridges: bool = False) -> None:
        self.zookeeper = zookeeper
        self.tmp = tmp
        self.lab = Lab()
        self.lab.make_underlay()
        self.host_ns: dict[str, str] = {}
        self.cfgs: dict[str, HostConfig] = {}
        self.agents: dict[str, VpcAgent] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.clients: list[Any] = []
        self.zk = zookeeper.client()
        self.clients.append(self.zk)
        if self.zk.exists(t.ROOT):
            self.zk.delete(t.ROOT, recursive=True)
        self.writer = t.TopologyWriter(self.zk)
        self.reader = t.TopologyReader(self.zk)
        self.world = self.lab.ns("world")
        for h in hosts:
            ns = self.lab.add_host(h, f"{UNDERLAY[h]}/24", router=None)
            self.host_ns[h] = ns
            outside = h == "gw"
            if outside:
                self._outside(ns)
            self.cfgs[h] = HostConfig(
                host=h, underlay_ip=UNDERLAY[h], underlay_dev="ul0", host_ns=ns,
                prefix=f"{self.lab.prefix}-v{h}-",
                outside_bridge="br-out" if outside else None,
                outside_gateway=WORLD_IP if outside else None, dhcp=dhcp,
                metadata_upstream=metadata, python=sys.executable,
                guest_bridges=guest_bridges)

    def _outside(self, host_ns: str) -> None:
        def body(ipr: Any) -> None:
            ipr.link("add", ifname="br-out", kind="bridge")
            br = ipr.link_lookup(ifname="br-out")[0]
            ipr.link("set", index=br, state="up")
            ipr.link("add", ifname="w-out", kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": self.world})
            idx = ipr.link_lookup(ifname="w-out")[0]
            ipr.link("set", index=idx, master=br, state="up")

        with_ipr(host_ns, body)

        def world(ipr: Any) -> None:
            idx = ipr.link_lookup(ifname="eth0")[0]
            ipr.link("set", index=idx, state="up")
            ipr.addr("add", index=idx, address=WORLD_IP, prefixlen=24)

        with_ipr(self.world, world)

    # -- agents -------------------------------------------------------------------------
    def driver(self, host: str) -> LinuxDriver:
        return LinuxDriver(self.cfgs[host], self.tmp / host)

    def start_agent(self, host: str, resync: float = 2.0) -> VpcAgent:
        client = self.zookeeper.client()
        self.clients.append(client)
        agent = VpcAgent(client, self.cfgs[host], self.driver(host), resync=resync)
        th = threading.Thread(target=agent.run, daemon=True, name=f"vpc-agent-{host}")
        th.start()
        self.agents[host], self.threads[host] = agent, th
        return agent

    def start_agent_process(self, host: str, resync: float = 1.0) -> subprocess.Popen[bytes]:
        cfg = self.cfgs[host]
        argv = [sys.executable, "-m", "netd.vpc.agent", "--zookeeper", self.zookeeper.connect,
                "--host", host, "--host-ns", cfg.host_ns, "--underlay-ip", cfg.underlay_ip,
                "--underlay-dev", cfg.underlay_dev, "--state-dir", str(self.tmp / host),
                "--prefix", cfg.prefix, "--resync", str(resync)]
        if not cfg.dhcp:
            argv.append("--no-dhcp")
        if cfg.metadata_upstream:
            argv += ["--metadata-upstream", cfg.metadata_upstream]
        if cfg.outside_bridge:
            argv += ["--outside-bridge", cfg.outside_bridge,
                     "--outside-gateway", str(cfg.outside_gateway)]
        log = open(self.tmp / f"agent-{host}.log", "ab")
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONPATH": os.getcwd()})
        finally:
            log.close()
        self.procs[host] = proc
        return proc

    def kill_agent_process(self, host: str) -> None:
        proc = self.procs.pop(host)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def publish(self, *objs: t.Obj, delete: tuple[tuple[str, str], ...] = ()) -> int:
        return self.writer.publish(list(objs), list(delete))

    def applied(self, version: int, hosts: tuple[str, ...] | None = None,
                timeout: float = 15.0) -> None:
        names = list(hosts or (tuple(self.agents) + tuple(self.procs)))
        assert self.reader.wait_applied(version, names, timeout), (
            f"hosts {names} did not apply v{version}: {self.reader.hosts()}")

    # -- instances -----------------------------------------------------------------------
    def plug(self, eni: t.Eni, subnet_cidr: str, timeout: float = 10.0) -> str:
        """An instance namespace using ENI `eni`'s tap on its host as eth0."""
        assert eni.host is not None
        host_ns = self.host_ns[eni.host]
        tap = tap_name(eni.id)

        def has_tap() -> bool:
            return bool(with_ipr(host_ns, lambda ipr: ipr.link_lookup(ifname=tap)))

        assert wait_until(has_tap, timeout), f"tap {tap} of {eni.id} never appeared"
        inst = self.lab.ns(f"i-{eni.id[-6:]}")
        fd = os.open(f"/run/netns/{inst}", os.O_RDONLY)
        try:
            with_ipr(host_ns, lambda ipr: ipr.link(
                "set", index=ipr.link_lookup(ifname=tap)[0], net_ns_fd=fd))
        finally:
            os.close(fd)
        net = ipaddress.ip_network(subnet_cidr)
        gw = str(net.network_address + 1)

        def body(ipr: Any) -> None:
            idx = ipr.link_lookup(ifname=tap)[0]
            ipr.link("set", index=idx, ifname="eth0", state="up")
            for ip in eni.private_ips:
                ipr.addr("add", index=idx, address=ip, prefixlen=net.prefixlen)
            ipr.route("add", dst="0.0.0.0/0", gateway=gw)

        with_ipr(inst, body)
        return inst

    def plug_guest(self, eni: t.Eni, subnet_cidr: str, timeout: float = 10.0) -> str:
        """Like a hypervisor in `guest_bridges` mode: an instance namespace whose eth0
        (the ENI's MAC) is a veth on the ENI's host bridge, standing for the guest's tap."""
        from netd.vpc.plan import guest_bridge_name

        assert eni.host is not None
        host_ns, br = self.host_ns[eni.host], guest_bridge_name(eni.id)

        def has_bridge() -> bool:
            return bool(with_ipr(host_ns, lambda ipr: ipr.link_lookup(ifname=br)))

        assert wait_until(has_bridge, timeout), f"guest bridge {br} never appeared"
        inst = self.lab.ns(f"g-{eni.id[-6:]}")
        port = f"vn{eni.id[-6:]}"[:15]

        def in_host(ipr: Any) -> None:
            ipr.link("add", ifname=port, kind="veth", peer={"ifname": "eth0", "net_ns_fd": inst})
            idx = ipr.link_lookup(ifname=port)[0]
            ipr.link("set", index=idx, master=ipr.link_lookup(ifname=br)[0], state="up")

        with_ipr(host_ns, in_host)
        net = ipaddress.ip_network(subnet_cidr)

        def in_inst(ipr: Any) -> None:
            idx = ipr.link_lookup(ifname="eth0")[0]
            ipr.link("set", index=idx, address=eni.mac, state="up")
            for ip in eni.private_ips:
                ipr.addr("add", index=idx, address=ip, prefixlen=net.prefixlen)
            ipr.route("add", dst="0.0.0.0/0", gateway=str(net.network_address + 1))

        with_ipr(inst, in_inst)
        return inst

    def close(self) -> None:
        for agent in self.agents.values():
            agent.stop()
        for th in self.threads.values():
            th.join(10)
        for host in list(self.procs):
            self.kill_agent_process(host)
        for c in self.clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        for host in self.cfgs:
            d = self.driver(host)
            for ns in d.namespaces():
                d.delete_namespace(ns)
        self.lab.close()


def settle(seconds: float = 0.1) -> None:
    time.sleep(seconds)
