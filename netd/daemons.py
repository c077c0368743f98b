"""Helper processes netd runs inside a host namespace, tracked by pid files.

Owns: starting a program inside a namespace, finding out whether the process
named by a pid file is still the one we started with the same arguments
(compared with /proc/<pid>/cmdline, so a recycled pid or a changed
configuration both read as "not running as wanted"), and stopping it by pid.
Never signals a process whose command line does not name our pid file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from netd import netns

_children: dict[int, subprocess.Popen[bytes]] = {}


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def running(pidfile: Path, argv: list[str] | None = None) -> int | None:
    """The pid from `pidfile` if that process runs `argv` (or names `pidfile`)."""
    reap()
    pid = read_pid(pidfile)
    if pid is None:
        return None
    cl = cmdline(pid)
    if argv is not None:
        return pid if cl == argv else None
    return pid if any(str(pidfile) in a for a in cl) else None


def owned_pid(pidfile: Path) -> int | None:
    """The pid from `pidfile` if its command line names `pidfile` (ours)."""
    return running(pidfile, None)


def start(ns: str, argv: list[str], log: Path, wait: bool,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run `argv` inside `ns`; with `wait`, for programs that daemonize themselves."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            netns.exec_prefix(ns) + argv, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, env=env,
        )
    if wait:
        rc = proc.wait(timeout=30)
        if rc != 0:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed to start in {ns} (rc={rc}): {tail}")
    else:
        _children[proc.pid] = proc
    return proc


def starting(pidfile: Path) -> bool:
    """True while a child we started for `pidfile` runs but has not written it yet."""
    reap()
    return any(str(pidfile) in " ".join(map(str, proc.args))  # type: ignore[arg-type]
               for proc in _children.values())


def wait_for_pidfile(pidfile: Path, argv: list[str] | None, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = running(pidfile, argv)
        if pid is not None:
            return pid
        time.sleep(0.02)
    raise RuntimeError(f"no process of ours wrote {pidfile} within {timeout}s")


def stop(pidfile: Path, timeout: float = 5.0) -> bool:
    """Stop the process named by `pidfile` if it is ours; remove the pid file."""
    for proc in list(_children.values()):
        if str(pidfile) in " ".join(map(str, proc.args)):  # type: ignore[arg-type]
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    pid = owned_pid(pidfile)
    stopped = False
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and cmdline(pid):
            reap()
            time.sleep(0.02)
        if cmdline(pid):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    reap()
    pidfile.unlink(missing_ok=True)
    return stopped


def signal_pid(pid: int, sig: int) -> None:
    os.kill(pid, sig)


def reap() -> None:
    """Collect exited children we started without waiting (no zombies)."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]
