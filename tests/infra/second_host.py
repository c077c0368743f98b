"""A second hypervisor host for real-guest tests, added to a cloud as an operator would.

The first host is the all-in-one cloud's node: the session's private libvirtd (its own
mount and network namespace), its VPC host agent started by ``cloudctl up``. The second
host (``SecondHost``) is:

- another ``nodectl.libvirtd.PrivateLibvirtd`` (its own mount and network namespace);
- an underlay link between the two hosts' namespaces (a veth pair made inside them,
  ``ul0`` on both sides, 10.250.0.1/24 and 10.250.0.2/24, MTU 1600 so the VXLAN of a
  1500-byte guest frame fits): ``cloudctl up --vpc-underlay 10.250.0.1@ul0`` on the first
  host, the second host's agent on ``10.250.0.2@ul0``;
- ``nodectl agent`` (libvirt driver on that libvirtd, mutual TLS with a certificate of the
  cloud's CA) registered with ``cloudctl node register NAME --zone ZONE --address https://...``;
- the netd VPC host agent (``netd vpc-agent``) for that host in its namespace, against
  the cloud's ZooKeeper (as ``cloudctl network show`` names it), with guest bridges and
  the cloud's metadata socket.

``two_host_cloud`` (a generator for a fixture) builds a new VPC cloud with two zones on
both hosts. Everything made here is removed afterwards: guests, agents, the libvirtd,
namespaces and the link (``leftovers`` says what is still there). Only processes started
here are signalled, by PID; the root namespace's addresses, routes and firewall are
never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloudctl.pki import CertPaths, issue
from nodectl.libvirtd import PrivateLibvirtd
from tests.infra.node_agent import agent_argv, start_agent
from tests.infra.postgres import free_port
from tests.support import LiveCloud, libvirt_env, new_cloud, teardown_local_network, wait_for

UNDERLAY_DEV = "ul0"
FIRST_UNDERLAY = "10.250.0.1"
SECOND_UNDERLAY = "10.250.0.2"
ZONES = ("eucalyptus-1a", "eucalyptus-1b")


def _ip(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True,
                          check=check)


def link_hosts(first_ns: str, second_ns: str) -> None:
    """The underlay between two hosts' namespaces (made inside them, never in the root)."""
    _ip(first_ns, "link", "del", UNDERLAY_DEV, check=False)
    _ip(first_ns, "link", "add", UNDERLAY_DEV, "mtu", "1600", "type", "veth", "peer", "name",
        UNDERLAY_DEV, "netns", second_ns, "mtu", "1600")
    for ns, address in ((first_ns, FIRST_UNDERLAY), (second_ns, SECOND_UNDERLAY)):
        _ip(ns, "addr", "add", f"{address}/24", "dev", UNDERLAY_DEV)
        _ip(ns, "link", "set", UNDERLAY_DEV, "up")


def unlink_hosts(first_ns: str) -> None:
    _ip(first_ns, "link", "del", UNDERLAY_DEV, check=False)


