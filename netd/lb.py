"""The load balancers of one host: one haproxy a load balancer, each in its own
network namespace attached to an uplink bridge, run and supervised by netd.

Owns, by name: namespaces `elb-<id>`, the uplink veth `lb<id>` (its peer is `eth0`
inside the namespace) and the directory `<state>/elb/<id>` (haproxy.cfg, pid file,
master and stats sockets, certificates, the server-state file). `reconcile(specs)` is
mark-and-sweep: what the specs name is made to exist and run the latest
configuration (a changed configuration is a seamless reload: server state saved,
SIGUSR2 to the master); every load balancer of this state dir they do not name is
removed with its namespace and haproxy (never another plane's `elb-*` namespace).
Safe after kill -9 of haproxy or netd: the next reconcile finds the master gone (or
alive, by its pid file and command line) and converges.
`health(lb_id)` reads the checks from haproxy's runtime API (`show stat`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from netd import daemons, lblog, netns
from netd.lbspec import Backend, HealthCheck, LbSpec, Listener, Paths, render

PREFIX = "elb-"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@dataclass(frozen=True)
class Health:
    up: bool
    ever_up: bool
    status: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _ip_ok(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True, timeout=30).returncode == 0


def _addresses(ns: str, dev: str) -> set[str]:
    """The IPv4 addresses (with prefix) of ``dev`` in ``ns``."""
    out = subprocess.run(["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", dev],
                         capture_output=True, text=True, timeout=30).stdout
    return {line.split()[3] for line in out.splitlines() if len(line.split()) > 3}


def runtime_command(sock: Path, command: str, timeout: float = 5.0) -> str:
    """Send one command to haproxy's stats socket; its whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


