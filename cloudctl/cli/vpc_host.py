"""``cloudctl up`` in VPC mode: ZooKeeper and the netd VPC host agent of the all-in-one host.

Owns, for the life of ``cloudctl up``: the cloud's own ZooKeeper when
``cloud.network.zookeeper`` is empty (``local_zookeeper``: under ``<data>/zookeeper``,
adopted by the topology publisher), and ``python -m netd.vpc.agent`` for the all-in-one
node (host ``local``) in the namespace its guests live in (the private libvirtd's), with
``--guest-bridges`` so libvirt plugs each interface into its ``tb…`` bridge, the cloud's
metadata socket as upstream, the outside bridge of ``vpc_outside`` (where internet
gateways lead), loopback as underlay (one host: no VXLAN peer; ``--vpc-underlay
ADDRESS@DEV`` names the link to other hypervisor hosts, docs/multi-host.md) and a
router-namespace prefix derived from the data directory (two clouds on one machine
never sweep each other). A supervisor thread restarts the agent when it dies. Stopping
stops the agent, then runs it once with ``--teardown`` (router namespaces, dnsmasq and
metadata proxies, host-side legs: nothing left behind) and stops the ZooKeeper it
started. Nothing of this runs in EDGE mode or without a hypervisor node.

Load balancers in VPC subnets plug into the agent's guest bridges: `point_elb_at` makes
``loadbalancing.dataplane`` name the agent's namespace (``vpc_netns``) when the operator
has not configured a data plane of their own, so a VPC load balancer works on a fresh
``cloudctl up``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from cloudctl.config import Settings

log = logging.getLogger("cloudctl.up.vpc")

HOST = "local"  # the all-in-one node's name (``node_runtime.LOCAL_NODE_NAME``)
LOOPBACK = ("127.0.0.1", "lo")  # the underlay of a cloud on one hypervisor host
SUPERVISE_INTERVAL = 2.0
STOP_TIMEOUT = 15.0


def warn_kept_mode(asked: str | None, mode: str) -> None:
    """``--network-mode`` names the mode of a new cloud: say so when an existing one keeps
    another."""
    if asked and asked != mode:
        print(f"cloudctl: --network-mode {asked} ignored: this cloud exists and is in {mode} "
              "mode (switch with cloudctl property set cloud.network.network_configuration)",
              file=sys.stderr, flush=True)


def agent_log(settings: Settings) -> Path:
    """Where the supervised agent writes its log."""
    return settings.data_dir / "netd" / "vpc" / "agent.log"


def prefix_for(data_dir: Path) -> str:
    """The agent's namespace prefix for this cloud (``v<8 hex>-``)."""
    return f"v{hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:8]}-"


def router_namespace(settings: Settings, vpc_id: str) -> str:
    """The all-in-one agent's router namespace of a VPC (``netd.vpc.plan``'s name)."""
    return f"{prefix_for(settings.data_dir)}r-{vpc_id}"


def point_elb_at(settings: Settings, netns: str) -> str | None:
    """Set ``loadbalancing.dataplane`` to ``{"vpc_netns": netns}`` when it is unset, empty
    or only a ``vpc_netns`` (what an earlier ``up`` wrote: the namespace may have moved);
    an operator's own data plane (EDGE keys) is left alone. The value now stored (None:
    left alone, or no namespace to name: guests in the root namespace)."""
    from sqlalchemy import func, select

    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.properties.models import PropertyValue
    from cloudctl.services.elb.properties import DATAPLANE

    if not netns:
        return None
    wanted = json.dumps({"vpc_netns": netns})

    async def write() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                row = await session.get(PropertyValue, DATAPLANE.name)
                current = DATAPLANE.parse(row.value) if row is not None else {}
                if current and set(current) != {"vpc_netns"}:
                    return None
                if row is not None and current == {"vpc_netns": netns}:
                    return row.value
                top = (await session.execute(select(func.max(PropertyValue.revision)))
                       ).scalar() or 0
                if row is None:
                    session.add(PropertyValue(name=DATAPLANE.name, value=wanted,
                                              revision=top + 1))
                else:
                    row.value, row.revision = wanted, top + 1
                return wanted
        finally:
            await engine.dispose()

    return asyncio.run(write())


