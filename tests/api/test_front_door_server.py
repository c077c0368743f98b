"""The API port's low-level server (``cloudctl.server.app.make_server``): what aiohttp's
router and application did for it, over raw sockets (``Expect``, the health check,
paths no route matched)."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from tests.support import LiveCloud

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def _connect(cloud: LiveCloud) -> socket.socket:
    return socket.create_connection(("127.0.0.1", cloud.port), timeout=10)


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of one answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head, body


def _signed_head(cloud: LiveCloud, expect: str) -> bytes:
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    request = AWSRequest(method="POST", url=cloud.endpoint + "/", data=BODY, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, "sts", cloud.region).add_auth(request)
    lines = [b"POST / HTTP/1.1", f"Host: 127.0.0.1:{cloud.port}".encode(),
             f"Content-Length: {len(BODY)}".encode(), f"Expect: {expect}".encode()]
    lines += [f"{k}: {v}".encode() for k, v in request.headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_expect_100_continue_then_answer(sqlite_cloud: LiveCloud) -> None:
    """A client that waits for ``100 Continue`` before its body (the AWS CLI, boto3
    uploads, curl over 1 KiB) gets it, then the answer on the same connection."""
    with _connect(sqlite_cloud) as sock:
        sock.sendall(_signed_head(sqlite_cloud, "100-continue"))
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(len(b"HTTP/1.1 100 Continue\r\n\r\n") - len(interim))
            assert chunk
            interim += chunk
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(BODY)
        head, body = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"<GetCallerIdentityResult>" in body


def test_unknown_expectation_is_417(sqlite_cloud: LiveCloud) -> None:
    with _connect(sqlite_cloud) as sock:
        sock.sendall(_signed_head(sqlite_cloud, "something-else"))
        head, body = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 417"), head
    assert body == b"Unknown Expect: something-else"


def test_health_get_head_and_other_methods(sqlite_cloud: LiveCloud) -> None:
    for method in ("GET", "HEAD"):
        with _connect(sqlite_cloud) as sock:
            sock.sendall(f"{method} /_cloud/health HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head, body = _read_answer(sock) if method == "GET" else (sock.recv(65536), b"")
        assert head.startswith(b"HTTP/1.1 200"), head
        if method == "GET":
            assert json.loads(body)["status"] == "ok"
    # any other method on that path is an API request (S3's, unsigned: an S3 error)
    with _connect(sqlite_cloud) as sock:
        sock.sendall(b"POST /_cloud/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        head, body = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"<Error><Code>" in body and b"x-amz-request-id" in head.lower()


def test_request_target_not_a_path_is_404(sqlite_cloud: LiveCloud) -> None:
    with _connect(sqlite_cloud) as sock:
        sock.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        head, body = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 404"), head
    assert body == b"404: Not Found"


def _chunked_head(cloud: LiveCloud) -> bytes:
    head = _signed_head(cloud, "x").replace(b"Expect: x\r\n", b"")
    return head.replace(f"Content-Length: {len(BODY)}".encode(), b"Transfer-Encoding: chunked")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_bodies_buffered_whole_or_arriving_in_parts(sqlite_cloud: LiveCloud) -> None:
    """A body already buffered when the request is dispatched is taken at once; one still
    arriving is read as it comes; both are the body that was signed. Chunked bodies
    (no Content-Length) over ``max_request_bytes`` are refused either way."""
    with _connect(sqlite_cloud) as sock:
        sock.sendall(_chunked_head(sqlite_cloud) + _chunk(BODY) + b"0\r\n\r\n")
        head, body = _read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        sock.sendall(_chunked_head(sqlite_cloud) + _chunk(BODY[:10]))
        time.sleep(0.3)
        sock.sendall(_chunk(BODY[10:]) + b"0\r\n\r\n")
        head, body = _read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"<GetCallerIdentityResult>" in body
    sqlite_cloud.set_properties("bootstrap.webservices.max_request_bytes=2048")
    try:
        big = _chunk(b"a" * 4096)
        for parts in ([big + b"0\r\n\r\n"], [big[:100], big[100:] + b"0\r\n\r\n"]):
            with _connect(sqlite_cloud) as sock:
                sock.sendall(_chunked_head(sqlite_cloud) + parts[0])
                for part in parts[1:]:
                    time.sleep(0.3)
                    with contextlib.suppress(OSError):  # the answer may come first
                        sock.sendall(part)
                head, body = _read_answer(sock)
            assert head.startswith(b"HTTP/1.1 413"), head
            assert b"<Code>RequestEntityTooLarge</Code>" in body
    finally:
        sqlite_cloud.reset_properties("bootstrap.webservices.max_request_bytes")