class LbPlane:
    """Converges one host's load balancers to the specs it is given."""

    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "elb"
        self._lock = threading.Lock()
        self._ever_up: dict[str, set[str]] = {}

    def dir_of(self, lb_id: str) -> Path:
        return self.root / lb_id

    def ns_of(self, lb_id: str) -> str:
        return PREFIX + lb_id

    def reconcile(self, specs: list[LbSpec]) -> None:
        """Every spec converged (one failing, e.g. its uplink bridge not there yet, does
        not hold the others back: the first failure is raised after the sweep)."""
        with self._lock:
            wanted = {s.lb_id: s for s in specs}
            failed: list[Exception] = []
            for spec in specs:
                try:
                    spec.check()
                    self._ensure(spec)
                except (OSError, RuntimeError, ValueError,
                        subprocess.SubprocessError) as exc:
                    failed.append(exc)
            self._sweep(set(wanted))
            if failed:
                raise failed[0]

    # the namespace and its uplink
    def _ensure_netns(self, spec: LbSpec) -> None:
        ns = self.ns_of(spec.lb_id)
        host_if = spec.host_interface
        if not netns.exists(ns):
            _ip("netns", "add", ns)
        if not _ip_ok("-n", spec.uplink_netns, "link", "show", host_if):
            _ip_ok("-n", ns, "link", "del", "eth0")  # its peer has another name: moved
        if not _ip_ok("-n", ns, "link", "show", "eth0"):
            _ip_ok("-n", spec.uplink_netns, "link", "del", host_if)
            _ip("-n", spec.uplink_netns, "link", "add", host_if, "type", "veth",
                "peer", "name", "eth0", "netns", ns)
        _ip("-n", spec.uplink_netns, "link", "set", host_if, "master", spec.uplink_bridge,
            "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        if spec.mac and not _ip_ok("-n", ns, "link", "set", "eth0", "address", spec.mac):
            _ip("-n", ns, "link", "set", "eth0", "down")  # a veth's MAC changes while down
            _ip("-n", ns, "link", "set", "eth0", "address", spec.mac)
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "addr", "replace", spec.address, "dev", "eth0")
        for old in _addresses(ns, "eth0") - {spec.address}:  # moved (another subnet)
            _ip("-n", ns, "addr", "del", old, "dev", "eth0")
        if spec.public_address and spec.public_netns and spec.public_bridge:
            pub_if = f"pb{spec.lb_id}"[:15]
            if not _ip_ok("-n", ns, "link", "show", "eth1"):
                _ip_ok("-n", spec.public_netns, "link", "del", pub_if)
                _ip("-n", spec.public_netns, "link", "add", pub_if, "type", "veth",
                    "peer", "name", "eth1", "netns", ns)
            _ip("-n", spec.public_netns, "link", "set", pub_if, "master",
                spec.public_bridge, "up")
            _ip("-n", ns, "link", "set", "eth1", "up")
            _ip("-n", ns, "addr", "replace", spec.public_address, "dev", "eth1")
            if spec.public_gateway:
                _ip("-n", ns, "route", "replace", "default", "via", spec.public_gateway)
        elif _ip_ok("-n", ns, "link", "show", "eth1"):
            _ip("-n", ns, "link", "del", "eth1")  # internal now: no public side
        if spec.gateway and not (spec.public_address and spec.public_gateway):
            _ip("-n", ns, "route", "replace", "default", "via", spec.gateway)

    # haproxy
    def _ensure(self, spec: LbSpec) -> None:
        d = self.dir_of(spec.lb_id)
        d.mkdir(parents=True, exist_ok=True)  # first: the sweep finds its namespace by it
        self._ensure_netns(spec)
        paths = Paths(str(d))
        for lst in spec.listeners:
            if lst.certificate:
                pem = d / f"cert-{lst.port}.pem"
                if not pem.exists() or pem.read_text() != lst.certificate:
                    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as fh:
                        fh.write(lst.certificate)
        if spec.access_log:
            lblog.ensure(d)
        else:
            lblog.close(d)
        pid = self._master(spec.lb_id)
        known = self._known(spec.lb_id) if pid is not None else set()
        cfg = render(spec, paths, known)
        cfg_path = d / "haproxy.cfg"
        changed = not cfg_path.exists() or cfg_path.read_text() != cfg
        if pid is not None and not changed:
            return
        if pid is not None:
            self._save_state(spec.lb_id)
        tmp = d / "haproxy.cfg.new"
        tmp.write_text(cfg)
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(tmp)], capture_output=True,
                               timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused the configuration of {spec.lb_id}: "
                               f"{check.stdout.decode()[-400:]}{check.stderr.decode()[-400:]}")
        tmp.replace(cfg_path)
        if pid is None:
            (d / "servers.state").unlink(missing_ok=True)
            argv = self._argv(spec.lb_id)
            daemons.start(self.ns_of(spec.lb_id), argv, d / "haproxy.log", wait=False)
            daemons.wait_for_pidfile(d / "haproxy.pid", None)
            self._wait_worker(d / "stats.sock", None)
        else:
            old = self._worker_pid(d / "stats.sock")
            os.kill(pid, signal.SIGUSR2)
            self._wait_worker(d / "stats.sock", old)
        self._enable_new(spec, known)

    def _argv(self, lb_id: str) -> list[str]:
        d = self.dir_of(lb_id)
        return [HAPROXY, "-W", "-S", f"{d / 'master.sock'},mode,600", "-f",
                str(d / "haproxy.cfg"), "-p", str(d / "haproxy.pid")]

    def master(self, lb_id: str) -> int | None:
        """The pid of the load balancer's haproxy master, if ours runs."""
        return self._master(lb_id)

    def _master(self, lb_id: str) -> int | None:
        pidfile = self.dir_of(lb_id) / "haproxy.pid"
        pid = daemons.read_pid(pidfile)
        if pid is None:
            return None
        cl = daemons.cmdline(pid)
        want = self._argv(lb_id)
        return pid if cl[1:len(want)] == want[1:] else None

    def _worker_pid(self, sock: Path) -> int | None:
        try:
            info = runtime_command(sock, "show info")
        except OSError:
            return None
        for line in info.splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        return None

    def _wait_worker(self, sock: Path, old: int | None) -> None:
        """Until a worker other than ``old`` answers on ``sock``."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid = self._worker_pid(sock)
            if pid is not None and pid != old:
                if old is not None:  # the master soft-stops the old worker once the
                    time.sleep(0.2)  # new one is ready: let it unbind its listeners
                return
            time.sleep(0.02)
        raise RuntimeError(f"no new haproxy worker answered on {sock}")

    def _known(self, lb_id: str) -> set[str]:
        try:
            out = runtime_command(self.dir_of(lb_id) / "stats.sock", "show servers state health")
        except OSError:
            return set()
        names = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 4 and not line.startswith("#") and parts[1] == "health":
                names.add(parts[3])
        return names

    def _save_state(self, lb_id: str) -> None:
        d = self.dir_of(lb_id)
        try:
            state = runtime_command(d / "stats.sock", "show servers state")
        except OSError:
            return
        (d / "servers.state").write_text(state)

    def _enable_new(self, spec: LbSpec, known: set[str]) -> None:
        new = [b.instance_id for b in spec.backends if b.instance_id not in known]
        if not new:
            return
        sock = self.dir_of(spec.lb_id) / "stats.sock"
        commands = []
        for iid in new:
            commands += [f"set server health/{iid} state ready",
                         f"set server health/{iid} health down"]
        runtime_command(sock, "; ".join(commands))
        self._ever_up.setdefault(spec.lb_id, set()).difference_update(new)

    # sweep
    def _sweep(self, wanted: set[str]) -> None:
        """Remove what this plane made and no spec names: load balancers are known by
        their directories under this plane's state dir (made before their namespace),
        so another plane's ``elb-*`` namespaces on the machine (another netd, another
        cloud) are never touched."""
        present = {p.name for p in self.root.iterdir() if p.is_dir()} \
            if self.root.is_dir() else set()
        for lb_id in present - wanted:
            self.remove(lb_id)

    def remove(self, lb_id: str) -> None:
        d = self.dir_of(lb_id)
        pid = self._master(lb_id)
        if pid is not None:
            daemons.stop(d / "haproxy.pid")
        self._kill_leftovers(lb_id)
        lblog.close(d)
        ns = self.ns_of(lb_id)
        if netns.exists(ns):
            _ip_ok("netns", "del", ns)  # takes eth0 and its uplink peer with it
        shutil.rmtree(d, ignore_errors=True)
        self._ever_up.pop(lb_id, None)

    def _kill_leftovers(self, lb_id: str) -> None:
        """Workers whose master was killed with -9 and that still run our config."""
        cfg = str(self.dir_of(lb_id) / "haproxy.cfg")
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                cl = daemons.cmdline(int(entry))
                if cl and cl[0] == HAPROXY and cfg in cl:
                    try:
                        os.kill(int(entry), signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def nodes(self, lb_id: str) -> list[str]:
        """The ids of a load balancer's haproxy nodes here: ``lb_id`` and its zone
        nodes ``<lb_id>z<n>`` (one a zone when cross-zone load balancing is off)."""
        extra = sorted(p.name for p in self.root.glob(f"{lb_id}z*")
                       if p.name[len(lb_id) + 1:].isdigit()) if self.root.exists() else []
        return [lb_id, *extra]

    def access_logs(self, lb_id: str) -> list[Path]:
        """Rotate the load balancer's access log; every file not yet delivered."""
        sink = lblog.get(self.dir_of(lb_id))
        if sink is None:
            return sorted(self.dir_of(lb_id).glob("access-*.pending"))
        return sink.rotate()

    def stats(self, lb_id: str) -> list[dict[str, str]] | None:
        """Every row of haproxy's `show stat` (frontends, backends, servers), or None
        when no haproxy of ours serves ``lb_id``."""
        if self._master(lb_id) is None:
            return None
        try:
            out = runtime_command(self.dir_of(lb_id) / "stats.sock", "show stat")
        except OSError:
            return None
        lines = out.splitlines()
        if not lines or not lines[0].startswith("# "):
            return None
        cols = lines[0][2:].split(",")
        return [dict(zip(cols, line.split(","), strict=False)) for line in lines[1:] if line]

    # health, from haproxy itself
    def health(self, lb_id: str) -> dict[str, Health] | None:
        sock = self.dir_of(lb_id) / "stats.sock"
        if self._master(lb_id) is None:
            return None
        try:
            out = runtime_command(sock, "show stat -1 4 -1")
        except OSError:
            return None
        lines = out.splitlines()
        if not lines or not lines[0].startswith("# "):
            return None
        cols = lines[0][2:].split(",")
        ever = self._ever_up.setdefault(lb_id, set())
        found: dict[str, Health] = {}
        for line in lines[1:]:
            row = dict(zip(cols, line.split(","), strict=False))
            if row.get("pxname") != "health":
                continue
            name, status = row.get("svname", ""), row.get("status", "")
            up = status.startswith("UP")  # "UP 1/2": failing, not yet down
            if status.startswith("UP"):
                ever.add(name)
            found[name] = Health(up=up, ever_up=name in ever, status=status)
        return found


