"""Run a single local ZooKeeper server (Debian's `zookeeper` package) under a directory.

Owns: writing a private `zoo.cfg` and `log4j.properties` into a state directory,
starting `QuorumPeerMain` on a loopback port (admin server off), waiting until
it answers, finding a server already running there (its pid file), and
stopping exactly that process. `cloudctl up` in VPC mode uses it when
`cloud.network.zookeeper` (a connect string for an ensemble) is unset::

    zk = LocalZooKeeper(Path(datadir) / "zookeeper", port=2181)
    zk.start()            # idempotent: reuses a live server started earlier
    connect = zk.connect  # "127.0.0.1:2181", hand it to kazoo / netd
    zk.stop()             # SIGTERM, then SIGKILL after `timeout`

The data survive restarts (the dataDir is inside `root`), which is what lets
hosts resync after the server restarts. Nothing here imports `cloudctl`.
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

JAVA_DIR = "/usr/share/java"
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
_JARS = ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-log4j12.jar",
         "log4j-1.2.jar", "netty-handler.jar", "netty-common.jar", "netty-buffer.jar",
         "netty-transport.jar", "netty-transport-native-epoll.jar",
         "netty-transport-native-unix-common.jar", "netty-resolver.jar", "netty-codec.jar",
         "metrics-core.jar", "snappy-java.jar", "commons-io.jar", "commons-cli.jar")


class ZooKeeperError(RuntimeError):
    """The server could not be started or did not become ready."""


def available() -> bool:
    """True when the server jars and a `java` are installed (scripts/deps/zookeeper.sh)."""
    return os.path.exists(os.path.join(JAVA_DIR, "zookeeper.jar")) and _java() is not None


def _java() -> str | None:
    for cand in ("/usr/bin/java",):
        if os.access(cand, os.X_OK):
            return cand
    return None


def classpath() -> str:
    jars = [os.path.join(JAVA_DIR, j) for j in _JARS if os.path.exists(os.path.join(JAVA_DIR, j))]
    return ":".join(jars)


def ruok(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when the server on host:port answers the `ruok` command with `imok`
    (our zoo.cfg whitelists it; 3.8 disables four-letter words by default)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
    except OSError:
        return False


def _gone(pid: int) -> bool:
    """The process exited (absent, or a zombie its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class LocalZooKeeper:
    """One standalone server whose config, data, logs and pid file live in `root`."""

    def __init__(self, root: Path, port: int = 2181, host: str = "127.0.0.1",
                 tick_ms: int = 500) -> None:
        self.root = Path(root)
        self.port = port
        self.host = host
        self.tick_ms = tick_ms
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def connect(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.root / "zookeeper.pid"

    def _write_config(self) -> Path:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        cfg = self.root / "zoo.cfg"
        cfg.write_text(
            f"tickTime={self.tick_ms}\n"
            f"dataDir={self.root / 'data'}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress={self.host}\n"
            "admin.enableServer=false\n"
            "maxClientCnxns=0\n"
            "minSessionTimeout=1000\n"
            "autopurge.snapRetainCount=3\n"
            "autopurge.purgeInterval=1\n"
            "4lw.commands.whitelist=ruok,srvr\n")
        (self.root / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, FILE\n"
            "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
            f"log4j.appender.FILE.File={self.root / 'zookeeper.log'}\n"
            "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.FILE.layout.ConversionPattern=%d %-5p [%t] %c{1}: %m%n\n")
        return cfg

    def running_pid(self) -> int | None:
        """The pid of the server started from this directory, when it still lives."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
        except OSError:
            return None
        if MAIN.encode() in cmd and str(self.root / "zoo.cfg").encode() in cmd and not _gone(pid):
            return pid
        return None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (or adopt the live one from an earlier start); wait until ready."""
        java = _java()
        if java is None or not available():
            raise ZooKeeperError("ZooKeeper is not installed (scripts/deps/zookeeper.sh)")
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None  # ours, stopped meanwhile (reaped now)
        if self.running_pid() is None:
            cfg = self._write_config()
            log = open(self.root / "stdout.log", "ab")
            try:
                self.proc = subprocess.Popen(
                    [java, "-Xmx256m", "-XX:+UseSerialGC",
                     f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}",
                     "-Dzookeeper.admin.enableServer=false",
                     "-cp", classpath(), MAIN, str(cfg)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, cwd=self.root)
            finally:
                log.close()
            self.pidfile.write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ruok(self.host, self.port):
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise ZooKeeperError(f"ZooKeeper exited: {self.log_tail()}")
            time.sleep(0.05)
        raise ZooKeeperError(f"ZooKeeper not ready after {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server (crash tests); the data directory stays."""
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._reap(pid, 10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server started from this directory; SIGKILL when it lingers."""
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not self._reap(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._reap(pid, timeout)
        self.pidfile.unlink(missing_ok=True)

    def _reap(self, pid: int, timeout: float) -> bool:
        if self.proc is not None and self.proc.pid == pid:
            try:
                self.proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _gone(pid):
                return True
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 30) -> str:
        out: list[str] = []
        for name in sorted(glob.glob(str(self.root / "*.log"))):
            try:
                out += Path(name).read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                pass
        return "\n".join(out[-lines:])
