"""What collecting guest metrics costs: per 100 guests on the fake driver, and one real
guest's statistics call against a bare libvirt ``getAllDomainStats``.

1. Fake node, 100 running guests (libvirt's ``test://`` driver, counters integrated
   by ``FakeDriver``): the bulk call ``all_stats()`` in-process, the same through the
   node agent's HTTP API (``GET /v1/stats``, JSON both ways, loopback, no TLS), and the
   collector's ``Sampler.collect`` turning one sample into datums (13 EC2 metrics x 4
   dimension sets, status checks, EBS for one volume per guest). Wall and CPU time
   per pass, median of N passes.
2. One real tiny guest (QEMU TCG on a private libvirtd): ``LibvirtDriver.all_stats()``
   against the bare ``conn.getAllDomainStats(groups)`` it wraps, median of N calls.

Usage: python -m bench.cloudwatch_collect [--passes 20] [--calls 200]
       [--out bench/results/cloudwatch_collect.md]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt

from cloudctl.services.ec2.compute.collector import Sampler, Target
from nodectl.agent import start_agent
from nodectl.domain import Disk, Domain, FileSource, OsBoot
from nodectl.driver import ImageRef, InstanceSpec
from nodectl.driver.fake import FakeDriver
from nodectl.driver.libvirt_driver import STATS_GROUPS, LibvirtDriver
from nodectl.guestimage import build
from nodectl.imagecache import ImageCache
from nodectl.libvirtd import PrivateLibvirtd
from nodectl.local import LocalNodeClient
from nodectl.remote import RemoteNodeClient

GUESTS = 100


def _timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``fn``."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


async def _agent_pass(driver: FakeDriver, runs: int) -> tuple[float, float]:
    node = LocalNodeClient(driver, driver.images, "bench")
    runner, port = await start_agent(node, "127.0.0.1", 0, None)
    client = RemoteNodeClient(f"http://127.0.0.1:{port}")
    wall, cpu = [], []
    try:
        await client.guest_stats()
        for _ in range(runs):
            w, c = time.perf_counter(), time.process_time()
            await client.guest_stats()
            wall.append((time.perf_counter() - w) * 1000)
            cpu.append((time.process_time() - c) * 1000)
    finally:
        await client.close()
        await runner.cleanup()
    return statistics.median(wall), statistics.median(cpu)


def fake_node(work: Path, passes: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    for name in ("rootfs.img", "kernel"):
        (work / name).write_bytes(b"\0" * 65536)
    driver = FakeDriver(ImageCache(work / "images"), state_dir=work / "fake")
    try:
        for i in range(GUESTS):
            driver.spawn(InstanceSpec(instance_id=f"i-{i:08x}",
                                      image=ImageRef("emi-1", work / "rootfs.img"),
                                      kernel=ImageRef("eki-1", work / "kernel")))
        targets = [Target(f"i-{i:08x}", "000000000001", "eucalyptus", "emi-1", "t1.micro",
                          i % 2 == 0, "web" if i % 4 == 0 else "", {"vda": f"vol-{i:08x}"})
                   for i in range(GUESTS)]
        stats_ms = _timed(driver.all_stats, passes)
        agent_ms = asyncio.run(_agent_pass(driver, passes))
        sampler = Sampler()
        clock = [time.time()]
        driver.clock = lambda: clock[0]
        sampler.collect(targets, driver.all_stats(), clock[0], 60, 60)
        samples = []
        for _ in range(passes):
            clock[0] += 60
            sample = driver.all_stats()
            samples.append(sample)
        datums = []

        def one() -> None:
            batch = sampler.collect(targets, samples.pop(0), clock[0], 60, 60)
            datums.append(sum(len(d) for d in batch.by_account().values()))

        sampler_ms = _timed(one, passes)
    finally:
        driver.close()
    return {"stats": stats_ms, "agent": agent_ms, "sampler": sampler_ms,
            "datums": statistics.median(datums)}


def real_guest(work: Path, calls: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    image = build(work / "image")
    daemon = PrivateLibvirtd(work / "libvirtd")
    daemon.start()
    try:
        overlay = work / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image.rootfs),
                        "-F", "raw", str(overlay)], check=True)
        domain = Domain(name="i-bench0001", instance_id="i-bench0001", memory_mib=128,
                        os=OsBoot(str(image.kernel), str(image.ramdisk),
                                  "console=ttyS0 root=/dev/vda rootfstype=ext4 panic=-1"),
                        disks=(Disk("vda", FileSource(str(overlay), "qcow2")),),
                        console_log=str(work / "console.log"))
        conn = libvirt.open(daemon.uri)
        dom = conn.createXML(domain.to_xml(), 0)
        driver = LibvirtDriver(daemon.uri, ImageCache(work / "images"))
        try:
            time.sleep(3)
            bare = _timed(lambda: conn.getAllDomainStats(STATS_GROUPS, 0), calls)
            ours = _timed(driver.all_stats, calls)
            guests = len(driver.all_stats().guests)
        finally:
            driver.close()
            dom.destroy()
            conn.close()
    finally:
        daemon.stop()
    return {"bare": bare, "ours": ours, "guests": guests}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cloudwatch_collect.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-collect-") as tmp:
        fake = fake_node(Path(tmp) / "fake", args.passes)
        real = real_guest(Path(tmp) / "real", args.calls)
    load = Path("/proc/loadavg").read_text().split()[:3]
    lines = [
        "# Collecting guest metrics: cost per pass",
        "",
        f"Measured by `python -m bench.cloudwatch_collect` on {time.strftime('%Y-%m-%d')} "
        f"({platform.node()}, {platform.machine()}, kernel {platform.release()}); host load "
        f"average at the end {' '.join(load)} (2 cores shared with other work).",
        "",
        f"## {GUESTS} guests on the fake driver (median of {args.passes} passes)",
        "",
        "| step | wall (ms) | CPU (ms) |",
        "|---|---|---|",
        f"| `FakeDriver.all_stats()` (getAllDomainStats on test://, counters) | "
        f"{fake['stats'][0]:.1f} | {fake['stats'][1]:.1f} |",
        f"| `GET /v1/stats` through the agent (HTTP + JSON, both ends in this process) | "
        f"{fake['agent'][0]:.1f} | {fake['agent'][1]:.1f} |",
        f"| `Sampler.collect` (deltas, dimension sets, {fake['datums']:.0f} datums) | "
        f"{fake['sampler'][0]:.1f} | {fake['sampler'][1]:.1f} |",
        "",
        "A pass runs once a minute per node (`cloud.monitoring.detailed_period_sec`);",
        "publishing the datums is CloudWatch's ingestion (its own benchmark).",
        "",
        f"## One real guest (QEMU TCG, private libvirtd; median of {args.calls} calls)",
        "",
        "| call | wall (ms) | CPU (ms) |",
        "|---|---|---|",
        f"| bare `conn.getAllDomainStats(state,cpu,vcpu,interface,block)` | "
        f"{real['bare'][0]:.2f} | {real['bare'][1]:.2f} |",
        f"| `LibvirtDriver.all_stats()` ({real['guests']} guest of ours: + ownership, "
        f"parsing) | {real['ours'][0]:.2f} | {real['ours'][1]:.2f} |",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