# the cloud's own API entry point (``cloudctl entrypoint``): the same configuration writer
ENTRY_ID = "entry"
ENTRY_HEALTH_PATH = "_cloud/health"


def entry_config(listen: str, port: int, hosts: list[str], host_port: int, root: Path, *,
                 interval: int = 1, fall: int = 2, rise: int = 2,
                 idle_timeout: int = 60) -> str:
    """haproxy.cfg of a cloud's API entry point on ``listen:port``: the API ``hosts``
    (addresses, each serving on ``host_port``) as the back-ends of one HTTP listener,
    each checked on ``GET /_cloud/health`` every ``interval`` seconds. Rendered by
    `lbspec.render` as a load balancer's; then bound to ``listen`` alone, and a request
    whose connection to a host fails is sent to another one (``option redispatch``)."""
    spec = LbSpec(
        lb_id=ENTRY_ID, address=f"{listen}/32", uplink_netns="", uplink_bridge="",
        listeners=(Listener("HTTP", port, "HTTP", host_port),),
        backends=tuple(Backend(host, host) for host in hosts),
        health=HealthCheck(target=f"HTTP:{host_port}/{ENTRY_HEALTH_PATH}",
                           interval=interval, timeout=interval, unhealthy=fall,
                           healthy=rise),
        idle_timeout=idle_timeout)
    cfg = render(spec, Paths(str(root)), set(hosts))
    bind_any, bind_one = f"    bind :{port}\n", f"    bind {listen}:{port}\n"
    defaults = "defaults\n"
    if cfg.count(bind_any) != 1 or cfg.count(defaults) != 1:
        raise RuntimeError("unexpected load balancer configuration layout")
    return (cfg.replace(bind_any, bind_one)
            .replace(defaults, defaults + "    retries 3\n    option redispatch\n"))
