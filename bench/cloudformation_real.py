"""A CloudFormation stack of real instances against RunInstances of the same image, in one
run (QEMU TCG guests on a private libvirtd, as ``bench.boot_vs_bare``).

Each round, alternating the order:

(a) RunInstances alone: one call for K instances (``MinCount=K``) of the tiny image;
    timed from the call until every instance is ``running`` in DescribeInstances (the
    slowest one) and until every instance's console has its first line (the guest
    kernel is up).
(b) a stack of K ``AWS::EC2::Instance`` resources of the same image and type; timed from
    CreateStack until ``CREATE_COMPLETE`` (the engine waits for each instance to be
    ``running``), and until every instance's console has its first line.

Both poll every 50 ms. Reported: the medians and the ratio of (b)'s completion to (a)'s
slowest instance (target <= 1.2). Needs root and libvirtd (``scripts/deps``).

Usage: python -m bench.cloudformation_real [--instances 2] [--runs 3]
Writes its section of bench/results/cloudformation.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import libvirt
from botocore.config import Config

from bench.boot_vs_bare import Cloud, _wait_line, tiny_cloud
from bench.common import alternate, median_of, runs_of
from bench.results_sections import write_section

POLL = 0.05


def _client(cloud: Cloud, service: str) -> Any:
    return boto3.client(service, endpoint_url=cloud.server.endpoint, region_name="eucalyptus",
                        aws_access_key_id=cloud.server.access_key,
                        aws_secret_access_key=cloud.server.secret_key,
                        config=Config(retries={"max_attempts": 1}, read_timeout=300))


def _all_running(ec2: Any, ids: list[str], start: float, timeout: float = 300) -> float:
    while time.monotonic() - start < timeout:
        found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        states = [i["State"]["Name"] for r in found for i in r["Instances"]]
        if len(states) == len(ids) and set(states) == {"running"}:
            return time.monotonic() - start
        if set(states) & {"terminated", "shutting-down", "stopped"}:
            raise RuntimeError(f"instances ended: {states}")
        time.sleep(POLL)
    raise TimeoutError(f"{ids} not running after {timeout}s")


def _first_lines(cloud: Cloud, ids: list[str], start: float) -> float:
    return max(_wait_line(cloud.console(iid), start) for iid in ids)


def _terminate(ec2: Any, conn: libvirt.virConnect, ids: list[str]) -> None:
    ec2.terminate_instances(InstanceIds=ids)
    _gone(ec2, conn, ids)


def _gone(ec2: Any, conn: libvirt.virConnect, ids: list[str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        domains = {d.name() for d in conn.listAllDomains(0)}
        found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        states = {i["State"]["Name"] for r in found for i in r["Instances"]}
        if not domains & set(ids) and states <= {"terminated"}:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{ids} not gone")


def run_instances(cloud: Cloud, ec2: Any, conn: libvirt.virConnect, emi: str,
                  count: int) -> dict[str, float]:
    start = time.monotonic()
    made = ec2.run_instances(ImageId=emi, MinCount=count, MaxCount=count,
                             InstanceType="t1.micro")
    ids = [i["InstanceId"] for i in made["Instances"]]
    try:
        running = _all_running(ec2, ids, start)
        first = _first_lines(cloud, ids, start)
    finally:
        _terminate(ec2, conn, ids)
    return {"complete": running, "first": first}


def template(emi: str, count: int) -> str:
    return json.dumps({"Resources": {
        f"Vm{i}": {"Type": "AWS::EC2::Instance",
                   "Properties": {"ImageId": emi, "InstanceType": "t1.micro"}}
        for i in range(count)}})


def stack_of_instances(cloud: Cloud, ec2: Any, cf: Any, conn: libvirt.virConnect, emi: str,
                       count: int) -> dict[str, float]:
    name = f"real-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    stack_id = cf.create_stack(StackName=name, TemplateBody=template(emi, count))["StackId"]
    while True:
        status = cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(POLL)
    complete = time.monotonic() - start
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"{name}: {status}")
    ids = [r["PhysicalResourceId"] for r in
           cf.describe_stack_resources(StackName=stack_id)["StackResources"]]
    try:
        first = _first_lines(cloud, ids, start)
    finally:
        cf.delete_stack(StackName=stack_id)
        while not cf.describe_stacks(StackName=stack_id)["Stacks"][0][
                "StackStatus"].endswith("COMPLETE"):
            time.sleep(0.2)
        _gone(ec2, conn, ids)
    return {"complete": complete, "first": first}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "cloudformation.md")
    args = parser.parse_args()
    alone: list[dict[str, float]] = []
    stacked: list[dict[str, float]] = []
    loads: list[str] = []
    with tiny_cloud("cr", network_mode="EDGE") as tiny:
        cloud, ec2, emi, conn = tiny.cloud, tiny.ec2, tiny.emi, tiny.conn
        cf = _client(cloud, "cloudformation")
        run_instances(cloud, ec2, conn, emi, 1)  # warm-up: caches the base images
        loads.extend(alternate(
            args.runs,
            lambda: alone.append(run_instances(cloud, ec2, conn, emi, args.instances)),
            lambda: stacked.append(stack_of_instances(cloud, ec2, cf, conn, emi,
                                                      args.instances)),
            lambda i: print(f"run {i + 1}: RunInstances {alone[-1]}, "
                            f"stack {stacked[-1]}", flush=True)))

    med, runs = median_of, runs_of
    ratio = med(stacked, "complete") / med(alone, "complete")
    ratio_first = med(stacked, "first") / med(alone, "first")
    k = args.instances
    lines = [
        "## A stack of real instances vs RunInstances of the same image",
        "",
        f"`python -m bench.cloudformation_real --instances {k} --runs {args.runs}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')} ({platform.node()}, {os.cpu_count()} cores). "
        "Private libvirtd, QEMU TCG, the tiny guest of `bench.boot_vs_bare` (t1.micro, "
        "1 vCPU); one cloud (`cloudctl up`, one worker, SQLite, EDGE); RunInstances and "
        "the stack alternate, base images cached by a warm-up launch. Host 1-min load "
        f"after each round: {', '.join(loads)}.",
        "",
        "| path | until | median (s) | runs (s) |",
        "|---|---|---|---|",
        f"| (a) RunInstances MinCount={k} | slowest instance `running` | "
        f"{med(alone, 'complete'):.2f} | {runs(alone, 'complete')} |",
        f"| (a) RunInstances MinCount={k} | every console's first line | "
        f"{med(alone, 'first'):.2f} | {runs(alone, 'first')} |",
        f"| (b) stack of {k} AWS::EC2::Instance | CREATE_COMPLETE | "
        f"{med(stacked, 'complete'):.2f} | {runs(stacked, 'complete')} |",
        f"| (b) stack of {k} AWS::EC2::Instance | every console's first line | "
        f"{med(stacked, 'first'):.2f} | {runs(stacked, 'first')} |",
        "",
        f"Stack CREATE_COMPLETE / slowest RunInstances instance running: **{ratio:.2f}** "
        f"(target <= 1.2); first console lines, stack / RunInstances: {ratio_first:.2f}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_section(args.out, "real-instances", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
