"""Load balancer data plane: requests/s and p99 through one haproxy load balancer
(netd's `LbPlane`, its own namespace) against the same requests straight to one fast
local back-end (haproxy answering 200 itself, in its own namespace), at concurrency 32
with keep-alive from an outside client namespace; and the time from registering an
instance (a reconcile adding the back-end; HealthyThreshold 2, Interval 1 s) to the
first request it serves. Writes bench/results/elb.md.

Run as root: python -m bench.elb [seconds]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from netd import netns
from netd.lb import LbPlane
from netd.lbspec import Backend, HealthCheck, LbSpec, Listener
from tests.integration.elb_lab import ElbLab, wait_for

FAST = """global
    maxconn 4096
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
frontend f
    bind :8080
    http-request return status 200 content-type text/plain string "{name}"
"""
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


async def _worker(host: str, port: int, until: float, lat: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
    finally:
        writer.close()


def load(ns: str, host: str, port: int, seconds: float,
         concurrency: int = 32) -> tuple[float, float]:
    """(requests/s, p99 seconds) from namespace ``ns``."""
    lat: list[float] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_worker(host, port, until, lat) for _ in range(concurrency)))

    netns.run_in(ns, lambda: asyncio.run(run()))
    lat.sort()
    return len(lat) / seconds, lat[int(len(lat) * 0.99)]


def _cpu_of(pattern: str) -> float:
    """CPU seconds (user + system) used so far by every process whose command line
    contains ``pattern``."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if pattern.encode() not in fh.read():
                    continue
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def cpu_per_request(ns: str, host: str, port: int, seconds: float,
                    patterns: list[str]) -> tuple[float, list[float]]:
    """(requests/s, CPU microseconds a request for each of ``patterns``' processes)."""
    before = [_cpu_of(p) for p in patterns]
    rate, _ = load(ns, host, port, seconds)
    used = [_cpu_of(p) - b for p, b in zip(patterns, before, strict=True)]
    return rate, [u / (rate * seconds) * 1e6 for u in used]


def main(seconds: float = 10.0) -> int:
    work = Path(tempfile.mkdtemp(prefix="elb-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    plane = LbPlane(work / "netd")
    with ElbLab(work) as lab:
        for index, name in ((1, "i-0000000a"), (2, "i-0000000b")):
            lab.add_backend(name, index)
            lab.stop_backend(name)  # replaced by the fast server
            cfg = work / f"{name}.cfg"
            cfg.write_text(FAST.format(name=name))
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", f"elbt-b{index}-{lab.tag}", "haproxy", "-f",
                 str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            assert wait_for(lambda: _ok(lab, "10.77.0.21", 8080), 10)
            check = HealthCheck("HTTP:8080/", interval=1, timeout=1, unhealthy=2, healthy=2)
            spec = LbSpec(lb_id="bench" + lab.tag[:4], address="10.77.0.10/24",
                          uplink_netns=lab.uplink, uplink_bridge=lab.bridge,
                          listeners=(Listener("HTTP", 80, "HTTP", 8080),),
                          backends=(Backend("i-0000000a", "10.77.0.21"),), health=check)
            plane.reconcile([spec])
            assert wait_for(lambda: _all_up(plane, spec.lb_id), 10)
            rounds = [(load(lab.client, "10.77.0.21", 8080, seconds / 3),
                       load(lab.client, "10.77.0.10", 80, seconds / 3)) for _ in range(3)]
            direct = _median([r[0] for r in rounds])
            through = _median([r[1] for r in rounds])
            # CPU a request costs each haproxy (load on the machine does not change it)
            lb_cfg = str(plane.dir_of(spec.lb_id) / "haproxy.cfg")
            _, (lb_us, be_us) = cpu_per_request(lab.client, "10.77.0.10", 80, seconds / 3,
                                                [lb_cfg, str(work / "i-0000000a.cfg")])
            t0 = time.perf_counter()
            plane.reconcile([replace(spec, backends=(
                Backend("i-0000000a", "10.77.0.21"), Backend("i-0000000b", "10.77.0.22")))])
            assert wait_for(lambda: lab.get("10.77.0.10", 80)[1] == "i-0000000b", 15, 0.02)
            first = time.perf_counter() - t0
        finally:
            plane.reconcile([])
            for proc in procs:
                proc.kill()
                proc.wait()
    ratio = through[0] / direct[0]
    lines = [
        "# ELB data plane (haproxy 2.6 in a namespace)", "",
        f"Measured by `python -m bench.elb {seconds:g}` ({time.strftime('%Y-%m-%d')}), "
        "2 shared cores; client, load balancer and back-end on the same host, each in "
        "its own namespace; keep-alive, concurrency 32, small 200 responses from a "
        "fast back-end (haproxy answering itself).", "",
        "| path | requests/s | p99 (ms) |", "|---|---|---|",
        f"| straight to one back-end | {direct[0]:.0f} | {direct[1] * 1000:.2f} |",
        f"| through the load balancer | {through[0]:.0f} | {through[1] * 1000:.2f} |", "",
        f"Ratio through / direct: **{ratio:.2f}** (target >= 0.8); medians of 3 "
        "alternating rounds. The client is Python (asyncio, one core), sharing the 2 "
        "cores with haproxy and with other work on the machine: figures move by "
        "+-20% between runs.", "",
        f"CPU a request (through the load balancer): load balancer {lb_us:.1f} us, "
        f"back-end {be_us:.1f} us (haproxy answering itself); the load balancer's "
        "share is what its configuration can change, independent of the machine's load.",
        "",
        f"Register to first request served by the new instance (HealthyThreshold 2, "
        f"Interval 1 s): **{first:.2f} s** (AWS: at least HealthyThreshold x Interval).",
        ""]
    out = Path(__file__).parent / "results" / "elb.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def _median(points: list[tuple[float, float]]) -> tuple[float, float]:
    return (sorted(p[0] for p in points)[len(points) // 2],
            sorted(p[1] for p in points)[len(points) // 2])


def _ok(lab: ElbLab, host: str, port: int) -> bool:
    try:
        return lab.get(host, port)[0] == 200
    except OSError:
        return False


def _all_up(plane: LbPlane, lb_id: str) -> bool:
    found = plane.health(lb_id)
    return bool(found) and all(h.up for h in (found or {}).values())


if __name__ == "__main__":
    sys.exit(main(*(float(a) for a in sys.argv[1:])))
