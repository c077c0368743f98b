"""Slow and stalled clients are shed.

Raw sockets play the abusive clients (headers one byte at a time, connections that
never send, bodies never finished); a boto3 client is served normally meanwhile.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support import LiveCloud


def _set(cloud: LiveCloud, *items: str) -> None:
    cloud.set_properties(*items)
    time.sleep(1.5)  # every worker polls the change


def _closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Seconds until the server closed ``sock`` (and what it answered first)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    answer = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"connection still open after {seconds}s") from None
    return time.monotonic() - start, answer


@pytest.fixture()
def short_timeouts(sqlite_cloud: LiveCloud) -> Iterator[LiveCloud]:
    _set(sqlite_cloud, "bootstrap.webservices.header_timeout_sec=2",
         "bootstrap.webservices.body_idle_timeout_sec=2")
    try:
        yield sqlite_cloud
    finally:
        sqlite_cloud.reset_properties("bootstrap.webservices.header_timeout_sec",
                                      "bootstrap.webservices.body_idle_timeout_sec")


def test_stalled_headers_and_bodies_are_closed(short_timeouts: LiveCloud) -> None:
    cloud = short_timeouts
    sts = cloud.client("sts")
    served: list[float] = []
    stop = threading.Event()

    def normal_client() -> None:
        while not stop.is_set():
            start = time.monotonic()
            sts.get_caller_identity()
            served.append(time.monotonic() - start)
            time.sleep(0.1)

    # headers trickling in, and a connection that never sends a byte
    trickle = socket.create_connection(("127.0.0.1", cloud.port))
    silent = socket.create_connection(("127.0.0.1", cloud.port))
    # a body that stops after 10 of 1000 bytes
    stalled = socket.create_connection(("127.0.0.1", cloud.port))
    stalled.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n\r\nAction=Get")
    thread = threading.Thread(target=normal_client)
    thread.start()
    try:
        trickle.settimeout(0.5)
        start = time.monotonic()
        closed_at = None
        for byte in b"GET /_cloud/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            try:
                trickle.send(bytes([byte]))
                if trickle.recv(1) == b"":
                    closed_at = time.monotonic() - start
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - start
                break
        assert closed_at is not None and closed_at < 2 + 2.5, closed_at
        waited, _ = _closed_within(silent, 4.5)
        assert waited < 4.5
        waited, answer = _closed_within(stalled, 4.5)
        assert b" 400 " in answer.split(b"\r\n", 1)[0], answer[:200]
        assert b"RequestTimeout" in answer
    finally:
        stop.set()
        thread.join()
        for sock in (trickle, silent, stalled):
            sock.close()
    assert len(served) >= 10 and max(served) < 1.5, served


def test_slowloris_of_many_connections_is_shed(short_timeouts: LiveCloud) -> None:
    cloud = short_timeouts
    socks = []
    for _ in range(1000):
        sock = socket.create_connection(("127.0.0.1", cloud.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    try:
        start = time.monotonic()
        assert cloud.client("sts").get_caller_identity()["Account"]
        assert time.monotonic() - start < 2
        time.sleep(4.5)
        for sock in socks:
            sock.settimeout(2)
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        for sock in socks:
            sock.close()


def test_a_client_that_half_closes_after_its_request_gets_the_answer(
        sqlite_cloud: LiveCloud) -> None:
    """HTTP/1.0 clients such as `nc` shut their sending side once the request is out (the
    seed template's guests signal their wait condition that way): the answer is still
    written, then the connection is closed. A request cut short by the half-close is not
    waited for."""
    cloud = sqlite_cloud
    for n in range(20):  # the FIN arrives with the request, before or after the handler
        version = b"HTTP/1.0" if n % 2 else b"HTTP/1.1"  # 1.1: keep-alive, closed anyway
        with socket.create_connection(("127.0.0.1", cloud.port)) as s:
            s.sendall(b"GET /?Action=GetCallerIdentity&Version=2011-06-15 " + version +
                      b"\r\nHost: 127.0.0.1\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            seconds, answer = _closed_within(s, 10)
        assert answer.split(b" ", 2)[1:2] == [b"403"], (n, answer[:200])
        assert b"<Error>" in answer, answer[-300:]
        assert seconds < 5
    # a body promised and not sent before the half-close: closed at once, no answer
    with socket.create_connection(("127.0.0.1", cloud.port)) as s:
        s.sendall(b"PUT /bucket/key HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                  b"\r\nshort")
        s.shutdown(socket.SHUT_WR)
        seconds, answer = _closed_within(s, 10)
    assert seconds < 5
