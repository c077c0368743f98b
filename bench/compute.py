"""Compute benchmark: DescribeInstances of 1,000 instances against moto, and 1,000
instances scheduled over 50 fake nodes, in one run.

Our cloud runs the fake driver (``CLOUDCTL_LOCAL_NODE=fake``) plus 50 ``fake://``
nodes registered with ``cloudctl node register``; moto runs its server. Server CPU
is measured over the process tree (``bench.common.cpu_seconds``).
Writes bench/results/compute.md. Run: python -m bench.compute
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Server, cpu_seconds, median, start_cloud, start_moto

RESULTS = Path(__file__).resolve().parent / "results" / "compute.md"
MODELS = Path(__file__).resolve().parent.parent / "cloudctl" / "models"


def client(server: Server, region: str) -> Any:
    import botocore.session

    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.insert(0, str(MODELS))
    session = boto3.Session(aws_access_key_id=server.access_key,
                            aws_secret_access_key=server.secret_key, region_name=region,
                            botocore_session=core)
    return session.client("ec2", endpoint_url=server.endpoint,
                          config=Config(retries={"max_attempts": 1}, read_timeout=300))


def fake_image_set(ec2: Any, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    kernel = bytearray(4096)
    kernel[0x202:0x206] = b"HdrS"
    (directory / "vmlinuz").write_bytes(bytes(kernel))
    (directory / "initrd").write_bytes(gzip.compress(b"070701"))
    (directory / "root.img").write_bytes(b"\0" * 65536)
    eki = ec2.register_image(Name="bench-k", ImageLocation=str(directory / "vmlinuz"))["ImageId"]
    eri = ec2.register_image(Name="bench-r", ImageLocation=str(directory / "initrd"))["ImageId"]
    return str(ec2.register_image(Name="bench-m", ImageLocation=str(directory / "root.img"),
                                  KernelId=eki, RamdiskId=eri)["ImageId"])


def count_running(ec2: Any) -> int:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    return sum(len(r["Instances"]) for p in pages for r in p["Reservations"])


def describe_cpu(server: Server, ec2: Any, calls: int) -> tuple[float, float]:
    """(server CPU seconds per call, median wall seconds per call)."""
    ec2.describe_instances()
    walls = []
    before = cpu_seconds(server.process.pid)
    for _ in range(calls):
        started = time.perf_counter()
        out = ec2.describe_instances()
        walls.append(time.perf_counter() - started)
        assert sum(len(r["Instances"]) for r in out["Reservations"]) >= 1000
    return (cpu_seconds(server.process.pid) - before) / calls, median(walls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    os.environ.update({"CLOUDCTL_LOCAL_NODE": "none", "CLOUDCTL_DEMO_IMAGE": "0"})
    cloud = start_cloud(1)
    moto = start_moto()
    lines: list[str] = []
    try:
        env = dict(os.environ)
        data = max(Path(tempfile.gettempdir()).glob("bench-cloud-*"), key=lambda p: p.stat().st_mtime)
        env["CLOUDCTL_DATA_DIR"] = str(data)
        subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint", cloud.endpoint, "property",
                        "set", "cloud.vmstate.reconcile_interval_sec=1"], env=env, check=True,
                       capture_output=True)
        for i in range(args.nodes):
            subprocess.run([sys.executable, "-m", "cloudctl", "node", "register", f"fake{i:02d}",
                            "--zone", "eucalyptus-1a", "--address", f"fake://fake{i:02d}"],
                           env=env, check=True, capture_output=True)
        ours = client(cloud, "eucalyptus")
        deadline = time.time() + 60
        while time.time() < deadline:
            types = ours.describe_instance_types(InstanceTypes=["verbose", "t1.micro"])
            if types["InstanceTypes"][0]["Availability"][0]["Available"] >= 1000:
                break
            time.sleep(0.5)
        emi = fake_image_set(ours, data / "bench-imgs")
        started = time.perf_counter()
        run = ours.run_instances(ImageId=emi, MinCount=1000, MaxCount=1000,
                                 InstanceType="t1.micro")
        scheduled = time.perf_counter() - started
        placed = len(run["Instances"])
        while count_running(ours) < 1000:
            time.sleep(1)
        converged = time.perf_counter() - started
        subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint", cloud.endpoint, "property",
                        "set", "cloud.vmstate.reconcile_interval_sec=600"], env=env, check=True,
                       capture_output=True)
        time.sleep(2)  # the controller's pass in progress ends; the next is 10 minutes away
        theirs = client(moto, "us-east-1")
        ami = theirs.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for _ in range(10):
            theirs.run_instances(ImageId=ami, MinCount=100, MaxCount=100, InstanceType="t2.micro")
        time.sleep(2)
        our_cpu, our_wall = describe_cpu(cloud, ours, args.calls)
        moto_cpu, moto_wall = describe_cpu(moto, theirs, args.calls)
        lines = [
            "# Compute benchmark", "",
            f"Host: {os.cpu_count()} cores. `python -m bench.compute --calls {args.calls} "
            f"--nodes {args.nodes}`.", "",
            "## DescribeInstances of 1,000 instances (one call, no filters)", "",
            "| server | server CPU per call | median wall per call |", "|---|---|---|",
            f"| cloudctl (1 worker) | {our_cpu * 1000:.0f} ms | {our_wall * 1000:.0f} ms |",
            f"| moto server | {moto_cpu * 1000:.0f} ms | {moto_wall * 1000:.0f} ms |", "",
            f"CPU ratio cloudctl/moto: {our_cpu / moto_cpu:.3f} (target <= 0.1).", "",
            f"## 1,000 instances over {args.nodes} fake nodes", "",
            f"- RunInstances MinCount=MaxCount=1000 (t1.micro), scheduled and recorded: "
            f"{scheduled:.2f} s ({placed} placed)",
            f"- until all 1,000 are running on the fake nodes (controller convergence): "
            f"{converged:.1f} s", "",
        ]
    finally:
        cloud.stop()
        moto.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
