"""Baseline: bare libvirt create of the tiny guest to its first console line.

No controller, no driver, no image cache: a qcow2 overlay, ``createXML`` of a
transient TCG domain on a private libvirtd, poll the serial log. Reports the
median of N runs (default 3) for: createXML() return, first console line, and
the cloud-init "ssh ready" marker. The team compares RunInstances against this.

Usage: python -m bench.boot_bare [--runs 3] [--out bench/results/boot_bare.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import libvirt

from nodectl.domain import Disk, Domain, FileSource, OsBoot
from nodectl.guestimage import build
from nodectl.libvirtd import PrivateLibvirtd


def _wait(path: Path, predicate: str | None, start: float, timeout: float = 120) -> float:
    while time.monotonic() - start < timeout:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        if (predicate is None and "\n" in text) or (predicate and predicate in text):
            return time.monotonic() - start
        time.sleep(0.01)
    raise TimeoutError(f"{predicate or 'first line'} not seen in {timeout}s")


def one_boot(conn: libvirt.virConnect, image_dir: Path, work: Path) -> tuple[float, float, float]:
    overlay = work / "root.qcow2"
    console = work / "console.log"
    for p in (overlay, console):
        p.unlink(missing_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b",
                    str(image_dir / "rootfs.img"), "-F", "raw", str(overlay)], check=True)
    domain = Domain(
        name=f"bench-{uuid.uuid4().hex[:8]}", memory_mib=128,
        os=OsBoot(str(image_dir / "kernel"), str(image_dir / "ramdisk"),
                  "console=ttyS0 root=/dev/vda rootfstype=ext4 panic=-1"),
        disks=(Disk("vda", FileSource(str(overlay), "qcow2")),),
        console_log=str(console),
    )
    start = time.monotonic()
    dom = conn.createXML(domain.to_xml(), 0)
    created = time.monotonic() - start
    try:
        first = _wait(console, None, start)
        ready = _wait(console, "cloud-init: ssh ready", start)
    finally:
        dom.destroy()
    return created, first, ready


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/boot_bare.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="boot-bare-") as tmp:
        work = Path(tmp)
        image = build(work / "image")
        daemon = PrivateLibvirtd(work / "libvirtd")
        t = time.monotonic()
        daemon.start()
        daemon_start = time.monotonic() - t
        try:
            conn = libvirt.open(daemon.uri)
            runs = [one_boot(conn, image.kernel.parent, work) for _ in range(args.runs)]
            conn.close()
        finally:
            daemon.stop()
    load = Path("/proc/loadavg").read_text().split()[:3]
    med = [statistics.median(r[i] for r in runs) for i in range(3)]
    lines = [
        "# Bare libvirt boot of the tiny guest (baseline)",
        "",
        f"Measured by `python -m bench.boot_bare` on {time.strftime('%Y-%m-%d')} "
        f"({platform.node()}, {platform.machine()}, kernel {platform.release()}).",
        "Guest: Debian cloud kernel + busybox initramfs + ext4 rootfs overlay (qcow2),",
        "128 MiB, 1 vCPU, domain type 'qemu' (TCG, tb-cache 32 MiB), no NIC, transient",
        f"domain on a private libvirtd (started in {daemon_start:.2f} s). Median of "
        f"{len(runs)} runs, one guest at a time. Host load average at the end: "
        f"{' '.join(load)} (2 cores, shared with other work: TCG times scale with it).",
        "",
        "| step | median (s) | runs (s) |",
        "|---|---|---|",
    ]
    names = ["createXML() returned", "first console line", "cloud-init: ssh ready"]
    for i, name in enumerate(names):
        values = ", ".join(f"{r[i]:.2f}" for r in runs)
        lines.append(f"| {name} | {med[i]:.2f} | {values} |")
    lines += [
        "",
        "\"ssh ready\" includes cloud-init's failed metadata fetch (no metadata server",
        "in this benchmark, no eth0) and dropbear start.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
