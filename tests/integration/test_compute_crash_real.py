"""kill -9 with real components: the cloud, the node agent and libvirtd, one at a time.

The cloud (``cloudctl up``, no local node) drives one node: ``nodectl agent --driver
libvirt`` in its own process (mutual TLS, certificate from the cloud CA), registered
with ``cloudctl node register --address https://127.0.0.1:PORT``, on a private
libvirtd the test owns. Each round launches tiny TCG guests, terminates one at once
and the previous round's, then kills one component with SIGKILL while the controller
and the node are mid-step, and starts it again. Afterwards every instance is in the
state the API promised (launched ones run, terminated ones are gone) and the node holds
exactly the running ones: their domains, their instance directories and one QEMU each;
no domain without a live row, no staged directory, no leftover QEMU.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra.node_agent import agent_argv, start_agent
from tests.infra.postgres import free_port
from tests.support import LiveCloud, new_cloud

libvirt = pytest.importorskip("libvirt")

from cloudctl.pki import CertPaths, issue  # noqa: E402
from nodectl.guestimage import GuestImage  # noqa: E402
from nodectl.libvirtd import PrivateLibvirtd  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root"),
]

CONVERGE = 240.0


def _wait(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError):
                continue
    return found


@dataclass
class Agent:
    """``nodectl agent`` in its own process."""

    state: Path
    uri: str
    certs: CertPaths
    ca: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_agent(
            agent_argv(f"127.0.0.1:{self.port}", self.state, self.ca, self.certs, "node1",
                       "libvirt", "--libvirt-uri", self.uri, "--stop-grace", "3"),
            self.state / "agent.log")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def instances_dir(self) -> Path:
        return self.state / "images" / "instances"


@dataclass
class World:
    cloud: LiveCloud
    daemon: PrivateLibvirtd
    agent: Agent
    emi: str

    def ec2(self) -> Any:
        return self.cloud.client("ec2")

    def states(self) -> dict[str, str]:
        res = self.ec2().describe_instances()
        return {i["InstanceId"]: i["State"]["Name"] for r in res["Reservations"]
                for i in r["Instances"]}

    def kill_libvirtd(self) -> None:
        rec = self.daemon.running()
        assert rec is not None
        daemons = [p for p in _children(rec.tini_pid)
                   if os.path.basename(os.readlink(f"/proc/{p}/exe")) == "libvirtd"]
        assert daemons, "libvirtd not found under its tini"
        for pid in daemons:
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: self.daemon.running() is None, 20, "tini to exit after libvirtd")

    def qemus(self) -> dict[int, str]:
        """QEMU processes in the daemon's mount namespace -> the guest name they run."""
        rec = self.daemon.running()
        assert rec is not None
        found: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/mnt") != rec.mnt_ns:
                    continue
                if "qemu-system" not in os.readlink(f"/proc/{entry}/exe"):
                    continue
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            name = ""
            for arg in args:
                if arg.startswith(b"guest="):
                    name = arg.decode().split(",", 1)[0].removeprefix("guest=")
            found[int(entry)] = name
        return found

    def node_view(self) -> tuple[dict[str, int], set[str], list[str]]:
        """(domain -> libvirt state, instance directories, leftover temp files)."""
        conn = libvirt.open(self.daemon.uri)
        domains: dict[str, int] = {}
        try:
            for domain in conn.listAllDomains(0):
                try:  # a domain listed may be undefined before its state is read
                    domains[domain.name()] = domain.state()[0]
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                        raise
        finally:
            conn.close()
        dirs = set(os.listdir(self.agent.instances_dir)) if self.agent.instances_dir.exists() \
            else set()
        temps = [str(p) for sub in ("base", "instances")
                 for p in (self.agent.state / "images" / sub).rglob("*tmp*")]
        return domains, dirs, temps

    def converged(self, running: set[str], terminated: set[str]) -> str:
        """'' when the API and the node agree with what was promised, else what differs."""
        states = self.states()
        problems = []
        for iid in running:
            if states.get(iid) != "running":
                problems.append(f"{iid} is {states.get(iid)}, promised running")
        for iid in terminated:
            if states.get(iid) not in ("terminated", None):
                problems.append(f"{iid} is {states.get(iid)}, promised terminated")
        domains, dirs, temps = self.node_view()
        active = {n for n, s in domains.items() if s == libvirt.VIR_DOMAIN_RUNNING}
        if set(domains) != running or active != running:
            problems.append(f"domains {domains} != running {sorted(running)}")
        if dirs != running:
            problems.append(f"instance dirs {sorted(dirs)} != running {sorted(running)}")
        if temps:
            problems.append(f"temporary files left: {temps}")
        qemus = self.qemus()
        if sorted(qemus.values()) != sorted(running):
            problems.append(f"QEMU processes {qemus} != running {sorted(running)}")
        return "; ".join(problems)


