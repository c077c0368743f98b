"""The kernel's copy of a file span to a client's socket, on a thread: S3 GETs on uvloop.

An S3 GET of a blob in a local file has the kernel copy it to the socket
(``os.sendfile``): no byte passes through Python. asyncio's loop does that in
``loop.sendfile``; uvloop, the API workers' default loop, has none (its ``sendfile``
is ``AbstractEventLoop``'s, which raises ``NotImplementedError``), and a file
descriptor its transport owns cannot be watched with ``add_writer`` either. So
:func:`send_span` runs the same system call on a thread of its own pool, waiting for
the socket with ``poll`` when the client's window is full, while the loop goes on
(its transport keeps reading the socket; nothing else writes to it until the response
ends). The transport's own buffer (the response's headers) is sent first.

A client that stops reading for ``idle`` seconds, or goes away, ends the copy with a
``ConnectionError`` (the handler logs a client abort, as for an awaited write).

Must not: be used for a TLS transport (the bytes would go out unencrypted) or while
anything else may write to the transport.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
from concurrent.futures import ThreadPoolExecutor

THREADS = 64  # copies at once a process; a copy waiting on a slow client holds one
DRAIN_POLL = 0.002  # seconds between looks at the transport's buffer before the copy
IDLE = 120.0  # seconds a client may not read before its copy ends

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(THREADS, thread_name_prefix="sendfile")
    return _POOL


def copy_span(sock_fd: int, file_fd: int, offset: int, count: int, idle: float) -> int:
    """Copy ``count`` bytes of ``file_fd`` from ``offset`` to the non-blocking socket
    ``sock_fd`` by ``os.sendfile``; the bytes sent. Blocks (a thread's work)."""
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    sent_all = 0
    while count > 0:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, count)
        except BlockingIOError:
            ready = poller.poll(int(idle * 1000))
            if not ready:
                raise ConnectionAbortedError(errno.ETIMEDOUT, "the client stopped reading") \
                    from None
            if ready[0][1] & (select.POLLERR | select.POLLHUP):
                raise ConnectionResetError(errno.ECONNRESET, "the client went away") from None
            continue
        if sent == 0:  # the file is shorter than the span: never answer short silently
            raise OSError(errno.EIO, "the file ended before the span")
        offset += sent
        count -= sent
        sent_all += sent
    return sent_all


async def send_span(transport: asyncio.BaseTransport, file_fd: int, offset: int,
                    count: int, idle: float = IDLE) -> None:
    """Send ``count`` bytes of ``file_fd`` from ``offset`` on ``transport``'s socket,
    after what the transport holds; see the module docstring."""
    while transport.get_write_buffer_size():  # type: ignore[attr-defined]
        if transport.is_closing():
            raise ConnectionResetError(errno.ECONNRESET, "the client went away")
        await asyncio.sleep(DRAIN_POLL)
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        raise ConnectionResetError(errno.ECONNRESET, "the client went away")
    await asyncio.get_running_loop().run_in_executor(
        _pool(), copy_span, sock.fileno(), file_fd, offset, count, idle)
