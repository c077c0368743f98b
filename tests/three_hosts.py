"""Three cloud hosts in network namespaces: one PostgreSQL, a three-node ZooKeeper ensemble.

The world (``netd.lab.Lab``, every namespace and link made here, the root namespace's
addresses, routes and firewall untouched): a switch namespace with bridge ``br-ul``;
namespace ``db`` (192.168.100.10: PostgreSQL, and the clients' place: tests call the
API from there); hosts ``h1``..``h3`` (192.168.100.11..13), each running one ZooKeeper
server of the ensemble and one ``cloudctl up`` (API on its address, port 8773,
``CLOUDCTL_HOST_ID`` ``ha3-1``..``ha3-3``, no node). The first host is initialised
with ``cloudctl init``, the others join it (``cluster export`` / ``init --join``).

``partition(name)`` cuts the host's link at the switch (its port down: packets vanish,
as with a pulled cable) and ``heal(name)`` puts it back; ``zookeepers[name]`` kills
and restarts one ZooKeeper server. ``start_node()`` adds a hypervisor node for compute
work: ``nodectl agent --driver fake`` in the ``db`` namespace (outside every cloud
host, so a host's death leaves its guests), registered as a remote node that whichever
host leads the compute controller drives over mutual TLS.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from cloudctl.pki import CertPaths, issue
from netd.lab import Lab
from netd.links import with_ipr
from netd.netns import run_in
from tests.infra.node_agent import agent_argv, start_agent
from tests.infra.postgres import PostgresServer, start_postgres
from tests.infra.zookeeper import EnsembleNode
from tests.multihost import Host
from tests.support import LiveCloud

T = TypeVar("T")
DB_ADDRESS = "192.168.100.10"
ADDRESSES = {"h1": "192.168.100.11", "h2": "192.168.100.12", "h3": "192.168.100.13"}
API_PORT = 8773
NODE_PORT = 8775


class NsCloud(LiveCloud):
    """A client's view of one host's API, from the ``db`` namespace."""

    address: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{API_PORT}"


class ThreeHosts:
    def __init__(self, root: Path, session_timeout: float) -> None:
        self.root = root
        self.lab = Lab()
        self.hosts: dict[str, Host] = {}
        self.zookeepers: dict[str, EnsembleNode] = {}
        self.pg: PostgresServer | None = None
        self.node: subprocess.Popen[bytes] | None = None
        try:
            self._build(session_timeout)
        except BaseException:
            self.close()
            raise

    # -- building ------------------------------------------------------------------------

    def _build(self, session_timeout: float) -> None:
        self.lab.make_underlay()
        self.db_ns = self.lab.add_host("db", f"{DB_ADDRESS}/24", router=None)
        self.netns = {name: self.lab.add_host(name, f"{address}/24", router=None)
                      for name, address in ADDRESSES.items()}
        self.pg = start_postgres(netns=self.db_ns, host=DB_ADDRESS, port=5432)
        self.database_url = self.pg.create_database("cloud_three")
        peers = {n: ADDRESSES[f"h{n}"] for n in (1, 2, 3)}
        for n, name in enumerate(ADDRESSES, start=1):
            self.zookeepers[name] = EnsembleNode(self.root / f"zk-{name}", self.netns[name],
                                                 n, peers)
            self.zookeepers[name].start()
        self.wait(lambda: all(z.serving() for z in self.zookeepers.values()), 60,
                  "the ZooKeeper ensemble serving")
        self.zk_connect = ",".join(f"{a}:2181" for a in ADDRESSES.values())
        self._cloudctl("h1", "init", "--network-mode", "EDGE", first=True)
        cluster = self.root / "cluster.json"
        self._cloudctl("h1", "cluster", "export", str(cluster), first=True)
        with ThreadPoolExecutor(2) as pool:  # both join at once
            list(pool.map(lambda name: self._cloudctl(name, "init", "--join", str(cluster)),
                          ("h2", "h3")))
        for n, (name, address) in enumerate(ADDRESSES.items(), start=1):
            self.hosts[name] = Host(
                name, self.data_dir(name), address, API_PORT,
                ["up", "--listen", f"{address}:{API_PORT}", "--workers", "1",
                 "--node", "none"],
                self.database_url if name == "h1" else None, netns=self.netns[name],
                extra_env={"CLOUDCTL_ZOOKEEPER": self.zk_connect,
                           "CLOUDCTL_HOST_ID": f"ha3-{n}",
                           "CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT": str(session_timeout)})
        for host in self.hosts.values():
            host.spawn()
        creds = json.loads(self._cloudctl("h1", "--output", "json", "credentials",
                                          first=True).stdout)  # while the hosts start
        self.creds = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["AccountId"])
        for host in self.hosts.values():
            host.wait_ready(timeout=120)

    def data_dir(self, name: str) -> Path:
        return self.root / name / "data"

    def _cloudctl(self, name: str, *args: str, first: bool = False
                  ) -> subprocess.CompletedProcess[str]:
        self.data_dir(name).parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLOUDCTL_DATABASE_URL", "CLOUDCTL_ENDPOINT")}
        env["CLOUDCTL_DATA_DIR"] = str(self.data_dir(name))
        if first:
            env["CLOUDCTL_DATABASE_URL"] = self.database_url
        done = subprocess.run(["ip", "netns", "exec", self.netns[name], sys.executable, "-m",
                               "cloudctl", *args], env=env, capture_output=True, text=True,
                              timeout=180)
        if done.returncode:
            raise AssertionError(f"cloudctl {' '.join(args)} on {name}: {done.stderr[-3000:]}")
        return done

    def start_node(self, name: str = "node1") -> str:
        """Start the fake node agent in the ``db`` namespace and register it in the first
        zone; returns its address (``https://...``)."""
        root = self.root / name
        ca_dir = self.data_dir("h1") / "ca"
        certs = issue(CertPaths(ca_dir / "ca.pem", ca_dir / "ca.key"), root / "pki", name,
                      [DB_ADDRESS])
        (root / "state").mkdir(parents=True, exist_ok=True)
        self.node = start_agent(
            ["ip", "netns", "exec", self.db_ns,
             *agent_argv(f"{DB_ADDRESS}:{NODE_PORT}", root / "state", ca_dir / "ca.pem", certs,
                         name)], root / "agent.log")
        address = f"https://{DB_ADDRESS}:{NODE_PORT}"
        zone = self.client_call(lambda: self.view("h1").client("ec2")
                                .describe_availability_zones())["AvailabilityZones"][0]
        self._cloudctl("h1", "node", "register", name, "--zone", zone["ZoneName"],
                       "--address", address, first=True)
        return address

    def node_guests(self) -> set[str]:
        """The instance ids the fake node holds (asked as the controllers ask it)."""
        import asyncio

        from nodectl.remote import RemoteNodeClient

        ca_dir = self.data_dir("h2") / "ca"

        async def ask() -> set[str]:
            client = RemoteNodeClient(f"https://{DB_ADDRESS}:{NODE_PORT}", ca_dir / "ca.pem",
                                      ca_dir / "services" / "cloudctl.pem",
                                      ca_dir / "services" / "cloudctl.key")
            try:
                return {s.instance_id for s in await client.list_instances()}
            finally:
                await client.close()

        return run_in(self.db_ns, lambda: asyncio.run(ask()))

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on the cloud's database (from the ``db`` namespace)."""
        import psycopg

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

        def run() -> list[tuple[Any, ...]]:
            with psycopg.connect(url) as conn:
                return list(conn.execute(query).fetchall())

        return run_in(self.db_ns, run)

    def kill_host(self, name: str) -> list[int]:
        """kill -9 every process of host ``name``'s cloud (the process tree of its
        ``cloudctl up``); returns the pids killed."""
        host = self.hosts[name]
        assert host.process is not None
        found = [host.process.pid]
        for pid in found:  # grows as children are found
            children = Path(f"/proc/{pid}/task/{pid}/children")
            with contextlib.suppress(OSError):
                found += [int(c) for c in children.read_text().split()]
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        host.process.wait(timeout=30)
        return found

    # -- using it ------------------------------------------------------------------------

    def host_id(self, name: str) -> str:
        return f"ha3-{name[1:]}"

    def name_of(self, host_id: str) -> str:
        return f"h{host_id.rsplit('-', 1)[1]}"

    def view(self, name: str) -> NsCloud:
        cloud = NsCloud(data_dir=self.data_dir(name), port=API_PORT, database_url=None)
        cloud.address = ADDRESSES[name]
        cloud.access_key, cloud.secret_key, cloud.account_id = self.creds
        cloud.log_path = self.hosts[name].log_path
        return cloud

    def client_call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (boto3 calls) from the clients' namespace."""
        return run_in(self.db_ns, fn)

    def cli(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``cloudctl`` against host ``name``'s API, from the clients' namespace."""
        env = dict(os.environ)
        env["CLOUDCTL_DATA_DIR"] = str(self.data_dir(name))
        env["CLOUDCTL_DATABASE_URL"] = self.database_url
        return subprocess.run(["ip", "netns", "exec", self.db_ns, sys.executable, "-m",
                               "cloudctl", "--endpoint", self.view(name).endpoint, *args],
                              env=env, capture_output=True, text=True, timeout=120,
                              check=True)

    def _port(self, name: str, up: bool) -> None:
        port = f"p-{name}"[:15]

        def body(ipr: Any) -> None:
            ipr.link("set", index=ipr.link_lookup(ifname=port)[0],
                     state="up" if up else "down")

        assert self.lab.underlay is not None
        with_ipr(self.lab.underlay, body)

    def partition(self, name: str) -> None:
        self._port(name, up=False)

    def heal(self, name: str) -> None:
        self._port(name, up=True)

    @staticmethod
    def wait(check: Callable[[], Any], timeout: float, what: str, poll: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                result = check()
            except Exception as exc:  # a host cut off or a server starting: look again
                last = exc
                result = None
            if result:
                return result
            time.sleep(poll)
        raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")

    def close(self) -> None:
        running = [h for h in self.hosts.values()
                   if h.process is not None and h.process.poll() is None]
        for host in running:  # all stop at once
            assert host.process is not None
            host.process.terminate()
        for host in running:
            host.stop()  # waits (and kills what did not stop)
        if self.node is not None and self.node.poll() is None:
            self.node.kill()
            self.node.wait()
        for zk in self.zookeepers.values():
            zk.kill()
        if self.pg is not None:
            self.pg.stop()
        self.lab.close()
