"""RunInstances against a bare libvirt boot of the same tiny guest, in one run.

Both boot on the same private libvirtd, one guest at a time, alternating:

(a) bare: ``qemu-img create`` an overlay (untimed, as ``bench.boot_bare`` does), then
    ``createXML`` of a transient TCG domain; timed to the first console line.
(b) cloud: ``RunInstances`` (boto3, t1.micro) on a live ``cloudctl up`` whose
    local node drives that libvirtd; timed from the call to the first console line
    in the instance's console log, read from the node's file the same way as (a).
    The base images are cached by a warm-up launch first. Both guests get t1.micro's
    memory.

Reports the medians and the ratio (b)/(a) (target <= 1.15), plus (b)'s breakdown:
RunInstances answered, console log created (instance staged), first line.

Usage: python -m bench.boot_vs_bare [--runs 5] [--out bench/results/boot_vs_bare.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt

from bench.common import Server, alternate, free_port, median_of, runs_of, wait_http
from nodectl.domain import Disk, Domain, FileSource, OsBoot
from nodectl.guestimage import build
from nodectl.libvirtd import PrivateLibvirtd

POLL = 0.01


def _wait_file(path: Path, start: float, timeout: float = 120) -> float:
    while time.monotonic() - start < timeout:
        if path.exists():
            return time.monotonic() - start
        time.sleep(POLL)
    raise TimeoutError(f"{path} not created in {timeout}s")


def _wait_line(path: Path, start: float, timeout: float = 120) -> float:
    """Seconds from ``start`` until ``path`` holds a complete line (as bench.boot_bare)."""
    while time.monotonic() - start < timeout:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        if "\n" in text:
            return time.monotonic() - start
        time.sleep(POLL)
    raise TimeoutError(f"no console line in {path} after {timeout}s")


def bare_boot(conn: libvirt.virConnect, image_dir: Path, work: Path,
              memory_mib: int) -> dict[str, float]:
    overlay, console = work / "root.qcow2", work / "console.log"
    for p in (overlay, console):
        p.unlink(missing_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b",
                    str(image_dir / "rootfs.img"), "-F", "raw", str(overlay)], check=True)
    domain = Domain(
        name=f"bench-{uuid.uuid4().hex[:8]}", memory_mib=memory_mib,
        os=OsBoot(str(image_dir / "kernel"), str(image_dir / "ramdisk"),
                  "console=ttyS0 root=/dev/vda rootfstype=ext4 panic=-1"),
        disks=(Disk("vda", FileSource(str(overlay), "qcow2")),),
        console_log=str(console),
    )
    start = time.monotonic()
    dom = conn.createXML(domain.to_xml(), 0)
    created = time.monotonic() - start
    try:
        first = _wait_line(console, start)
    finally:
        dom.destroy()
    return {"create": created, "first": first}


class Cloud:
    """``cloudctl up`` with its local node on ``uri``."""

    def __init__(self, uri: str, work: Path, network_mode: str | None = None) -> None:
        self.data = work / "cloud"
        self.data.mkdir()
        self.env = dict(os.environ, CLOUDCTL_DATA_DIR=str(self.data),
                        CLOUDCTL_LOCAL_NODE="libvirt", CLOUDCTL_LIBVIRT_URI=uri,
                        CLOUDCTL_DEMO_IMAGE="0", CLOUDCTL_STOP_GRACE="5")
        port = free_port()
        self.log = open(self.data / "server.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "cloudctl", "up", "--listen",
                                 f"127.0.0.1:{port}", "--workers", "1", "--log-level",
                                 "WARNING", *(["--network-mode", network_mode]
                                              if network_mode else [])],
                                env=self.env, stdout=self.log,
                                stderr=subprocess.STDOUT)
        self.server = Server("cloudctl", proc, f"http://127.0.0.1:{port}")
        wait_http(self.server.endpoint + "/_cloud/health")
        self.cli("property", "set", "bootstrap.webservices.log_requests=false")
        import json

        creds = json.loads(self.cli("--output", "json", "credentials"))
        self.server.access_key = creds["AccessKeyId"]
        self.server.secret_key = creds["SecretAccessKey"]

    def cli(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint",
                               self.server.endpoint, *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def ec2(self) -> Any:
        import boto3
        import botocore.session
        from botocore.config import Config

        core = botocore.session.get_session()
        models = Path(__file__).resolve().parent.parent / "cloudctl" / "models"
        core.get_component("data_loader").search_paths.insert(0, str(models))
        session = boto3.Session(aws_access_key_id=self.server.access_key,
                                aws_secret_access_key=self.server.secret_key,
                                region_name="eucalyptus", botocore_session=core)
        return session.client("ec2", endpoint_url=self.server.endpoint,
                              config=Config(retries={"max_attempts": 1}, read_timeout=300))

    def console(self, iid: str) -> Path:
        return self.data / "node" / "images" / "instances" / iid / "console.log"

    def stop(self) -> None:
        self.server.stop()
        self.log.close()


@dataclass
class TinyCloud:
    """A cloud on a private libvirtd with the tiny guest registered (``emi``)."""

    work: Path
    image: Any  # nodectl.guestimage's built kernel, ramdisk and root file system
    conn: libvirt.virConnect
    cloud: Cloud
    ec2: Any
    emi: str


@contextmanager
def tiny_cloud(prefix: str, network_mode: str | None = None) -> Iterator[TinyCloud]:
    """Build the tiny guest, start a private libvirtd and ``cloudctl up`` on it, register
    the guest's kernel, ramdisk and machine image; everything is stopped and removed
    after the block."""
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        work = Path(tmp)
        image = build(work / "image")
        daemon = PrivateLibvirtd(work / "libvirtd")
        daemon.start()
        cloud = None
        conn = None
        try:
            conn = libvirt.open(daemon.uri)
            cloud = Cloud(daemon.uri, work, network_mode=network_mode)
            ec2 = cloud.ec2()
            eki = ec2.register_image(Name=f"{prefix}-kernel",
                                     ImageLocation=str(image.kernel))["ImageId"]
            eri = ec2.register_image(Name=f"{prefix}-ramdisk",
                                     ImageLocation=str(image.ramdisk))["ImageId"]
            emi = ec2.register_image(Name=f"{prefix}-machine", ImageLocation=str(image.rootfs),
                                     KernelId=eki, RamdiskId=eri)["ImageId"]
            yield TinyCloud(work, image, conn, cloud, ec2, emi)
        finally:
            if conn is not None:
                conn.close()
            if cloud is not None:
                cloud.stop()
            daemon.stop()


def _state(ec2: Any, iid: str) -> str:
    res = ec2.describe_instances(InstanceIds=[iid])
    return str(res["Reservations"][0]["Instances"][0]["State"]["Name"])


def cloud_boot(cloud: Cloud, ec2: Any, emi: str, conn: libvirt.virConnect) -> dict[str, float]:
    start = time.monotonic()
    res = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro")
    answered = time.monotonic() - start
    iid = res["Instances"][0]["InstanceId"]
    console = cloud.console(iid)
    try:
        staged = _wait_file(console, start)
        first = _wait_line(console, start)
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if iid not in [d.name() for d in conn.listAllDomains(0)] \
                    and _state(ec2, iid) == "terminated":
                break
            time.sleep(0.2)
    return {"api": answered, "staged": staged, "first": first}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/boot_vs_bare.md"))
    parser.add_argument("--label", default="", help="a note printed with the figures")
    args = parser.parse_args()
    bare: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    loads: list[str] = []
    with tiny_cloud("bvb") as tiny:
        cloud, ec2, emi, conn, work = tiny.cloud, tiny.ec2, tiny.emi, tiny.conn, tiny.work
        kernel_dir = tiny.image.kernel.parent
        itype = ec2.describe_instance_types(InstanceTypes=["t1.micro"])["InstanceTypes"][0]
        memory = int(itype["MemoryInfo"]["SizeInMiB"])  # the bare guest gets the same
        cloud_boot(cloud, ec2, emi, conn)  # warm-up: caches the base images
        bare_boot(conn, kernel_dir, work, memory)  # warm-up: first QEMU start
        loads.extend(alternate(
            args.runs,
            lambda: bare.append(bare_boot(conn, kernel_dir, work, memory)),
            lambda: ours.append(cloud_boot(cloud, ec2, emi, conn)),
            lambda i: print(f"run {i + 1}: bare {bare[-1]['first']:.2f} s, "
                            f"RunInstances {ours[-1]['first']:.2f} s", flush=True)))

    med, runs = median_of, runs_of
    ratio = med(ours, "first") / med(bare, "first")
    lines = [
        "# RunInstances vs bare libvirt: tiny guest to its first console line",
        "",
        f"Measured by `python -m bench.boot_vs_bare --runs {args.runs}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')} ({platform.node()}, {os.cpu_count()} cores, "
        f"kernel {platform.release()}). {args.label}".rstrip(),
        "Same private libvirtd, same image (Debian cloud kernel + busybox initramfs + ext4",
        f"overlay), {memory} MiB (t1.micro), 1 vCPU, TCG; one guest at a time, bare and "
        "RunInstances",
        "alternating; base images cached by a warm-up launch. Host 1-min load average after",
        f"each round: {', '.join(loads)} (shared machine: TCG times scale with the load).",
        "",
        "| path | step | median (s) | runs (s) |",
        "|---|---|---|---|",
        f"| (a) bare | createXML() returned | {med(bare, 'create'):.2f} | "
        f"{runs(bare, 'create')} |",
        f"| (a) bare | first console line | {med(bare, 'first'):.2f} | {runs(bare, 'first')} |",
        f"| (b) RunInstances | API answered | {med(ours, 'api'):.3f} | {runs(ours, 'api')} |",
        f"| (b) RunInstances | console log created (staged) | {med(ours, 'staged'):.2f} | "
        f"{runs(ours, 'staged')} |",
        f"| (b) RunInstances | first console line | {med(ours, 'first'):.2f} | "
        f"{runs(ours, 'first')} |",
        "",
        f"Ratio (b)/(a) of the medians: **{ratio:.2f}** (target <= 1.15).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
