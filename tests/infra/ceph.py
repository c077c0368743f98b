"""A throw-away single-node Ceph cluster for integration tests.

Owns: starting one monitor (msgr v2 only, on a free loopback port), one OSD
backed by ``memstore`` (no block device, data in RAM), optionally one manager,
all in a private directory; creating the test pools (size 1) and a client key;
stopping exactly the daemons it started, by PID.

Must not: touch /etc/ceph, /var/lib/ceph or any daemon it did not start, or
depend on systemd. Requires the Debian packages installed by
``scripts/deps/ceph.sh``.

Use :func:`ceph_session` from a session fixture (see its docstring); several
fixtures in one process share one cluster (reference counted).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOLUMES_POOL = "volumes"
OBJECTS_POOL = "objects"
CLIENT_NAME = "client.storagectl"

_DAEMON_BINARIES = ("ceph-mon", "ceph-osd", "ceph-authtool", "monmaptool")


class CephUnavailable(RuntimeError):
    """The Ceph packages or Python bindings are not installed here."""


def ceph_available() -> str | None:
    """Return why Ceph cannot run here, or None when it can."""
    for binary in _DAEMON_BINARIES:
        if shutil.which(binary) is None:
            return f"{binary} not found: run scripts/deps/ceph.sh"
    try:
        import rados  # noqa: F401
        import rbd  # noqa: F401
    except ImportError:
        return "python rados/rbd bindings not importable: run scripts/deps/ceph.sh"
    return None


@dataclass
class CephCluster:
    """A running single-node cluster; everything a client needs to reach it."""

    root: Path
    conf_path: Path
    keyring_path: Path
    client_name: str
    client_key: str
    monitor: str  # "v2:127.0.0.1:PORT"
    monitor_host: str  # "127.0.0.1:PORT" as QEMU/libvirt want it
    volumes_pool: str = VOLUMES_POOL
    objects_pool: str = OBJECTS_POOL
    admin_keyring_path: Path | None = None
    pids: dict[str, int] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def client_id(self) -> str:
        """The client name without its ``client.`` type prefix (rados_id)."""
        return self.client_name.split(".", 1)[1]

    def rados_config(self) -> dict[str, Any]:
        """Keyword config for ``open_blob_store('ceph-rados', ...)``."""
        return {
            "conffile": str(self.conf_path),
            "client_name": self.client_name,
            "keyring": str(self.keyring_path),
            "pool": self.objects_pool,
        }

    def rbd_config(self) -> dict[str, Any]:
        """Keyword config for ``open_block_backend('ceph-rbd', ...)``."""
        return {
            "conffile": str(self.conf_path),
            "client_name": self.client_name,
            "keyring": str(self.keyring_path),
            "pool": self.volumes_pool,
        }

    def stop(self) -> None:
        """Stop the daemons this object started (by PID) and remove its files."""
        # One at a time: an OSD told to stop while its monitor is gone waits for it.
        for name in ("mgr", "osd", "mon"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.pids.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _conf_text(root: Path, fsid: str, port: int, with_mgr: bool) -> str:
    lines = [
        "[global]",
        f"fsid = {fsid}",
        f"mon host = [v2:127.0.0.1:{port}]",
        "mon initial members = a",
        "ms bind msgr1 = false",
        "ms bind msgr2 = true",
        "auth cluster required = cephx",
        "auth service required = cephx",
        "auth client required = cephx",
        f"run dir = {root}/run",
        f"admin socket = {root}/run/$name.asok",
        f"pid file = {root}/run/$name.pid",
        f"log file = {root}/log/$name.log",
        "log to stderr = false",
        "err to stderr = false",
        "osd pool default size = 1",
        "osd pool default min size = 1",
        "osd pool default pg num = 8",
        "osd pool default pgp num = 8",
        "osd crush chooseleaf type = 0",
        "mon allow pool size one = true",
        "mon allow pool delete = true",
        "mon warn on pool no redundancy = false",
        "mon data avail warn = 1",
        "mon data avail crit = 0",
        "rbd default features = 61",  # layering, exclusive-lock, object-map, fast-diff, deep-flatten
        "",
        "[mon]",
        f"mon data = {root}/mon/$cluster-$id",
        "",
        "[osd]",
        f"osd data = {root}/osd/$cluster-$id",
        "osd objectstore = memstore",
        "memstore device bytes = 4294967296",
        "osd max object size = 134217728",
        "osd op num threads per shard = 1",
        "osd op num shards = 2",
        "",
    ]
    if with_mgr:
        lines += ["[mgr]", f"mgr data = {root}/mgr/$cluster-$id", ""]
    lines += ["[client]", f"keyring = {root}/client.keyring", ""]
    return "\n".join(lines)


def _gen_key(root: Path, name: str, caps: list[str]) -> Path:
    path = root / f"{name}.keyring"
    argv = ["ceph-authtool", "--create-keyring", str(path), "--gen-key", "-n", name]
    for i in range(0, len(caps), 2):
        argv += ["--cap", caps[i], caps[i + 1]]
    _run(*argv)
    return path


def _read_key(keyring: Path) -> str:
    for line in keyring.read_text().splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "key":
            return value.strip()
    raise RuntimeError(f"no key in {keyring}")


def _mon_command(cluster: Any, cmd: dict[str, Any]) -> str:
    ret, out, err = cluster.mon_command(json.dumps(cmd), b"", timeout=30)
    if ret != 0:
        raise RuntimeError(f"mon command {cmd} failed: {ret} {err}")
    return out.decode() if isinstance(out, bytes) else str(out)


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, even by kill -9."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _spawn(root: Path, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    out = open(root / "log" / f"{name}.stdout", "wb")
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
    finally:
        out.close()


def start_cluster(base_dir: Path | None = None, *, with_mgr: bool = False,
                  timeout: float = 60.0) -> CephCluster:
    """Start a one-mon, one-memstore-OSD cluster and create the test pools.

    Blocks until both pools accept writes. On failure, everything started so
    far is stopped again before the exception propagates.
    """
    reason = ceph_available()
    if reason is not None:
        raise CephUnavailable(reason)
    import rados

    root = Path(tempfile.mkdtemp(prefix="ceph-", dir=base_dir))
    for sub in ("run", "log", "mon", "osd/ceph-0", "mgr/ceph-x"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    fsid = str(uuid.uuid4())
    port = _free_port()
    conf = root / "ceph.conf"
    conf.write_text(_conf_text(root, fsid, port, with_mgr))

    mon_keyring = _gen_key(root, "mon.", ["mon", "allow *"])
    admin = _gen_key(root, "client.admin", ["mon", "allow *", "osd", "allow *",
                                            "mgr", "allow *"])
    client = _gen_key(root, CLIENT_NAME, ["mon", "profile rbd", "osd",
                                          f"profile rbd pool={VOLUMES_POOL}, allow rwx pool={OBJECTS_POOL}",
                                          "mgr", "profile rbd"])
    osd_keyring = _gen_key(root, "osd.0", ["mon", "allow profile osd", "osd", "allow *",
                                           "mgr", "allow profile osd"])
    mgr_keyring = _gen_key(root, "mgr.x", ["mon", "allow profile mgr", "osd", "allow *",
                                           "mds", "allow *"])
    for extra in (admin, client, osd_keyring, mgr_keyring):
        _run("ceph-authtool", str(mon_keyring), "--import-keyring", str(extra))
    # The [client] keyring holds both client keys: admin for setup, ours for tests.
    client_keyring = root / "client.keyring"
    client_keyring.write_text(admin.read_text() + client.read_text())
    shutil.copy(osd_keyring, root / "osd/ceph-0/keyring")
    shutil.copy(mgr_keyring, root / "mgr/ceph-x/keyring")

    monmap = root / "monmap"
    _run("monmaptool", "--create", "--fsid", fsid, "--addv", "a",
         f"[v2:127.0.0.1:{port}]", str(monmap))
    _run("ceph-mon", "-c", str(conf), "--mkfs", "-i", "a", "--monmap", str(monmap),
         "--keyring", str(mon_keyring))

    cluster = CephCluster(
        root=root, conf_path=conf, keyring_path=client_keyring, client_name=CLIENT_NAME,
        client_key=_read_key(client), monitor=f"v2:127.0.0.1:{port}",
        monitor_host=f"127.0.0.1:{port}", admin_keyring_path=admin,
    )
    try:
        cluster._procs["mon"] = _spawn(root, "mon", ["ceph-mon", "-f", "-c", str(conf),
                                                     "-i", "a"])
        osd_uuid = str(uuid.uuid4())
        _run("ceph-osd", "-c", str(conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        admin_conn = rados.Rados(conffile=str(conf), name="client.admin",
                                 conf={"keyring": str(admin)})
        admin_conn.connect(timeout=int(timeout))
        try:
            _mon_command(admin_conn, {"prefix": "osd new", "uuid": osd_uuid, "id": 0})
            cluster._procs["osd"] = _spawn(root, "osd", ["ceph-osd", "-f", "-c", str(conf),
                                                         "-i", "0"])
            if with_mgr:
                cluster._procs["mgr"] = _spawn(root, "mgr", ["ceph-mgr", "-f", "-c",
                                                             str(conf), "-i", "x"])
            for pool, app in ((VOLUMES_POOL, "rbd"), (OBJECTS_POOL, "rgw")):
                _mon_command(admin_conn, {"prefix": "osd pool create", "pool": pool,
                                          "pg_num": 8, "pgp_num": 8})
                _mon_command(admin_conn, {"prefix": "osd pool application enable",
                                          "pool": pool, "app": app})
            _wait_writable(admin_conn, (VOLUMES_POOL, OBJECTS_POOL),
                           time.monotonic() + timeout, cluster)
        finally:
            admin_conn.shutdown()
    except BaseException:
        cluster.stop()
        raise
    cluster.pids = {name: proc.pid for name, proc in cluster._procs.items()}
    return cluster


def _wait_writable(conn: Any, pools: tuple[str, ...], deadline: float,
                   cluster: CephCluster) -> None:
    import rados

    for pool in pools:
        ioctx = conn.open_ioctx(pool)
        try:
            while True:
                for name, proc in cluster._procs.items():
                    if proc.poll() is not None:
                        log = cluster.root / "log" / f"{name}.stdout"
                        raise RuntimeError(f"ceph {name} exited: {log.read_text()[-2000:]}")
                completion = ioctx.aio_write_full("ready-probe", b"ok")
                wait_until = min(deadline, time.monotonic() + 2)
                while not completion.is_complete() and time.monotonic() < wait_until:
                    time.sleep(0.05)
                if completion.is_complete():
                    if completion.get_return_value() < 0:
                        raise rados.Error(f"probe write failed: {completion.get_return_value()}")
                    ioctx.remove_object("ready-probe")
                    break
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"pool {pool} not writable in time")
        finally:
            # A pending completion keeps a reference; close only once it is done.
            ioctx.close()


_shared: CephCluster | None = None
_shared_refs = 0
_shared_owner_pid = 0


def ceph_session(base_dir: Path | None = None) -> Iterator[CephCluster]:
    """Generator body for a pytest session fixture; one cluster per process.

    In tests/conftest.py::

        from tests.infra.ceph import ceph_session

        @pytest.fixture(scope="session")
        def ceph_cluster() -> Iterator[CephCluster]:
            yield from ceph_session()

    Fails (``pytest.fail``) when Ceph is not installed: scripts/install-deps.sh installs it,
    and a skipped storage test would prove nothing. Several fixtures built
    on it share one cluster, stopped when the last of them is torn down.
    """
    import pytest

    global _shared, _shared_refs, _shared_owner_pid
    reason = ceph_available()
    if reason is not None:
        pytest.fail(f"Ceph is not available ({reason}); run scripts/install-deps.sh")
    if _shared is None:
        _shared = start_cluster(base_dir)
        _shared_owner_pid = os.getpid()
        atexit.register(_stop_shared)
    _shared_refs += 1
    try:
        yield _shared
    finally:
        _shared_refs -= 1
        if _shared_refs == 0:
            _stop_shared()


def _stop_shared() -> None:
    global _shared
    # A forked child inherits the object but not the daemons: leave them alone.
    if _shared is not None and os.getpid() == _shared_owner_pid:
        _shared.stop()
        _shared = None