class SecondHost:
    """The second hypervisor host (see the module docstring)."""

    def __init__(self, root: Path, name: str = "node2") -> None:
        self.root = root
        self.name = name
        self.libvirtd = PrivateLibvirtd(root / "lv")
        self.port = free_port()
        self.node: subprocess.Popen[bytes] | None = None
        self.vpc: subprocess.Popen[bytes] | None = None
        self._vpc_argv: list[str] = []

    @property
    def netns(self) -> str:
        return self.libvirtd.netns

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def prefix(self) -> str:
        """The VPC agent's namespace prefix (``v`` and 8 hex of its state dir)."""
        return f"v{hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:8]}-"

    def start_libvirtd(self) -> None:
        self.libvirtd.start()

    def join(self, cloud: LiveCloud, zone: str) -> None:
        """The node agent registered in ``zone`` and the VPC host agent, as an operator
        adds a host (docs/multi-host.md "A second hypervisor host in VPC mode")."""
        ca = CertPaths(cloud.data_dir / "ca" / "ca.pem", cloud.data_dir / "ca" / "ca.key")
        certs = issue(ca, self.root / "pki", self.name, ["127.0.0.1"])
        state = self.root / "node"
        state.mkdir(parents=True, exist_ok=True)
        self.node = start_agent(
            agent_argv(f"127.0.0.1:{self.port}", state, ca.cert, certs, self.name, "libvirt",
                       "--libvirt-uri", self.libvirtd.uri, "--stop-grace", "5",
                       "--bundle-key", str(cloud.data_dir / "ca" / "cloud-bundle.key")),
            self.root / "node.log", start_new_session=True)
        cloud.cli("node", "register", self.name, "--zone", zone, "--address", self.address)
        # the cloud's ZooKeeper as the operator reads it (`cloudctl network show`)
        shown = json.loads(cloud.cli("--output", "json", "network", "show").stdout)["vpc"]
        self._vpc_argv = [
            sys.executable, "-m", "netd.cli", "vpc-agent", "--host", self.name, "--host-ns",
            self.netns, "--underlay-ip", SECOND_UNDERLAY, "--underlay-dev", UNDERLAY_DEV,
            "--state-dir", str(self.root / "vpc"), "--prefix", self.prefix,
            "--region", cloud.region, "--guest-bridges",
            "--metadata-upstream", f"unix:{cloud.data_dir / 'run' / 'metadata.sock'}"]
        (self.root / "vpc").mkdir(exist_ok=True)
        with open(self.root / "vpc.log", "ab") as out:
            self.vpc = subprocess.Popen(self._vpc_argv + ["--zookeeper", shown["zookeeper"]],
                                        stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)

        def up() -> bool:
            nodes = json.loads(cloud.cli("--output", "json", "node", "list").stdout)
            return any(n["name"] == self.name and n["last_heartbeat"] for n in nodes)

        def in_sync() -> bool:
            shown = json.loads(cloud.cli("--output", "json", "network", "show").stdout)
            return any(h["host"] == self.name and h["in_sync"] for h in shown["vpc"]["hosts"])

        wait_for(up, 90, f"{self.name} heartbeating")
        wait_for(in_sync, 60, f"{self.name}'s VPC agent in sync (log {self.root / 'vpc.log'})")

    def destroy_guest(self, instance_id: str) -> None:
        """What ``virsh destroy`` does to the guest's domain on this host."""
        import libvirt

        conn = libvirt.open(self.libvirtd.uri)
        try:
            conn.lookupByName(instance_id).destroy()
        finally:
            conn.close()

    def guests(self) -> list[str]:
        import libvirt

        conn = libvirt.open(self.libvirtd.uri)
        try:
            return sorted(d.name() for d in conn.listAllDomains() if d.isActive())
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the agents (ours, by PID), remove the VPC agent's network, stop the
        libvirtd (its guests, its namespace and so the underlay's end in it)."""
        for proc in (self.vpc, self.node):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        if self._vpc_argv:
            subprocess.run(self._vpc_argv + ["--teardown"], capture_output=True, timeout=120,
                           check=False)
        self.libvirtd.stop()

    def leftovers(self) -> list[str]:
        """What of this host is still there (namespaces, processes)."""
        found = [f"netns {n}" for n in _netns() if n == self.netns or n.startswith(self.prefix)]
        found += [f"pid {p.pid}" for p in (self.vpc, self.node) if p and p.poll() is None]
        if self.libvirtd.running() is not None:
            found.append("libvirtd")
        return found


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def destroy_guests(uri: str) -> None:
    """Destroy and undefine every guest on a libvirtd (the first host's, shared by the
    session)."""
    import libvirt

    conn = libvirt.open(uri)
    try:
        for dom in conn.listAllDomains():
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()


def two_host_cloud(first: Any, root: Path) -> Iterator[tuple[LiveCloud, SecondHost]]:
    """A new VPC cloud (zones ``ZONES``) whose all-in-one node runs on ``first`` (a
    PrivateLibvirtd) in the first zone and ``SecondHost`` in the second; yields both and
    removes everything afterwards."""
    second = SecondHost(root)
    cloud = new_cloud()
    cloud.network_mode = None  # the default of a new cloud: VPC
    saved = dict(os.environ)
    try:
        second.start_libvirtd()
        link_hosts(first.netns, second.netns)
        os.environ.update(libvirt_env(first))
        os.environ["CLOUDCTL_VPC_UNDERLAY"] = f"{FIRST_UNDERLAY}@{UNDERLAY_DEV}"
        cloud.init("--zone", ZONES[0], "--zone", ZONES[1])
        cloud.start(timeout=180)
        # the internet gateways stay on the first host (the one with the outside network)
        cloud.set_properties("cloud.network.vpc_gateway_host=local",
                             "cloud.vmstate.reconcile_interval_sec=2")
        second.join(cloud, ZONES[1])
        yield cloud, second
    finally:
        os.environ.clear()
        os.environ.update(saved)
        second.close()  # its agents first, while the cloud's ZooKeeper still answers
        cloud.stop()
        destroy_guests(first.uri)
        teardown_local_network(cloud, first.netns)
        unlink_hosts(first.netns)
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
        left = second.leftovers() + first_host_leftovers(first, cloud)
        assert not left, f"the two hosts left {left}"


def first_host_leftovers(first: Any, cloud: LiveCloud) -> list[str]:
    """What of this cloud is still on the first host: its VPC agent's namespaces, the
    underlay link, guests."""
    import libvirt

    from cloudctl.cli.vpc_host import prefix_for

    prefix = prefix_for(cloud.data_dir)
    found = [f"netns {n}" for n in _netns() if n.startswith(prefix)]
    if _ip(first.netns, "link", "show", UNDERLAY_DEV, check=False).returncode == 0:
        found.append(f"link {UNDERLAY_DEV} in {first.netns}")
    conn = libvirt.open(first.uri)
    try:
        found += [f"guest {d.name()}" for d in conn.listAllDomains()]
    finally:
        conn.close()
    return found
