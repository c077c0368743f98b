"""A lab for the load balancer data plane: an uplink namespace with a bridge, back-end
namespaces each running a small HTTP server (its name as the body; `/health` answers
200, or 500 while `<dir>/sick-<name>` exists), and an outside client namespace.
Everything lives in namespaces the lab creates and removes; processes are ours (by pid).
"""

from __future__ import annotations

import http.client
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from netd import netns

SERVER = r'''
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
name, port, flags = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        sick = os.path.exists(os.path.join(flags, "sick-" + name))
        code = 500 if self.path == "/health" and sick else 200
        body = (name + " " + self.headers.get("X-Forwarded-For", "-") + " "
                + self.headers.get("X-Forwarded-Proto", "-")).encode()
        self.send_response(code)
        if self.path.startswith("/setcookie"):
            self.send_header("Set-Cookie", "SESSION=abc")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
'''


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class ElbLab:
    """10.77.0.0/24 on a bridge in the uplink namespace: back-ends .21.., the client
    .100, load balancers where the test puts them."""

    def __init__(self, work: Path, client: str = "10.77.0.100/24") -> None:
        self.tag = secrets.token_hex(3)
        self.work = work
        self.uplink = f"elbt-up-{self.tag}"
        self.client = f"elbt-cl-{self.tag}"
        self.bridge = "br-lab"
        self.namespaces: list[str] = []
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        self.addresses: dict[str, str] = {}
        self._add_ns(self.uplink)
        ip("-n", self.uplink, "link", "add", self.bridge, "type", "bridge")
        ip("-n", self.uplink, "link", "set", self.bridge, "up")
        ip("-n", self.uplink, "link", "set", "lo", "up")
        self._plug(self.client, client, "c")
        self.outside: str | None = None

    def add_outside(self, cidr: str = "198.51.100.100/24") -> str:
        """An outside namespace on a second bridge (`br-pub`): the public side."""
        ip("-n", self.uplink, "link", "add", "br-pub", "type", "bridge")
        ip("-n", self.uplink, "link", "set", "br-pub", "up")
        self.outside = f"elbt-out-{self.tag}"
        self._add_ns(self.outside)
        host_if = f"vo{self.tag}"
        ip("-n", self.uplink, "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
           "netns", self.outside)
        ip("-n", self.uplink, "link", "set", host_if, "master", "br-pub", "up")
        ip("-n", self.outside, "link", "set", "lo", "up")
        ip("-n", self.outside, "link", "set", "eth0", "up")
        ip("-n", self.outside, "addr", "add", cidr, "dev", "eth0")
        return self.outside

    def _add_ns(self, ns: str) -> None:
        ip("netns", "add", ns)
        self.namespaces.append(ns)

    def _plug(self, ns: str, cidr: str, short: str) -> None:
        self._add_ns(ns)
        host_if = f"v{short}{self.tag}"
        ip("-n", self.uplink, "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        ip("-n", self.uplink, "link", "set", host_if, "master", self.bridge, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "addr", "add", cidr, "dev", "eth0")

    def add_backend(self, name: str, index: int, port: int = 8080,
                    address: str | None = None, prefix_len: int = 24) -> str:
        address = address or f"10.77.0.{20 + index}"
        self._plug(f"elbt-b{index}-{self.tag}", f"{address}/{prefix_len}", f"b{index}")
        self.addresses[name] = address
        self.start_backend(name, index, port)
        return address

    def start_backend(self, name: str, index: int, port: int = 8080) -> None:
        ns = f"elbt-b{index}-{self.tag}"
        self.servers[name] = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, name, str(port),
             str(self.work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.get(self.addresses[name], port, "/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"back-end {name} did not start")

    def stop_backend(self, name: str) -> None:
        proc = self.servers.pop(name)
        proc.kill()
        proc.wait()

    def sick(self, name: str, on: bool) -> None:
        flag = self.work / f"sick-{name}"
        if on:
            flag.write_text("1")
        else:
            flag.unlink(missing_ok=True)

    def get(self, address: str, port: int, path: str = "/",
            headers: dict[str, str] | None = None, timeout: float = 3.0,
            ns: str | None = None) -> tuple[int, str, dict[str, str]]:
        """GET from the client namespace (or ``ns``)."""
        def body() -> tuple[int, str, dict[str, str]]:
            conn = http.client.HTTPConnection(address, port, timeout=timeout)
            try:
                conn.request("GET", path, headers=headers or {})
                resp = conn.getresponse()
                return resp.status, resp.read().decode(), dict(resp.getheaders())
            finally:
                conn.close()

        return netns.run_in(ns or self.client, body)

    def get_tls(self, address: str, port: int, ca_pem: str,
                server_name: str) -> tuple[int, str]:
        """GET over TLS from the client namespace, verifying against ``ca_pem``."""
        import ssl

        # the certificate names ``server_name``; connect by address, check that name
        def named() -> tuple[int, str]:
            ctx = ssl.create_default_context(cadata=ca_pem)
            raw = socket.create_connection((address, port), timeout=3)
            tls = ctx.wrap_socket(raw, server_hostname=server_name)
            try:
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\n"
                            "Connection: close\r\n\r\n".encode())
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
            finally:
                tls.close()
            head, _, text = data.decode().partition("\r\n\r\n")
            return int(head.split()[1]), text

        return netns.run_in(self.client, named)

    def close(self) -> None:
        for proc in self.servers.values():
            proc.kill()
            proc.wait()
        self.servers.clear()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)

    def __enter__(self) -> ElbLab:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def wait_for(pred: Any, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


__all__ = ["ElbLab", "wait_for"]


def self_signed(common_name: str) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a fresh self-signed certificate."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode())
