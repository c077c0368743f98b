"""A private libvirtd for the all-in-one mode and for tests.

Owns one libvirtd (with its virtlogd and every QEMU it spawns) running under
``tini -s`` inside a network namespace this module creates (``ip netns add``)
and a private mount namespace in which the state dir's ``etc``, ``run``, ``lib``,
``log`` and ``cache`` directories are bind-mounted over ``/etc/libvirt``,
``/run``, ``/var/lib/libvirt``, ``/var/log/libvirt`` and ``/var/cache/libvirt``.
The host's /etc, /run and network are never touched; the socket is reachable
from the host as ``qemu:///system?socket=<state>/run/libvirt/libvirt-sock``.

Start is idempotent: a running daemon recorded in ``<state>/daemon.json`` is
reused; if libvirtd died while guests (or virtlogd) live on in its namespaces, a
new libvirtd is started in the same mount namespace and re-attaches to them. Stop kills only processes in the mount namespace recorded at start (our
tini, libvirtd, virtlogd and QEMUs) and processes left in the netns it created,
then deletes that netns.

It must not: touch the root namespace's addresses, routes or firewall; signal
any process it did not start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LibvirtdError", "PrivateLibvirtd", "RunningDaemon"]

QEMU_CONF = """\
# Written by nodectl.libvirtd: a private libvirtd without systemd.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
# QEMU stays in our mount namespace (no per-domain /dev namespace), which is how
# stop() recognises every process as ours.
namespaces = [ ]
"""

LIBVIRTD_CONF = """\
# Written by nodectl.libvirtd.
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0700"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

VIRTLOGD_CONF = """\
# Written by nodectl.libvirtd.
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
"""

# host path -> subdirectory of the state dir mounted over it (order matters:
# /run first so nothing else lands in the host's /run).
_BINDS: tuple[tuple[str, str], ...] = (
    ("/run", "run"),
    ("/etc/libvirt", "etc"),
    ("/var/lib/libvirt", "lib"),
    ("/var/log/libvirt", "log"),
    ("/var/cache/libvirt", "cache"),
)


class LibvirtdError(RuntimeError):
    """The private libvirtd could not be started or reached."""


@dataclass(frozen=True)
class RunningDaemon:
    """What start() recorded: enough to find and stop the daemon later."""

    tini_pid: int
    mnt_ns: str
    netns: str
    uri: str


# Daemons this process started, kept so they are reaped on stop (and so the Popen
# objects are not collected while the daemon runs).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _ns_id(pid: int, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _pids_in_mnt_ns(mnt_ns: str) -> list[int]:
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ns_id(int(entry), "mnt") == mnt_ns:
            pids.append(int(entry))
    return pids


def _pids_in_netns(name: str) -> list[int]:
    """Processes in the named network namespace (``/run/netns/<name>``)."""
    try:
        want = f"net:[{os.stat(Path('/run/netns', name)).st_ino}]"
    except OSError:
        return []
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _ns_id(int(e), "net") == want]


def _netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


