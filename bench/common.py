"""Shared benchmark helpers: start servers, measure CPU and RSS of a process tree."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_pids(root: int) -> list[int]:
    pids = [root]
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    index = 0
    while index < len(pids):
        pids.extend(children.get(pids[index], []))
        index += 1
    return pids


def cpu_seconds(root: int) -> float:
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / CLK_TCK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / (1 << 20)


def worker_rss(root: int) -> list[float]:
    """RSS of each serving process: the children if the root forked workers, else the root."""
    pids = tree_pids(root)
    workers = pids[1:] if len(pids) > 1 else pids
    return [rss_mib(pid) for pid in workers]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError as exc:  # answering; 503: a cloud still starting
            if exc.code != 503:
                return
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"
    data_dir: Path | None = None  # the cloud's (``cloudctl`` commands need it)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_moto() -> Server:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint + "/moto-api/")
    return Server("moto", proc, endpoint)


def start_cloud(workers: int, properties: Sequence[str] = ()) -> Server:
    """A cloud of ``workers`` API workers; ``properties``: ``NAME=VALUE`` set at start."""
    import json

    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-cloud-"))
    env = dict(os.environ, CLOUDCTL_DATA_DIR=str(data))
    proc = subprocess.Popen([sys.executable, "-m", "cloudctl", "up", "--listen", f"127.0.0.1:{port}",
                             "--workers", str(workers), "--log-level", "WARNING",
                             "--network-mode", os.environ.get("BENCH_NETWORK_MODE", "EDGE"),
                             "--node", os.environ.get("CLOUDCTL_LOCAL_NODE") or "fake"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint + "/_cloud/health")
    subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint", endpoint, "property", "set",
                    "bootstrap.webservices.log_requests=false", *properties], env=env, check=True,
                   capture_output=True)
    creds = json.loads(subprocess.run([sys.executable, "-m", "cloudctl", "--output", "json",
                                       "credentials"], env=env, check=True, capture_output=True,
                                      text=True).stdout)
    time.sleep(1.5)  # let every worker poll the property change
    return Server("cloudctl", proc, endpoint, creds["AccessKeyId"], creds["SecretAccessKey"],
                  data)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def median_of(rows: list[dict[str, float]], key: str) -> float:
    """The median of one measured field over a bench's rounds."""
    return statistics.median(r[key] for r in rows)


def runs_of(rows: list[dict[str, float]], key: str) -> str:
    """One field of every round, as a results table's "runs" cell."""
    return ", ".join(f"{r[key]:.2f}" for r in rows)


def alternate(rounds: int, first: Callable[[], None], second: Callable[[], None],
              after_round: Callable[[int], None] | None = None,
              settle: float = 1.0) -> list[str]:
    """Run two measured paths ``rounds`` times, the one going first alternating each round
    (so neither always pays a warm or cold start), ``settle`` seconds before each run (the
    previous guest's teardown). Returns the host's 1-minute load average after each round;
    ``after_round(i)`` reports progress."""
    loads: list[str] = []
    for i in range(rounds):
        for run in ((first, second) if i % 2 == 0 else (second, first)):
            time.sleep(settle)
            run()
        loads.append(Path("/proc/loadavg").read_text().split()[0])
        if after_round is not None:
            after_round(i)
    return loads
