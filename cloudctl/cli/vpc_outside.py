"""The outside network of the all-in-one VPC host: where internet gateways lead.

``cloudctl up`` in VPC mode with a hypervisor node makes a bridge (``br-out``) in the
namespace its guests live in (the private libvirtd's), with the gateway address of the
cloud's public pool (the first address of the /24 holding the first ``PublicIps`` entry:
``198.51.100.1/24`` by default). The VPC host agent plugs each VPC router's outside leg
(its internet gateway, public addresses 1:1) into it and routes through that gateway.

The cloud's API answers there too: a relay listens on the gateway address (on the API's
port, inside that namespace) and carries each connection to the API, so an instance with
a public address reaches the cloud as a user would (``curl`` of a CloudFormation wait
condition handle, the AWS CLI in a guest). ``guest_endpoint`` is that URL. The host's own
namespace gets no address, route or interface: the outside is the guests' namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import subprocess
import threading

log = logging.getLogger("cloudctl.up.outside")

BRIDGE = "br-out"
DEFAULT_GATEWAY = "198.51.100.1/24"
CHUNK = 65536


def gateway_of(configuration: str) -> str:
    """The outside gateway (``address/prefix``) of a network configuration's JSON text:
    the first address of the /24 holding its first public address."""
    try:
        pool = json.loads(configuration or "{}").get("PublicIps") or []
        first = str(pool[0]).split("-", 1)[0].strip()
        net = ipaddress.ip_network(f"{first}/24", strict=False)
    except (ValueError, IndexError, AttributeError, TypeError):
        return DEFAULT_GATEWAY
    return f"{net.network_address + 1}/24"


def _ip(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True,
                          check=check)


def make_bridge(netns: str, gateway: str) -> None:
    """``br-out`` with the gateway address, up (idempotent)."""
    if _ip(netns, "link", "show", BRIDGE, check=False).returncode != 0:
        _ip(netns, "link", "add", BRIDGE, "type", "bridge")
    if gateway not in _ip(netns, "-4", "-o", "addr", "show", "dev", BRIDGE).stdout:
        _ip(netns, "addr", "add", gateway, "dev", BRIDGE)
    _ip(netns, "link", "set", BRIDGE, "up")


def remove_bridge(netns: str) -> None:
    _ip(netns, "link", "del", BRIDGE, check=False)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class ApiRelay:
    """A listener inside ``netns`` at ``address:port`` relaying each connection to the API
    at ``127.0.0.1:api_port`` (this process's namespace)."""

    def __init__(self, netns: str, address: str, port: int, api_port: int) -> None:
        from netd import netns as netns_mod

        self.sock = netns_mod.listen_in(netns, address, port)  # it stays in that namespace
        self.api_port = api_port
        self._thread = threading.Thread(target=self._accept, name="api-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return  # closed: stopping
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.api_port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Outside:
    """The outside bridge and the API relay on it, for the life of ``cloudctl up``."""

    def __init__(self, netns: str, gateway: str, api_port: int) -> None:
        self.netns = netns
        self.gateway = gateway
        self.api_port = api_port
        self.relay: ApiRelay | None = None

    @property
    def address(self) -> str:
        return self.gateway.split("/", 1)[0]

    @property
    def guest_endpoint(self) -> str:
        """The API's URL as instances with a public address reach it."""
        return f"http://{self.address}:{self.api_port}"

    def start(self) -> None:
        make_bridge(self.netns, self.gateway)
        self.relay = ApiRelay(self.netns, self.address, self.api_port, self.api_port)
        self.relay.start()
        log.info("outside network %s in %s; the API answers guests at %s", self.gateway,
                 self.netns, self.guest_endpoint)

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        remove_bridge(self.netns)
