"""Per-VPC services on the data plane: DHCP and DNS (dnsmasq per subnet, the option
set's domain, ip-a-b-c-d names) and the metadata service at 169.254.169.254 naming
the caller by its ENI, also when two VPCs use the same addresses."""

from __future__ import annotations

import http.server
import socket
import socketserver
import subprocess
import threading
from pathlib import Path

import pytest

from netd import netns
from netd.lab import add_address, wait_until
from netd.vpc import topology as t
from tests.integration.test_vpc_dataplane import eni, vpc_objects
from tests.integration.vpc_world import World

pytestmark = pytest.mark.integration


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = " ".join(self.headers.get(h, "-") for h in (
            "X-Cloud-Vpc-Id", "X-Cloud-Eni-Id", "X-Cloud-Instance-Id", "X-Forwarded-For"))
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _UnixHTTP(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # a Unix peer has no address: give the handler one
        sock, _ = super().get_request()
        return sock, ("unix", 0)


@pytest.fixture
def metadata_socket(tmp_path: Path):
    path = tmp_path / "md.sock"
    server = _UnixHTTP(str(path), _Echo)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    yield path
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(zookeeper, tmp_path: Path, metadata_socket: Path):
    w = World(zookeeper, tmp_path, hosts=("h1", "h2"), dhcp=True,
              metadata=f"unix:{metadata_socket}")
    yield w
    w.close()


def http_get(ns: str, ip: str, path: str, source: str | None = None) -> str | None:
    def body() -> str | None:
        try:
            src = (source, 0) if source else None
            with socket.create_connection((ip, 80), timeout=2, source_address=src) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {ip}\r\n"
                          f"X-Cloud-Instance-Id: i-forged\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
        except OSError:
            return None
        head, _, rest = data.partition(b"\r\n\r\n")
        return rest.decode() if head.startswith(b"HTTP/1.1 200") else head.decode()

    return netns.run_in(ns, body)


def test_dhcp_and_dns_names_from_the_option_set(world):
    opts = t.DhcpOptions(id="dopt-1", domain_name="corp.example")
    vpc = t.Vpc(id="vpc-a", vni=3001, cidrs=("10.0.0.0/16",), dhcp_options_id="dopt-1",
                enable_dns_hostnames=True)
    objs = [o for o in vpc_objects("vpc-a", 3001) if not isinstance(o, t.Vpc)]
    e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    e2 = eni(2, "vpc-a", 2, "h2", "10.0.2.5")
    world.start_agent("h1")
    world.start_agent("h2")
    world.applied(world.publish(opts, vpc, *objs, e1, e2), ("h1", "h2"))
    i1 = world.plug(e1, "10.0.1.0/24")
    lease = subprocess.run(netns.exec_prefix(i1) + [
        "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
        "-s", "/bin/true"], capture_output=True, text=True, timeout=30)
    assert "lease of 10.0.1.5 obtained" in lease.stdout + lease.stderr, lease
    look = subprocess.run(netns.exec_prefix(i1) + [
        "busybox", "nslookup", "ip-10-0-2-5.corp.example", "10.0.1.1"],
        capture_output=True, text=True, timeout=30)
    assert "10.0.2.5" in look.stdout, look
    # Hostnames off: the name disappears (dnsmasq re-reads its files on SIGHUP).
    world.applied(world.publish(t.Vpc(id="vpc-a", vni=3001, cidrs=("10.0.0.0/16",),
                                      dhcp_options_id="dopt-1")), ("h1", "h2"))

    def gone() -> bool:
        out = subprocess.run(netns.exec_prefix(i1) + [
            "busybox", "nslookup", "ip-10-0-2-5.corp.example", "10.0.1.1"],
            capture_output=True, text=True, timeout=30).stdout
        return "10.0.2.5" not in out

    assert wait_until(gone, 5)


def test_metadata_names_each_instance_by_its_eni_even_with_overlapping_addresses(world):
    a = vpc_objects("vpc-a", 3002)
    c = vpc_objects("vpc-c", 3003)
    ea = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    ec = eni(2, "vpc-c", 1, "h1", "10.0.1.5")  # same address, other VPC, same host
    world.start_agent("h1")
    world.applied(world.publish(*a, *c, ea, ec), ("h1",))
    ia, ic = world.plug(ea, "10.0.1.0/24"), world.plug(ec, "10.0.1.0/24")
    path = "/latest/meta-data/instance-id"
    assert wait_until(lambda: http_get(ia, "169.254.169.254", path) is not None, 5)
    assert http_get(ia, "169.254.169.254", path) == f"vpc-a {ea.id} i-1 10.0.1.5"
    assert http_get(ic, "169.254.169.254", path) == f"vpc-c {ec.id} i-2 10.0.1.5"
    # An address that is no ENI's (source/dest check off lets it out) gets 403.
    world.applied(world.publish(eni(1, "vpc-a", 1, "h1", "10.0.1.5",
                                    source_dest_check=False)), ("h1",))
    add_address(ia, "eth0", "10.0.1.77/24")
    assert wait_until(lambda: (http_get(ia, "169.254.169.254", path, "10.0.1.77") or "")
                      .startswith("HTTP/1.1 403"), 5)


def _lease(ns: str) -> str:
    done = subprocess.run(netns.exec_prefix(ns) + [
        "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "1",
        "-s", "/bin/true"], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def test_an_address_a_gone_interface_held_is_leased_to_the_next_one(world):
    """A guest terminated without releasing its lease, and the next interface in the
    subnet given the same address (as EC2 reuses a freed private address): dnsmasq would
    refuse the new MAC until the old lease expired (an hour), so the agent drops leases
    of interfaces that are gone."""
    objs = vpc_objects("vpc-a", 3004)
    first = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
    world.start_agent("h1")
    world.applied(world.publish(*objs, first), ("h1",))
    assert "lease of 10.0.1.5 obtained" in _lease(world.plug(first, "10.0.1.0/24"))
    second = eni(3, "vpc-a", 1, "h1", "10.0.1.5")  # another MAC, the same address
    assert second.mac != first.mac
    world.applied(world.publish(second, delete=(("enis", first.id),)), ("h1",))
    assert "lease of 10.0.1.5 obtained" in _lease(world.plug(second, "10.0.1.0/24"))
