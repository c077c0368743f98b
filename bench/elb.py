"""Load balancer data plane: requests/s and p99 through one haproxy load balancer
(netd's `LbPlane`, its own namespace) against the same requests straight to one fast
local back-end (haproxy answering 200 itself, in its own namespace), at concurrency 32
with keep-alive from an outside client namespace; and the time from registering an
instance (a reconcile adding the back-end; HealthyThreshold 2, Interval 1 s) to the
first request it serves. Writes bench/results/elb.md.

Two placements, alternating rounds of direct and through in each: ``shared`` (client,
load balancer and back-end scheduled on both cores as the kernel likes) and ``pinned``
(the client alone on CPU 0, as a client on another machine; the load balancer and the
back-end together on CPU 1, so the path through the load balancer pays its own CPU
on the back-end's core). The CPU a request costs each haproxy is measured from /proc.

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
ANALYSIS = "## Analysis"  # the results file keeps what follows this heading


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
         concurrency: int = 32, cpus: set[int] | None = None) -> tuple[float, float]:
    """(requests/s, p99 seconds) from namespace ``ns`` (the client thread on ``cpus``)."""
    lat: list[float] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_worker(host, port, until, lat) for _ in range(concurrency)))

    def body() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # this thread only
        asyncio.run(run())

    netns.run_in(ns, body)
    lat.sort()
    return len(lat) / seconds, lat[int(len(lat) * 0.99)]


def _pids_of(pattern: str) -> list[int]:
    """Every process whose command line contains ``pattern``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if pattern.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def pin(patterns: list[str], cpus: set[int]) -> None:
    """Every thread of the processes matching ``patterns`` onto ``cpus``."""
    for pattern in patterns:
        for pid in _pids_of(pattern):
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    os.sched_setaffinity(int(tid), cpus)
                except OSError:
                    continue


def _cpu_of(pattern: str) -> float:
    """CPU seconds (user + system) used so far by every process whose command line
    contains ``pattern``."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in _pids_of(pattern):
        try:
            with open(f"/proc/{pid}/stat") as fh:
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
            patterns = [str(plane.dir_of(spec.lb_id) / "haproxy.cfg"),
                        str(work / "i-0000000a.cfg")]
            shared = _rounds(lab, seconds / 3, None)
            pin(patterns, {1})
            pinned = _rounds(lab, seconds / 3, {0})
            pin(patterns, set(range(os.cpu_count() or 1)))
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
    load_avg = " ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# ELB data plane (haproxy 2.6 in a namespace)", "",
        f"Measured by `python -m bench.elb {seconds:g}` ({time.strftime('%Y-%m-%d')}), "
        "2 shared cores; client, load balancer and back-end on the same host, each in "
        "its own namespace; keep-alive, concurrency 32, small 200 responses from a "
        "fast back-end (haproxy answering itself).", "",
        "| placement | path | requests/s (median) | requests/s (best) | p99 (ms) |",
        "|---|---|---|---|---|",
        *_rows("shared", shared), *_rows("pinned", pinned), "",
        f"Ratio through / direct (target >= 0.8) of the medians of 3 alternating rounds: "
        f"shared **{_ratio(shared):.2f}**, pinned **{_ratio(pinned):.2f}**; of the best "
        f"rounds: shared **{_best_ratio(shared):.2f}**, pinned "
        f"**{_best_ratio(pinned):.2f}**. Load average (1/5/15 min) at the end: {load_avg}. The client is "
        "Python (asyncio, one thread); other work on the machine shares the cores: "
        "figures move by +-20% between runs.", "",
        f"CPU a request (through the load balancer): load balancer {lb_us:.1f} us, "
        f"back-end {be_us:.1f} us (haproxy answering itself); the load balancer's "
        "share is what its configuration can change, independent of the machine's load.",
        "",
        f"Register to first request served by the new instance (HealthyThreshold 2, "
        f"Interval 1 s): **{first:.2f} s** (AWS: at least HealthyThreshold x Interval).",
        ""]
    out = Path(__file__).parent / "results" / "elb.md"
    kept = out.read_text().partition(ANALYSIS)[2] if out.exists() else ""
    out.write_text("\n".join(lines) + (f"\n{ANALYSIS}{kept}" if kept else ""))
    print("\n".join(lines))
    return 0


Point = tuple[float, float]  # (requests/s, p99 seconds)
Rounds = list[tuple[Point, Point]]  # (direct, through) a round


def _rounds(lab: ElbLab, seconds: float, cpus: set[int] | None) -> Rounds:
    """3 alternating rounds of (direct, through)."""
    return [(load(lab.client, "10.77.0.21", 8080, seconds, cpus=cpus),
             load(lab.client, "10.77.0.10", 80, seconds, cpus=cpus)) for _ in range(3)]


def _ratio(found: Rounds) -> float:
    """Through / direct of the medians."""
    return _median([r[1] for r in found])[0] / _median([r[0] for r in found])[0]


def _best_ratio(found: Rounds) -> float:
    """Through / direct of the best rounds (the least disturbed by other work)."""
    return max(r[1][0] for r in found) / max(r[0][0] for r in found)


def _rows(name: str, found: Rounds) -> list[str]:
    out = []
    for index, path in ((0, "straight to one back-end"), (1, "through the load balancer")):
        rate, p99 = _median([r[index] for r in found])
        best = max(r[index][0] for r in found)
        out.append(f"| {name} | {path} | {rate:.0f} | {best:.0f} | {p99 * 1000:.2f} |")
    return out


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
