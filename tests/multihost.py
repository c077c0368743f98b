"""A multi-host cloud on one machine for tests and benchmarks: API hosts on their own
loopback addresses (127.0.0.2, .3, ...: one port, as real hosts), a controllers host,
the haproxy entry point, all sharing one PostgreSQL database.

The first host is initialised with ``cloudctl init``; the others join it through
``cloudctl cluster export`` / ``cloudctl init --join``, as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.infra.postgres import free_port
from tests.support import LiveCloud


def cloudctl(data_dir: Path, *args: str, database_url: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLOUDCTL_DATABASE_URL", "CLOUDCTL_ENDPOINT")}
    env["CLOUDCTL_DATA_DIR"] = str(data_dir)
    if database_url:
        env["CLOUDCTL_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "cloudctl", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=check)


@dataclass
class Host:
    """One ``cloudctl up`` (or ``cloudctl entrypoint``) process."""

    name: str
    data_dir: Path
    address: str
    port: int
    argv: list[str]
    database_url: str | None = None  # the first host's (a joined host reads cluster.json)
    process: subprocess.Popen[bytes] | None = None
    netns: str | None = None  # the network namespace the host runs in (None: this one)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def start(self, ready_path: str = "/_cloud/health", timeout: float = 90) -> None:
        self.spawn()
        self.wait_ready(ready_path, timeout)

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLOUDCTL_DATABASE_URL", "CLOUDCTL_LOCAL_NODE")}
        env["CLOUDCTL_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["CLOUDCTL_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "cloudctl", *self.argv],
                env=env, stdout=log, stderr=subprocess.STDOUT)

    def _get(self, path: str, timeout: float) -> tuple[int, bytes]:
        """GET ``path`` of this host from its network (the caller's when none)."""
        def fetch() -> tuple[int, bytes]:
            with urllib.request.urlopen(self.endpoint + path, timeout=timeout) as r:
                return int(r.status), r.read()

        if self.netns is None:
            return fetch()
        from netd.netns import run_in

        return run_in(self.netns, fetch)

    def wait_ready(self, ready_path: str = "/_cloud/health", timeout: float = 90) -> None:
        assert self.process is not None
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if self._get(ready_path, 2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not come up: {self.log_tail()}")

    def health(self) -> dict[str, Any]:
        data = json.loads(self._get("/_cloud/health", 5)[1])
        assert isinstance(data, dict)
        return data

    def pids(self) -> list[int]:
        """The process and its children (forked workers, haproxy)."""
        if self.process is None:
            return []
        found = [self.process.pid]
        try:
            out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                 text=True, timeout=10).stdout
        except OSError:
            return found
        return found + [int(p) for p in out.split()]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@dataclass
class MultiHost:
    """The data directories of the hosts, and the hosts started so far."""

    root: Path
    database_url: str
    api_port: int = field(default_factory=free_port)
    hosts: list[Host] = field(default_factory=list)
    cluster_file: Path = field(default_factory=Path)
    first: str = ""

    def data_dir(self, name: str) -> Path:
        return self.root / name / "data"

    def init_first(self, name: str) -> subprocess.CompletedProcess[str]:
        self.data_dir(name).parent.mkdir(parents=True, exist_ok=True)
        self.first = name
        return cloudctl(self.data_dir(name), "init", "--network-mode", "EDGE",
                        database_url=self.database_url)

    def url_of(self, name: str) -> str | None:
        return self.database_url if name == self.first else None

    def export(self, name: str) -> subprocess.CompletedProcess[str]:
        self.cluster_file = self.root / "cluster.json"
        return cloudctl(self.data_dir(name), "cluster", "export", str(self.cluster_file),
                        database_url=self.database_url)

    def join(self, name: str, source: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        self.data_dir(name).parent.mkdir(parents=True, exist_ok=True)
        return cloudctl(self.data_dir(name), "init", "--join",
                        source or str(self.cluster_file), check=check)

    def _host(self, host: Host) -> Host:
        self.hosts.append(host)
        return host

    def api(self, name: str, address: str, workers: int = 1) -> Host:
        return self._host(Host(name, self.data_dir(name), address, self.api_port,
                               ["up", "--role", "api", "--listen",
                                f"{address}:{self.api_port}", "--workers", str(workers)],
                               self.url_of(name)))

    def controllers(self, name: str) -> Host:
        port = free_port()
        return self._host(Host(name, self.data_dir(name), "127.0.0.1", port,
                               ["up", "--role", "controllers", "--node", "fake",
                                "--listen", f"127.0.0.1:{port}"], self.url_of(name)))

    def entry(self, name: str, api_hosts: list[Host]) -> Host:
        port = free_port()
        self.data_dir(name).mkdir(parents=True, exist_ok=True)
        argv = ["entrypoint", "--listen", f"127.0.0.1:{port}"]
        for host in api_hosts:
            argv += ["--host", f"{host.address}:{host.port}"]
        return self._host(Host(name, self.data_dir(name), "127.0.0.1", port, argv))

    def client_cloud(self, entry: Host, any_host: str) -> LiveCloud:
        """A LiveCloud view of the entry point with the admin's credentials."""
        creds = json.loads(cloudctl(self.data_dir(any_host), "--output", "json",
                                    "credentials", database_url=self.url_of(any_host)).stdout)
        view = LiveCloud(data_dir=self.data_dir(any_host), port=entry.port, database_url=None)
        view.access_key, view.secret_key = creds["AccessKeyId"], creds["SecretAccessKey"]
        view.account_id = creds["AccountId"]
        return view

    def stop_all(self) -> None:
        running = [h for h in self.hosts if h.process is not None and h.process.poll() is None]
        for host in running:
            assert host.process is not None
            host.process.send_signal(signal.SIGTERM)
        for host in running:
            host.stop()  # waits (and kills what did not stop)
