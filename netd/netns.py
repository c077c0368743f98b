"""Run code inside a named network namespace without touching the caller's.

Owns: the one primitive every kernel-facing module of netd uses: run a
function in a short-lived thread that has joined `/run/netns/<name>` (setns
changes only the calling thread's namespace, so the process and every other
thread stay where they are), plus helpers built on it (sysctls, argv prefix
for programs that must run inside the namespace, a listening socket made there).

Never creates a namespace: a missing one is an error (`NetnsMissing`).
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsMissing(RuntimeError):
    """The named network namespace does not exist."""


def netns_path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"bad network namespace name {name!r}")
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


def _enter(name: str) -> None:
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise NetnsMissing(f"network namespace {name!r} does not exist") from exc
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(name: str, fn: Callable[[], T]) -> T:
    """Call `fn()` in a fresh thread inside namespace `name`; return its result."""
    box: dict[str, object] = {}

    def body() -> None:
        try:
            _enter(name)
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def listen_in(name: str, address: str, port: int, backlog: int = 128) -> socket.socket:
    """A TCP socket listening at ``address:port`` inside namespace ``name``.

    The socket is made in that namespace and stays there; the caller accepts on it from
    any thread of its own namespace.
    """
    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        return sock

    return run_in(name, bind)


def write_sysctl(name: str, key: str, value: str) -> None:
    """Set a per-namespace sysctl (`key` like `net.ipv4.ip_forward`) in `name`."""
    path = "/proc/sys/" + key.replace(".", "/")

    def write() -> None:
        with open(path, "w") as fh:
            fh.write(value)

    run_in(name, write)


def read_sysctl(name: str, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")

    def read() -> str:
        with open(path) as fh:
            return fh.read().strip()

    return run_in(name, read)


def exec_prefix(name: str) -> list[str]:
    """argv prefix that runs a program inside namespace `name`."""
    netns_path(name)
    return ["ip", "netns", "exec", name]