def parse_underlay(value: str) -> tuple[str, str]:
    """``ADDRESS@DEV`` (``--vpc-underlay``): this host's underlay address and device;
    empty: loopback (one hypervisor host, no VXLAN peer)."""
    import argparse
    import ipaddress

    if not value.strip():
        return LOOPBACK
    address, sep, dev = value.strip().partition("@")
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        sep = ""
    if not sep or not dev:
        raise argparse.ArgumentTypeError(f"expected ADDRESS@DEV (10.0.0.11@eth1), got {value!r}")
    return address, dev


class VpcHost:
    """ZooKeeper (when not configured) and the supervised VPC host agent."""

    def __init__(self, settings: Settings, *, zookeeper: str, netns: str, region: str,
                 guest_bridges: bool, outside_gateway: str = "",
                 underlay: tuple[str, str] = LOOPBACK) -> None:
        self.settings = settings
        self.underlay = underlay
        self.outside_gateway = outside_gateway  # ``br-out``'s address (vpc_outside), or none
        self.configured = zookeeper
        self.netns = netns
        self.region = region
        self.guest_bridges = guest_bridges
        self.connect = ""
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._own_zookeeper = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vpc-agent-supervisor",
                                        daemon=True)

    @property
    def state_dir(self) -> Path:
        return self.settings.data_dir / "netd" / "vpc"

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "netd.vpc.agent", "--host", HOST,
                "--underlay-ip", self.underlay[0], "--underlay-dev", self.underlay[1],
                "--state-dir", str(self.state_dir), "--prefix", prefix_for(
                    self.settings.data_dir), "--region", self.region,
                "--metadata-upstream", f"unix:{self.settings.metadata_socket}"]
        if self.netns:
            argv += ["--host-ns", self.netns]
        if self.guest_bridges:
            argv.append("--guest-bridges")
        if self.outside_gateway:
            from cloudctl.cli.vpc_outside import BRIDGE

            argv += ["--outside-bridge", BRIDGE, "--outside-gateway", self.outside_gateway]
        return argv

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(agent_log(self.settings), "ab") as out:
            return subprocess.Popen(self._argv() + ["--zookeeper", self.connect],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def start(self) -> str:
        """Start ZooKeeper when needed and the agent; the connect string."""
        from cloudctl.services.ec2.vpc import local_zookeeper

        self.connect = self.configured
        if not self.connect:
            started = local_zookeeper.start(self.settings.data_dir)
            if started is None:
                raise RuntimeError("VPC mode needs ZooKeeper: run scripts/deps/zookeeper.sh "
                                   "or set cloud.network.zookeeper")
            self.connect, self._own_zookeeper = started, True
        self.proc = self._spawn()
        self._thread.start()
        if point_elb_at(self.settings, self.netns):
            log.info("VPC load balancers plug into the agent's bridges in %s", self.netns)
        log.info("VPC host agent pid %d (ZooKeeper %s)", self.proc.pid, self.connect)
        return self.connect

    def _loop(self) -> None:
        while not self._stop.wait(SUPERVISE_INTERVAL):
            proc = self.proc
            if proc is None or proc.poll() is None:
                continue
            log.warning("the VPC host agent exited (%s); restarting it", proc.returncode)
            try:
                self.proc = self._spawn()
            except OSError:
                log.exception("the VPC host agent did not restart; trying again")
                continue
            self.restarts += 1

    def stop(self) -> None:
        """Stop the agent, remove what it made, stop our ZooKeeper (idempotent)."""
        from cloudctl.services.ec2.vpc import local_zookeeper

        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        _run_quietly(lambda: subprocess.run(self._argv() + ["--teardown"], timeout=120,
                                            capture_output=True, check=True))
        if self._own_zookeeper:
            _run_quietly(lambda: local_zookeeper.stop(self.settings.data_dir))
        log.info("VPC host agent stopped and its network removed")


def _run_quietly(step: Callable[[], object]) -> None:
    try:
        step()
    except Exception:  # shutting down: report, go on with the rest
        log.exception("VPC host shutdown step failed")
