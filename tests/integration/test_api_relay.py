"""The API relay of the VPC outside network (cloudctl.cli.vpc_outside.ApiRelay): a
listener made inside a namespace (netd.netns.listen_in) that carries each connection,
both ways, to the API on this process's loopback. Guests with a public address reach
the API through it; here a client in a lab namespace stands in for them."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.integration
pytest.importorskip("pyroute2")
if os.geteuid() != 0:
    pytest.fail("needs root: run the suite as the README says", pytrace=False)

from cloudctl.cli.vpc_outside import ApiRelay  # noqa: E402
from netd import netns  # noqa: E402
from netd.lab import Lab, recv_line  # noqa: E402


@pytest.fixture
def echo_port() -> Iterator[int]:
    """An upper-casing echo server on this namespace's loopback (the API's stand-in)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(recv_line(conn, 4096).upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept
    server.close()
    thread.join(timeout=2)


def _ask(ns: str, port: int, line: bytes) -> bytes:
    def body() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(line)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            return answer

    return netns.run_in(ns, body)


def test_relay_listens_only_in_its_namespace_and_carries_both_ways(echo_port: int) -> None:
    with Lab() as lab:
        ns = lab.ns("relay")
        relay = ApiRelay(ns, "127.0.0.1", 18773, echo_port)
        relay.start()
        try:
            assert _ask(ns, 18773, b"describe-instances\n") == b"DESCRIBE-INSTANCES\n"
            # a second connection after the first closed: the accept loop goes on
            assert _ask(ns, 18773, b"x" * 70000 + b"\n") == b"X" * 70000 + b"\n"
            # the listener is in the namespace, not in the caller's
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", 18773), timeout=2).close()
            # the address is taken in the namespace while the relay holds it
            with pytest.raises(OSError):
                netns.listen_in(ns, "127.0.0.1", 18773).close()
        finally:
            relay.stop()
        # stopped: the port is free again in the namespace
        netns.listen_in(ns, "127.0.0.1", 18773).close()
