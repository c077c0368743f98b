"""netd EDGE data plane with real packets between network namespaces.

Every test builds its own topology (namespaces named cnd-<random>-...) with
`netd.lab.Lab`, applies views with the real agent, probes with real TCP/ICMP
from inside the namespaces, and tears everything down even on failure.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

nftables = pytest.importorskip("nftables")
pytest.importorskip("pyroute2")
if os.geteuid() != 0 or shutil.which("dnsmasq") is None:
    pytest.fail("needs root and dnsmasq: run scripts/install-deps.sh", pytrace=False)

from netd import daemons, nft, render  # noqa: E402
from netd.agent import NetAgent  # noqa: E402
from netd.host import HostConfig  # noqa: E402
from netd.lab import Lab, Listener, add_address, ping, set_mac, tcp_probe, wait_until  # noqa: E402
from netd.netns import run_in  # noqa: E402

NET = {
    "Mode": "EDGE", "MacPrefix": "d0:0d", "PublicIps": ["198.51.100.10-198.51.100.20"],
    "InstanceDnsServers": ["10.1.0.2"], "InstanceDnsDomain": "cloud.internal",
    "Subnets": [{"Name": "s", "Subnet": "10.1.0.0", "Netmask": "255.255.0.0",
                 "Gateway": "10.1.0.1"}],
}
ALL_OUT = [{"protocol": -1, "cidrs": ["0.0.0.0/0"]}]


def inst(n: int, host: str = "h1", groups: tuple[str, ...] = ("sg-a",),
         public: str | None = None) -> dict[str, Any]:
    return {"id": f"i-{n:04x}", "host": host, "mac": f"d0:0d:00:00:00:{n:02x}",
            "private_ip": f"10.1.0.{n}", "public_ip": public,
            "security_groups": list(groups), "interface": f"vn-{n}"}


def group(gid: str, ingress: list[dict[str, Any]] | None = None,
          egress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": gid, "owner": "000000000001", "ingress": ingress or [],
            "egress": ALL_OUT if egress is None else egress}


class World:
    """A lab with hosts running netd agents; instances plugged like libvirt taps."""

    def __init__(self, lab: Lab, hosts: int = 1, metadata: str = "") -> None:
        self.lab = lab
        self.state = Path(tempfile.mkdtemp(prefix="netd-test-"))
        self.out = lab.add_outside()
        self.hosts: dict[str, str] = {}
        self.agents: dict[str, NetAgent] = {}
        self.metadata = metadata
        self.version = 0
        for k in range(1, hosts + 1):
            name = f"h{k}"
            ns = lab.add_host(name, f"192.168.100.{10 + k}/24")
            self.hosts[name] = ns
            self.agents[name] = self.agent(name)
        self.instances: dict[int, str] = {}

    def agent(self, name: str) -> NetAgent:
        return NetAgent(HostConfig(
            netns=self.hosts[name], host=name, state_dir=self.state / name,
            public_interface="ul0", underlay_interface="ul0"))

    def view(self, instances: list[dict[str, Any]], groups: list[dict[str, Any]]) -> dict[str, Any]:
        self.version += 1
        return {
            "version": self.version, "network": NET,
            "hosts": [{"name": h, "underlay_ip": f"192.168.100.{10 + int(h[1:])}"}
                      for h in self.hosts],
            "instances": instances, "security_groups": groups,
            "metadata": {"upstream": self.metadata},
        }

    def apply(self, instances: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
        v = self.view(instances, groups)
        for name, agent in self.agents.items():
            assert agent.apply(v) == v["version"], name
        for i in instances:
            n = int(i["private_ip"].rsplit(".", 1)[1])
            if n not in self.instances:
                self.instances[n] = self.lab.add_instance(
                    self.hosts[i["host"]], i["interface"], i["mac"], f"{i['private_ip']}/16",
                    "10.1.0.1")

    def close(self) -> None:
        for agent in self.agents.values():
            agent.teardown()
        shutil.rmtree(self.state, ignore_errors=True)


@pytest.fixture
def lab():
    with Lab() as lab:
        yield lab


@pytest.fixture
def world(lab):
    w = World(lab)
    yield w
    w.close()


@pytest.fixture
def world2(lab):
    w = World(lab, hosts=2)
    yield w
    w.close()


def test_tcp_from_cidr_icmp_and_default_deny(world: World) -> None:
    world.apply([inst(10, groups=("sg-a",)), inst(11, groups=("sg-b",)),
                 inst(12, groups=("sg-b",))], [
        group("sg-a", ingress=[
            {"protocol": 6, "from_port": 22, "to_port": 22, "cidrs": ["10.1.0.11/32"]},
            {"protocol": 1, "icmp_type": 8, "cidrs": ["10.1.0.0/16"]},
        ]),
        group("sg-b"),
    ])
    a, b, c = world.instances[10], world.instances[11], world.instances[12]
    with Listener(a, 22), Listener(a, 23):
        assert tcp_probe(b, "10.1.0.10", 22) == "10.1.0.11"
        assert tcp_probe(c, "10.1.0.10", 22, timeout=0.5) is None
        assert tcp_probe(b, "10.1.0.10", 23, timeout=0.5) is None
    assert ping(c, "10.1.0.10")
    assert not ping(a, "10.1.0.12", timeout=0.5)  # sg-b admits nothing


def test_group_to_group_and_revoke(world: World) -> None:
    groups = [group("sg-web", ingress=[{"protocol": 6, "from_port": 80, "to_port": 80,
                                        "groups": ["sg-app"]}]),
              group("sg-app"), group("sg-other")]
    insts = [inst(10, groups=("sg-web",)), inst(11, groups=("sg-app",)),
             inst(12, groups=("sg-other",))]
    world.apply(insts, groups)
    web, app, other = world.instances[10], world.instances[11], world.instances[12]
    with Listener(web, 80):
        assert tcp_probe(app, "10.1.0.10", 80) == "10.1.0.11"
        assert tcp_probe(other, "10.1.0.10", 80, timeout=0.5) is None
        # An established connection survives the revoke; new ones do not pass.
        held = run_in(app, lambda: socket.create_connection(("10.1.0.10", 80), timeout=2))
        try:
            groups[0]["ingress"] = []
            world.apply(insts, groups)
            assert tcp_probe(app, "10.1.0.10", 80, timeout=0.5) is None
            assert held.recv(100) == b"10.1.0.11\n"
        finally:
            held.close()
        # Joining the group admits the other instance once the rule is back.
        groups[0]["ingress"] = [{"protocol": 6, "from_port": 80, "to_port": 80,
                                 "groups": ["sg-app"]}]
        insts[2]["security_groups"] = ["sg-other", "sg-app"]
        world.apply(insts, groups)
        assert tcp_probe(other, "10.1.0.10", 80) == "10.1.0.12"


def test_egress_rules(world: World) -> None:
    world.apply([inst(10, groups=("sg-a",)), inst(11, groups=("sg-b",))], [
        group("sg-a", egress=[{"protocol": 6, "from_port": 80, "to_port": 80,
                               "cidrs": ["10.1.0.11/32"]}]),
        group("sg-b", ingress=[{"protocol": -1, "cidrs": ["10.1.0.0/16"]}]),
    ])
    a, b = world.instances[10], world.instances[11]
    with Listener(b, 80), Listener(b, 81):
        assert tcp_probe(a, "10.1.0.11", 80) == "10.1.0.10"
        assert tcp_probe(a, "10.1.0.11", 81, timeout=0.5) is None
    assert not ping(a, "10.1.0.11", timeout=0.5)
    assert ping(b, "10.1.0.10") is False  # sg-a has no ingress at all


def test_elastic_ip_inbound_outbound_and_reassociation(world2: World) -> None:
    w = world2
    groups = [group("sg-a", ingress=[{"protocol": 6, "from_port": 22, "to_port": 22,
                                      "cidrs": ["0.0.0.0/0"]}])]
    insts = [inst(10, public="198.51.100.10"), inst(11), inst(20, host="h2")]
    w.apply(insts, groups)
    a, b, c = w.instances[10], w.instances[11], w.instances[20]
    with Listener(a, 22), Listener(b, 22), Listener(c, 22), Listener(w.out, 8080):
        assert tcp_probe(w.out, "198.51.100.10", 22) == "198.51.100.1"
        assert tcp_probe(a, "198.51.100.1", 8080) == "198.51.100.10"
        assert tcp_probe(b, "198.51.100.1", 8080, timeout=0.5) is None  # no EIP, no route back
        # Re-associate to another instance on the same host.
        insts[0]["public_ip"], insts[1]["public_ip"] = None, "198.51.100.10"
        w.apply(insts, groups)
        assert tcp_probe(w.out, "198.51.100.10", 22) == "198.51.100.1"
        assert tcp_probe(b, "198.51.100.1", 8080) == "198.51.100.10"
        assert tcp_probe(a, "198.51.100.1", 8080, timeout=0.5) is None
        # ... and to an instance on the other host (gratuitous ARP moves it).
        insts[1]["public_ip"], insts[2]["public_ip"] = None, "198.51.100.10"
        w.apply(insts, groups)
        assert wait_until(lambda: tcp_probe(c, "198.51.100.1", 8080, 0.5) == "198.51.100.10",
                          timeout=3)
        assert wait_until(lambda: tcp_probe(w.out, "198.51.100.10", 22, 0.5) is not None,
                          timeout=3)
        assert tcp_probe(b, "198.51.100.1", 8080, timeout=0.5) is None


def test_spoofed_mac_and_ip_are_dropped(world: World) -> None:
    everyone = [{"protocol": -1, "cidrs": ["0.0.0.0/0"]}]
    world.apply([inst(10), inst(11), inst(12)], [group("sg-a", ingress=everyone)])
    a = world.instances[10]
    with Listener(world.instances[11], 22):
        assert tcp_probe(a, "10.1.0.11", 22) == "10.1.0.10"
        add_address(a, "eth0", "10.1.0.99/16")
        assert tcp_probe(a, "10.1.0.11", 22, timeout=0.5, source="10.1.0.99") is None
        add_address(a, "eth0", "10.1.0.12/32")  # another instance's address
        assert tcp_probe(a, "10.1.0.11", 22, timeout=0.5, source="10.1.0.12") is None
        set_mac(a, "eth0", "d0:0d:00:00:00:77")
        assert tcp_probe(a, "10.1.0.11", 22, timeout=0.5) is None
        set_mac(a, "eth0", "d0:0d:00:00:00:0a")
        assert wait_until(lambda: tcp_probe(a, "10.1.0.11", 22, 0.5) == "10.1.0.10", 3)


def test_instances_on_two_hosts(world2: World) -> None:
    w = world2
    groups = [group("sg-a", ingress=[{"protocol": 6, "from_port": 22, "to_port": 22,
                                      "groups": ["sg-a"]},
                                     {"protocol": 1, "cidrs": ["10.1.0.0/16"]}]),
              group("sg-b")]
    w.apply([inst(10), inst(20, host="h2"), inst(21, host="h2", groups=("sg-b",))], groups)
    a, c, d = w.instances[10], w.instances[20], w.instances[21]
    with Listener(a, 22), Listener(c, 22):
        assert tcp_probe(a, "10.1.0.20", 22) == "10.1.0.10"
        assert tcp_probe(c, "10.1.0.10", 22) == "10.1.0.20"
        assert tcp_probe(d, "10.1.0.10", 22, timeout=0.5) is None
    assert ping(d, "10.1.0.10")
    assert ping(a, "10.1.0.1")  # each host answers as the gateway for its own instances


class _MetadataHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path,
                           "xff": self.headers.get_all("X-Forwarded-For")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "unix"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _http_get(ns: str, path: str, extra: str = "") -> bytes:
    def body() -> bytes:
        with socket.create_connection(("169.254.169.254", 80), timeout=3) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{extra}\r\n".encode())
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            return data

    return run_in(ns, body)


def test_metadata_proxy_passes_source_ip(lab: Lab) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="netd-md-"))
    path = str(sock_dir / "md.sock")
    server = _UnixHTTPServer(path, _MetadataHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w = World(lab, metadata=f"unix:{path}")
    try:
        w.apply([inst(10), inst(11)], [group("sg-a")])
        daemons.wait_for_pidfile(w.state / "h1" / "mdproxy.pid", None)
        reply = _http_get(w.instances[11], "/latest/meta-data/instance-id",
                          "X-Forwarded-For: 10.1.0.10\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] + b" "
        assert json.loads(body) == {"path": "/latest/meta-data/instance-id",
                                    "xff": ["10.1.0.11"]}
    finally:
        w.close()
        server.shutdown()
        server.server_close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_dhcp_static_lease(world: World) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox (udhcpc) is not installed: run scripts/install-deps.sh")
    world.apply([inst(10)], [group("sg-a")])
    out = subprocess.run(
        ["ip", "netns", "exec", world.instances[10], busybox, "udhcpc", "-i", "eth0", "-n",
         "-q", "-t", "3", "-T", "1", "-s", "/bin/true"],
        capture_output=True, text=True, timeout=20)
    assert "10.1.0.10" in out.stdout + out.stderr, out


def test_restart_converges_and_removes_stale(world: World) -> None:
    groups = [group("sg-a", ingress=[{"protocol": 6, "from_port": 22, "to_port": 22,
                                      "cidrs": ["0.0.0.0/0"]}]), group("sg-old")]
    world.apply([inst(10, public="198.51.100.10"), inst(11, groups=("sg-old",),
                                                         public="198.51.100.11")], groups)
    ns = world.hosts["h1"]
    state = world.state / "h1"
    dnsmasq_pid = daemons.read_pid(state / "dnsmasq.pid")
    assert dnsmasq_pid is not None
    # The agent dies; meanwhile dnsmasq is killed and someone adds a rule to our table.
    del world.agents["h1"]
    os.kill(dnsmasq_pid, signal.SIGKILL)
    nft.apply(ns, [{"add": {"chain": {"family": "inet", "table": "netd", "name": "stray"}}}])
    agent = world.agents["h1"] = world.agent("h1")
    assert agent.resync() == world.version  # from the view saved on disk
    assert agent.status().applied_version == world.version
    assert daemons.read_pid(state / "dnsmasq.pid") not in (None, dnsmasq_pid)
    # A new view without i-000b, sg-old and its EIP: nothing of them is left.
    world.apply([inst(10, public="198.51.100.10")], groups[:1])
    table = nft.list_ruleset(ns, "inet", render.TABLE)
    chains = {o["chain"]["name"] for o in table if "chain" in o}
    assert "stray" not in chains and "sgi-sg-old" not in chains and "sgi-sg-a" in chains
    ingress = next(o["map"] for o in table if "map" in o and o["map"]["name"] == "ingress")
    assert [e[0] for e in ingress["elem"]] == ["10.1.0.10"]
    addrs = subprocess.run(["ip", "netns", "exec", ns, "ip", "-4", "-o", "addr", "show", "ul0"],
                           capture_output=True, text=True, check=True).stdout
    assert "198.51.100.10/32" in addrs and "198.51.100.11" not in addrs
    assert (state / "dhcp-hosts").read_text() == "d0:0d:00:00:00:0a,10.1.0.10,i-000a\n"
    with Listener(world.instances[10], 22):
        assert tcp_probe(world.out, "198.51.100.10", 22) == "198.51.100.1"
    # Older views are ignored; teardown leaves nothing in the namespace.
    assert agent.apply(world.view([], [])) == world.version
    agent.teardown()
    assert nft.list_ruleset(ns, "inet", render.TABLE) == []
    links = subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "link"],
                           capture_output=True, text=True, check=True).stdout
    assert "br-cloud" not in links and "vx-cloud" not in links
    assert not state.exists()


async def test_run_loop_applies_submitted_views(world: World) -> None:
    import asyncio

    agent = world.agents["h1"]
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        agent.submit(world.view([inst(10)], [group("sg-a")]))
        for _ in range(200):
            if agent.status().applied_version == world.version:
                break
            await asyncio.sleep(0.05)
        assert agent.status().applied_version == world.version
        assert agent.status().last_error is None
    finally:
        stop.set()
        agent.submit(world.view([inst(10)], [group("sg-a")]))
        await asyncio.wait_for(task, 30)