@pytest.fixture
def world(tiny_image: GuestImage) -> Iterator[World]:
    saved = {k: os.environ.get(k) for k in ("CLOUDCTL_LOCAL_NODE", "CLOUDCTL_DEMO_IMAGE")}
    os.environ.update({"CLOUDCTL_LOCAL_NODE": "none", "CLOUDCTL_DEMO_IMAGE": "0"})
    root = Path(tempfile.mkdtemp(prefix="crash-real-"))
    daemon = PrivateLibvirtd(root / "lv")
    cloud = new_cloud()
    agent: Agent | None = None
    try:
        daemon.start()
        # the node host's instance bridge (netd makes it on a real node): in the daemon's
        # network namespace, which this test created
        for cmd in (["link", "add", "br-cloud", "type", "bridge"],
                    ["link", "set", "br-cloud", "up"]):
            subprocess.run(["ip", "-n", daemon.netns, *cmd], check=True, capture_output=True)
        cloud.start()
        ca = CertPaths(cloud.data_dir / "ca" / "ca.pem", cloud.data_dir / "ca" / "ca.key")
        certs = issue(ca, root / "pki", "node1", ["127.0.0.1"])
        agent = Agent(root / "node", daemon.uri, certs, ca.cert)
        agent.state.mkdir()
        agent.start()
        cloud.cli("--data-dir", str(cloud.data_dir), "node", "register", "node1", "--zone",
                  "eucalyptus-1a", "--address", agent.address)
        cloud.set_properties("cloud.vmstate.reconcile_interval_sec=2")
        ec2 = cloud.client("ec2")
        eki = ec2.register_image(Name="crash-kernel", ImageLocation=str(tiny_image.kernel))
        eri = ec2.register_image(Name="crash-ramdisk", ImageLocation=str(tiny_image.ramdisk))
        emi = ec2.register_image(Name="crash-machine", ImageLocation=str(tiny_image.rootfs),
                                 KernelId=eki["ImageId"], RamdiskId=eri["ImageId"])

        def node_up() -> bool:
            nodes = json.loads(cloud.cli("--data-dir", str(cloud.data_dir), "--output", "json",
                                         "node", "list").stdout)
            return any(n["name"] == "node1" and n["last_heartbeat"] for n in nodes)

        _wait(node_up, 60, "the agent's first heartbeat")
        yield World(cloud, daemon, agent, emi["ImageId"])
    finally:
        cloud.stop()
        if agent is not None:
            agent.stop()
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_kill_9_cloud_agent_libvirtd_converges_without_orphans(world: World) -> None:
    running: set[str] = set()
    terminated: set[str] = set()

    def run(count: int) -> list[str]:
        def attempt() -> list[str] | None:
            try:
                res = world.ec2().run_instances(ImageId=world.emi, MinCount=count,
                                                MaxCount=count, InstanceType="t1.micro")
            except Exception as exc:  # capacity not known yet after a restart
                if "InsufficientInstanceCapacity" not in str(exc):
                    raise
                return None
            return [i["InstanceId"] for i in res["Instances"]]

        ids: list[str] = _wait(attempt, 60, "capacity to launch")
        return ids

    def settle(what: str) -> None:
        deadline = time.monotonic() + CONVERGE
        while problems := world.converged(running, terminated):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in {CONVERGE}s: {problems}")
            time.sleep(1.0)

    def terminate(ids: set[str]) -> None:
        if ids:
            world.ec2().terminate_instances(InstanceIds=sorted(ids))
            running.difference_update(ids)
            terminated.update(ids)

    def restart_cloud() -> None:
        world.cloud.stop(signal.SIGKILL)
        time.sleep(0.5)
        world.cloud.start()

    def restart_agent() -> None:
        world.agent.kill9()
        time.sleep(1.0)
        world.agent.start()

    def restart_libvirtd() -> None:
        world.kill_libvirtd()
        time.sleep(1.0)
        world.daemon.start()

    # The node offers its 2 cores: at most two t1.micro at a time (shutting-down ones count).
    rounds: list[tuple[str, Callable[[], None], float]] = [
        ("cloud", restart_cloud, 0.4),
        ("agent", restart_agent, 0.8),
        ("libvirtd", restart_libvirtd, 0.6),
    ]
    for name, crash, delay in rounds:
        previous = set(running)
        if previous:  # the old guest goes while a new one comes
            terminate(previous)
            running.update(run(1))
        else:  # two come, one of them is terminated at once
            both = run(2)
            running.update(both)
            terminate({both[1]})
        time.sleep(delay)  # the controller and the node are mid-ensure / mid-delete
        crash()
        settle(f"convergence after kill -9 of {name}")
        qemus = world.qemus()
        assert len(qemus) == len(running), (name, qemus)

    # a libvirtd restart must not have lost the guests it re-attached to
    before = world.qemus()
    world.kill_libvirtd()
    world.daemon.start()
    settle("convergence after a quiet libvirtd restart")
    assert world.qemus() == before

    terminate(set(running))
    settle("everything terminated")
    assert world.qemus() == {}
