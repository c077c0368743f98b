"""VPC API against moto, server CPU per call: DescribeSubnets and DescribeRouteTables
of 1,000 objects (one VPC holding 1,000 /28 subnets, another holding 1,000 route
tables), answered whole, and a full pagination in pages of 100.

CPU per call is the server process tree's CPU time (user + system, ``/proc``) across the
calls divided by their number, measured once the server is idle after the build; one
boto3 client, one server worker each. The issue's
target is cloudctl <= 1/10 of moto's CPU (``target`` column).

Run: ``python -m bench.vpc``; writes bench/results/vpc.md.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Server, cpu_seconds, start_cloud, start_moto

OBJECTS = 1000
CALLS = 10
TARGET = 10  # cloudctl CPU <= moto CPU / TARGET


def _ec2(server: Server) -> Any:
    return boto3.client("ec2", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(retries={"max_attempts": 1}))


def _cpu_ms(server: Server, calls: int, step: Callable[[], None]) -> float:
    cpu0 = cpu_seconds(server.process.pid)
    for _ in range(calls):
        step()
    return (cpu_seconds(server.process.pid) - cpu0) / calls * 1000


def _settle(server: Server, idle_cpu: float = 0.02, limit: float = 90.0) -> None:
    """Wait until the server is idle (under ``idle_cpu`` s of CPU in a second): work left
    over from building 2,000 objects (controllers reacting to the changes) must not be
    counted as the Describe calls' CPU."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(server.process.pid)
        time.sleep(1.0)
        if cpu_seconds(server.process.pid) - before < idle_cpu:
            return


def run(server: Server) -> dict[str, float]:
    ec2 = _ec2(server)
    ec2.describe_vpcs()  # warm the connection (and make the default VPC where there is one)
    subnet_vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    table_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    started = time.perf_counter()
    blocks = ipaddress.IPv4Network("10.0.0.0/16").subnets(new_prefix=28)
    for _, block in zip(range(OBJECTS), blocks, strict=False):
        ec2.create_subnet(VpcId=subnet_vpc, CidrBlock=str(block))
    for _ in range(OBJECTS - 1):  # with the main table: 1,000
        ec2.create_route_table(VpcId=table_vpc)
    build_s = time.perf_counter() - started
    _settle(server)
    ok = True
    by_vpc = [{"Name": "vpc-id", "Values": [subnet_vpc]}]
    tables_of = [{"Name": "vpc-id", "Values": [table_vpc]}]

    def subnets() -> None:
        nonlocal ok
        ok = ok and len(ec2.describe_subnets(Filters=by_vpc)["Subnets"]) == OBJECTS

    def tables() -> None:
        nonlocal ok
        ok = ok and len(ec2.describe_route_tables(Filters=tables_of)["RouteTables"]) == OBJECTS

    def paged(operation: str, key: str, filters: list[dict[str, Any]]) -> Callable[[], None]:
        def step() -> None:
            nonlocal ok
            seen = 0
            for page in ec2.get_paginator(operation).paginate(
                    Filters=filters, PaginationConfig={"PageSize": 100}):
                seen += len(page[key])
            ok = ok and seen == OBJECTS
        return step

    return {
        "build_s": build_s,
        "subnets_cpu_ms": _cpu_ms(server, CALLS, subnets),
        "tables_cpu_ms": _cpu_ms(server, CALLS, tables),
        "subnets_paged_cpu_ms": _cpu_ms(server, 3, paged("describe_subnets", "Subnets", by_vpc)),
        "tables_paged_cpu_ms": _cpu_ms(server, 3, paged("describe_route_tables",
                                                        "RouteTables", tables_of)),
        "correct": float(ok),
    }


def main() -> None:
    results: dict[str, dict[str, float]] = {}
    load = os.getloadavg()
    for start in (start_moto, lambda: start_cloud(1)):
        server = start()
        try:
            results[server.name] = run(server)
        finally:
            server.stop()
    cloud, moto = results["cloudctl"], results["moto"]
    rows = [("DescribeSubnets, 1,000 subnets in one answer", "subnets_cpu_ms"),
            ("DescribeRouteTables, 1,000 tables in one answer", "tables_cpu_ms"),
            ("DescribeSubnets, full pagination in pages of 100", "subnets_paged_cpu_ms"),
            ("DescribeRouteTables, full pagination in pages of 100", "tables_paged_cpu_ms")]
    lines = ["# VPC API vs moto", "",
             f"{OBJECTS} subnets in one VPC and {OBJECTS} route tables in another, one boto3 "
             "client, one server worker each. Server CPU per call (process tree user+system "
             "time delta / calls, once the server is idle after the build), milliseconds.", "",
             "| call | moto | cloudctl | cloudctl / moto | target |", "|---|---|---|---|---|"]
    for label, key in rows:
        lines.append(f"| {label} | {moto[key]:.1f} | {cloud[key]:.1f} | "
                     f"{cloud[key] / moto[key]:.2f} | <= 1/{TARGET} |")
    lines += ["",
              f"Building the objects (wall): moto {moto['build_s']:.1f} s, "
              f"cloudctl {cloud['build_s']:.1f} s.",
              f"Answers complete: moto {'yes' if moto['correct'] else 'no'}, cloudctl "
              f"{'yes' if cloud['correct'] else 'no'}.",
              "", f"Machine shared with other jobs: load average {load[0]:.2f} / {load[1]:.2f} / "
              f"{load[2]:.2f} (1/5/15 min) at start, {os.cpu_count()} CPUs; rerun on a quiet "
              "machine for reference figures."]
    text = "\n".join(lines) + "\n"
    Path(__file__).resolve().parent.joinpath("results", "vpc.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
