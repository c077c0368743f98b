"""Raw-socket clients that hang up mid-upload, and the RSS of a server process."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from tests.support import LiveCloud

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / (1 << 20)


def signed_put_head(cloud: LiveCloud, bucket: str, key: str, size: int) -> bytes:
    """The request line and SigV4-signed headers of a PUT of ``size`` bytes of ``x``
    (signed once: every abort reuses it)."""
    url = f"{cloud.endpoint}/{bucket}/{key}"
    digest = hashlib.sha256(b"x" * size).hexdigest()
    request = AWSRequest(method="PUT", url=url, data=b"", headers={"Content-Length": str(size)})
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)

    class _Signer(botocore.auth.S3SigV4Auth):
        def payload(self, request: AWSRequest) -> str:
            return digest

    _Signer(creds, "s3", cloud.region).add_auth(request)
    lines = [f"PUT /{bucket}/{key} HTTP/1.1", f"Host: 127.0.0.1:{cloud.port}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()
              if name.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def abort_uploads(port: int, head: bytes, count: int, sent: int,
                  concurrency: int = 16, on_error: Callable[[BaseException], None] | None = None,
                  pause: float = 0.0) -> int:
    """``count`` connections that send ``head`` and ``sent`` body bytes, wait ``pause``
    seconds, then reset (``concurrency`` at a time); the number that got to the reset."""
    chunk = b"x" * (256 << 10)
    done = [0]
    lock = threading.Lock()
    todo = iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(head)
                    left = sent
                    while left > 0:
                        part = chunk[:min(left, len(chunk))]
                        sock.sendall(part)
                        left -= len(part)
                    time.sleep(pause)
                    # a hard close (RST), as a killed client does
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                with lock:
                    done[0] += 1
            except OSError as exc:
                if on_error is not None:
                    on_error(exc)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0]
