"""IAM against moto, server CPU per call: CreateUser, ListUsers of 1,000 users in one
page (``MaxItems=1000``), a full pagination in pages of 100, the first against the
last page of 100 (paging cost must not grow with the page's position), and the cost
of one authorisation with 10x10 attached statements.

CPU per call is the server process tree's CPU time (user + system, ``/proc``) across
the calls divided by their number; one boto3 client, one server worker each. Each listing is
repeated (``LIST_CALLS``, ``PAGINATIONS``, ``PAGE_CALLS``) so the 10 ms clock tick is
small against the measured CPU.

Run: ``python -m bench.iam_vs_moto``; writes bench/results/iam_vs_moto.md.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Server, cpu_seconds, start_cloud, start_moto
from bench.results_sections import write_section

USERS = 1000
# every measured operation is repeated (identically for moto): the CPU clock ticks every
# 10 ms, a full pagination of the cloud costs about that
LIST_CALLS = 40
PAGINATIONS = 40
PAGE_CALLS = 100
TARGETS = {"create_cpu_ms": 5, "list1000_cpu_ms": 10, "paginate_cpu_ms": 10}


def _iam(server: Server) -> Any:
    return boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(retries={"max_attempts": 1}))


def _cpu_ms(server: Server, calls: int, step: Callable[[], None]) -> float:
    cpu0 = cpu_seconds(server.process.pid)
    for _ in range(calls):
        step()
    return (cpu_seconds(server.process.pid) - cpu0) / calls * 1000


def run(server: Server) -> dict[str, float]:
    iam = _iam(server)
    iam.list_users()  # warm the connection and the server's caches
    cpu0 = cpu_seconds(server.process.pid)
    started = time.perf_counter()
    for i in range(USERS):
        iam.create_user(UserName=f"bench{i:05d}", Path="/bench/")
    create_wall = time.perf_counter() - started
    create_cpu = (cpu_seconds(server.process.pid) - cpu0) / USERS * 1000
    ok = True

    def list_all() -> None:
        nonlocal ok
        out = iam.list_users(PathPrefix="/bench/", MaxItems=1000)
        ok = ok and len(out["Users"]) == USERS and not out["IsTruncated"]

    def paginate() -> None:
        nonlocal ok
        names: list[str] = []
        for page in iam.get_paginator("list_users").paginate(
                PathPrefix="/bench/", PaginationConfig={"PageSize": 100}):
            names += [u["UserName"] for u in page["Users"]]
        ok = ok and names == sorted(names) and len(names) == USERS

    markers: list[str | None] = [None]
    for page in iam.get_paginator("list_users").paginate(
            PathPrefix="/bench/", PaginationConfig={"PageSize": 100}):
        if page.get("IsTruncated"):
            markers.append(page["Marker"])

    def one_page(marker: str | None) -> Callable[[], None]:
        def step() -> None:
            nonlocal ok
            kwargs = {"Marker": marker} if marker else {}
            out = iam.list_users(PathPrefix="/bench/", MaxItems=100, **kwargs)
            ok = ok and len(out["Users"]) == 100
        return step

    return {
        "create_cpu_ms": create_cpu, "create_per_s": USERS / create_wall,
        "list1000_cpu_ms": _cpu_ms(server, LIST_CALLS, list_all),
        "paginate_cpu_ms": _cpu_ms(server, PAGINATIONS, paginate),
        "first_page_cpu_ms": _cpu_ms(server, PAGE_CALLS, one_page(markers[0])),
        "last_page_cpu_ms": _cpu_ms(server, PAGE_CALLS, one_page(markers[-1])),
        "correct": float(ok and len(markers) == USERS // 100),
    }


def authz_cost() -> float:
    from cloudctl.services.iam.policy import AuthzRequest, PolicySet, evaluate

    docs = [json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": [f"ec2:Describe{p}{s}*", f"s3:Get{p}{s}"],
         "Resource": f"arn:aws:s3:::bucket{p}{s}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}} for s in range(10)]})
        for p in range(10)]
    policies = PolicySet(docs)
    n = 20000
    started = time.perf_counter()
    for _ in range(n):
        evaluate(AuthzRequest(action="s3:GetObject", resources=["arn:aws:s3:::bucket99/k"],
                              principal_arn="arn:aws:iam::123456789012:user/u",
                              principal_account="123456789012", principal_type="user",
                              context={"aws:SourceIp": "10.1.2.3", "aws:username": "u"}),
                 policies)
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    results: dict[str, dict[str, float]] = {}
    load = os.getloadavg()
    for start in (start_moto, lambda: start_cloud(1)):
        server = start()
        try:
            results[server.name] = run(server)
        finally:
            server.stop()
    auth_ms = authz_cost()
    cloud, moto = results["cloudctl"], results["moto"]
    rows = [("CreateUser", "create_cpu_ms"), ("ListUsers MaxItems=1000", "list1000_cpu_ms"),
            ("ListUsers full pagination, pages of 100", "paginate_cpu_ms"),
            ("ListUsers first page of 100", "first_page_cpu_ms"),
            ("ListUsers last page of 100 (Marker)", "last_page_cpu_ms")]
    lines = [f"## Latest run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"{USERS} users, one boto3 client, one server worker each. Server CPU per call "
             "(process tree user+system time delta / calls), milliseconds; ListUsers of "
             f"1,000 over {LIST_CALLS} calls, full pagination over {PAGINATIONS} runs, "
             f"single pages over {PAGE_CALLS} calls.", "",
             "| call | moto | cloudctl | cloudctl / moto | target |", "|---|---|---|---|---|"]
    for label, key in rows:
        target = TARGETS.get(key)
        lines.append(f"| {label} | {moto[key]:.2f} | {cloud[key]:.2f} | "
                     f"{cloud[key] / moto[key]:.2f} | "
                     f"{f'<= 1/{target}' if target else '-'} |")
    lines += ["",
              f"Last page / first page (cloudctl): "
              f"{cloud['last_page_cpu_ms'] / cloud['first_page_cpu_ms']:.2f}.",
              f"CreateUser/s (wall): moto {moto['create_per_s']:.0f}, "
              f"cloudctl {cloud['create_per_s']:.0f}.",
              f"Answers correct (counts, order, markers): moto "
              f"{'yes' if moto['correct'] else 'no'}, cloudctl "
              f"{'yes' if cloud['correct'] else 'no'}.",
              f"Authorisation, 10 policies x 10 statements: {auth_ms * 1000:.1f} us/decision.",
              "", f"Machine shared with other jobs: load average {load[0]:.2f} / {load[1]:.2f} / "
              f"{load[2]:.2f} (1/5/15 min) at start, {os.cpu_count()} CPUs; rerun on a quiet "
              "machine for reference figures."]
    text = "\n".join(lines) + "\n"
    # the latest run's section, replaced each run; the file's dated history stays
    write_section(Path(__file__).resolve().parent / "results" / "iam_vs_moto.md",
                  "latest-run", text)
    print(text)


if __name__ == "__main__":
    main()