class PrivateLibvirtd:
    """One private libvirtd rooted at ``state_dir``.

    ``netns`` defaults to a name derived from the state dir, so two state dirs
    never share a namespace. The network layer may put bridges in ``netns``.
    """

    def __init__(self, state_dir: str | os.PathLike[str], netns: str | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:8]
        self.netns = netns or f"nodectl-{digest}"
        if len(str(self.socket_path)) > 107:
            raise LibvirtdError(f"state dir {self.state_dir} too long for a unix socket path")

    # -- paths -----------------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        return self.state_dir / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        """The libvirt URI for this daemon (usable from the host namespace)."""
        return f"qemu:///system?socket={self.socket_path}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def _record(self) -> Path:
        return self.state_dir / "daemon.json"

    # -- lifecycle ---------------------------------------------------------------
    def running(self) -> RunningDaemon | None:
        """The recorded daemon if its tini is still alive in its namespace."""
        try:
            data = json.loads(self._record.read_text())
        except (OSError, ValueError):
            return None
        rec = RunningDaemon(**data)
        if _ns_id(rec.tini_pid, "mnt") != rec.mnt_ns:
            return None
        return rec

    def start(self, timeout: float = 60.0) -> RunningDaemon:
        """Start the daemon, or return the running one. Blocks until it answers."""
        rec = self.running()
        if rec is not None:
            self._wait_ready(timeout)
            return rec
        survivors = self._survivors()
        if survivors:
            # libvirtd (or tini) died but guests live on in our namespaces: start a
            # new libvirtd in the same mount namespace; it re-attaches to them.
            cmd = [
                "nsenter", f"--mount=/proc/{survivors[0]}/ns/mnt",
                f"--net=/run/netns/{self.netns}", "--",
                "tini", "-s", "--", "/bin/sh", "-c", self._restart_script(),
            ]
        else:
            self._cleanup_stale()
            self._prepare_dirs()
            self._ensure_netns()
            cmd = [
                "nsenter", f"--net=/run/netns/{self.netns}", "--",
                "unshare", "--mount", "--propagation", "private", "--",
                "tini", "-s", "--", "/bin/sh", "-c", self._inner_script(),
            ]
        out = open(self.log_dir / "daemon.out", "ab")
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        finally:
            out.close()
        _CHILDREN[proc.pid] = proc
        mnt_ns = self._wait_own_mnt_ns(proc)
        rec = RunningDaemon(tini_pid=proc.pid, mnt_ns=mnt_ns, netns=self.netns, uri=self.uri)
        self._record.write_text(json.dumps(rec.__dict__))
        try:
            self._wait_ready(timeout, proc)
        except Exception:
            self.stop()
            raise
        return rec

    def stop(self, timeout: float = 15.0) -> None:
        """Kill our processes (only those in our mount namespace) and drop the netns."""
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self._record.read_text())
            mnt_ns = str(data["mnt_ns"])
            self._kill_ns(mnt_ns, timeout)
            child = _CHILDREN.pop(int(data["tini_pid"]), None)
            if child is not None:
                child.wait(timeout)
        self._cleanup_stale()

    # -- internals -----------------------------------------------------------------
    def _survivors(self) -> list[int]:
        """Processes left in the recorded mount namespace after our tini died."""
        try:
            data = json.loads(self._record.read_text())
        except (OSError, ValueError):
            return []
        if not _netns_exists(self.netns):
            return []
        return sorted(_pids_in_mnt_ns(str(data["mnt_ns"])))

    def _restart_script(self) -> str:
        return "; ".join([
            "if ! kill -0 $(cat /run/virtlogd.pid 2>/dev/null) 2>/dev/null; then"
            " virtlogd -d -f /etc/libvirt/virtlogd.conf; fi",
            "exec libvirtd -f /etc/libvirt/libvirtd.conf",
        ])

    def _cleanup_stale(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._record.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if _netns_exists(self.netns):
            # Whatever still runs in the namespace we created (the DHCP server and the
            # metadata proxy netd keeps there for the guests) would outlive it, useless.
            self._kill_pids(lambda: _pids_in_netns(self.netns), 5.0)
            subprocess.run(["ip", "netns", "delete", self.netns], check=False,
                           capture_output=True)

    @staticmethod
    def _kill_pids(find: Callable[[], list[int]], timeout: float) -> None:
        own = os.getpid()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in [p for p in find() if p != own]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not [p for p in find() if p != own]:
                    return
                time.sleep(0.05)

    def _kill_ns(self, mnt_ns: str, timeout: float) -> None:
        own = os.getpid()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [p for p in _pids_in_mnt_ns(mnt_ns) if p != own]
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not [p for p in _pids_in_mnt_ns(mnt_ns) if p != own]:
                    return
                time.sleep(0.05)

    def _prepare_dirs(self) -> None:
        for _, sub in _BINDS:
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.state_dir / "run" / "libvirt").mkdir(exist_ok=True)
        (self.state_dir / "etc" / "qemu.conf").write_text(QEMU_CONF)
        (self.state_dir / "etc" / "libvirtd.conf").write_text(LIBVIRTD_CONF)
        (self.state_dir / "etc" / "virtlogd.conf").write_text(VIRTLOGD_CONF)
        for host, _ in _BINDS:
            # an empty mount point, as the libvirt packages would create it
            Path(host).mkdir(parents=True, exist_ok=True)
        self._write_identity_files()

    def _write_identity_files(self) -> None:
        """passwd/group copies with the accounts libvirt resolves before reading qemu.conf.

        libvirt looks up its compiled-in QEMU user and group (Debian:
        libvirt-qemu, kvm) even when qemu.conf says root; without the
        libvirt-daemon-system postinst they do not exist. The copies are
        bind-mounted over /etc/passwd and /etc/group in our mount namespace only.
        """
        ident = self.state_dir / "ident"
        ident.mkdir(exist_ok=True)
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        if not any(line.startswith("libvirt-qemu:") for line in passwd.splitlines()):
            passwd += "libvirt-qemu:x:64055:64055:nodectl private libvirtd:/nonexistent:/usr/sbin/nologin\n"
        for name, gid in (("kvm", 64054), ("libvirt-qemu", 64055), ("libvirt", 64056)):
            if not any(line.startswith(f"{name}:") for line in group.splitlines()):
                group += f"{name}:x:{gid}:\n"
        (ident / "passwd").write_text(passwd)
        (ident / "group").write_text(group)

    def _ensure_netns(self) -> None:
        if not _netns_exists(self.netns):
            subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True,
                       capture_output=True)

    def _inner_script(self) -> str:
        lines = ["set -e"]
        for name in ("passwd", "group"):
            src = shlex.quote(str(self.state_dir / "ident" / name))
            lines.append(f"mount --bind {src} /etc/{name}")
        for host, sub in _BINDS:
            lines.append(f"mount --bind {shlex.quote(str(self.state_dir / sub))} {host}")
        # sysfs of our network namespace, not the host's
        lines.append("umount -l /sys && mount -t sysfs sysfs /sys")
        lines.append("virtlogd -d -f /etc/libvirt/virtlogd.conf")
        lines.append("exec libvirtd -f /etc/libvirt/libvirtd.conf")
        return "; ".join(lines)

    def _wait_own_mnt_ns(self, proc: subprocess.Popen[bytes]) -> str:
        """The mount namespace of the tini we started (once unshare has run)."""
        parent = _ns_id(os.getpid(), "mnt")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LibvirtdError(self._failure("exited during start"))
            ns = _ns_id(proc.pid, "mnt")
            if ns is not None and ns != parent:
                exe = os.path.basename(os.readlink(f"/proc/{proc.pid}/exe"))
                if exe == "tini":
                    return ns
            time.sleep(0.01)
        raise LibvirtdError(self._failure("never entered its mount namespace"))

    def _wait_ready(self, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        import libvirt

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise LibvirtdError(self._failure(f"exited with {proc.returncode}"))
            if self.socket_path.exists():
                try:
                    conn = libvirt.open(self.uri)
                    conn.close()
                    return
                except libvirt.libvirtError as exc:
                    last = exc
            time.sleep(0.05)
        raise LibvirtdError(self._failure(f"not ready after {timeout}s ({last})"))

    def _failure(self, what: str) -> str:
        tail = ""
        with contextlib.suppress(OSError):
            tail = (self.log_dir / "daemon.out").read_text()[-2000:]
        return f"private libvirtd at {self.state_dir} {what}: {tail}"
