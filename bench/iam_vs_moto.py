"""IAM against moto: CreateUser throughput, ListUsers over 1,000 users (CPU per call,
full pagination), and the cost of one authorisation with 10x10 attached statements.

Run: ``python -m bench.iam_vs_moto``; writes bench/results/iam_vs_moto.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Server, cpu_seconds, start_cloud, start_moto

USERS = 1000
LIST_CALLS = 20


def _iam(server: Server) -> Any:
    return boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(retries={"max_attempts": 1}))


def run(server: Server) -> dict[str, float]:
    iam = _iam(server)
    started = time.perf_counter()
    for i in range(USERS):
        iam.create_user(UserName=f"bench{i:05d}", Path="/bench/")
    create_rate = USERS / (time.perf_counter() - started)
    names: list[str] = []
    for page in iam.get_paginator("list_users").paginate(PathPrefix="/bench/"):
        names += [u["UserName"] for u in page["Users"]]
    paged_ok = names == sorted(names) and len(names) == USERS
    cpu0 = cpu_seconds(server.process.pid)
    started = time.perf_counter()
    page_ok = True
    for _ in range(LIST_CALLS):
        out = iam.list_users(MaxItems=100)
        page_ok = page_ok and len(out["Users"]) == 100 and bool(out["IsTruncated"])
    wall = (time.perf_counter() - started) / LIST_CALLS
    cpu = (cpu_seconds(server.process.pid) - cpu0) / LIST_CALLS
    return {"create_per_s": create_rate, "list_ms": wall * 1000, "list_cpu_ms": cpu * 1000,
            "paging_correct": float(paged_ok and page_ok)}


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
    for start in (start_moto, lambda: start_cloud(1)):
        server = start()
        try:
            results[server.name] = run(server)
        finally:
            server.stop()
    auth_ms = authz_cost()
    lines = ["# IAM vs moto", "", f"{USERS} users; ListUsers MaxItems=100, {LIST_CALLS} calls.", "",
             "| server | CreateUser/s | ListUsers ms (wall) | ListUsers server CPU ms/call | "
             "pagination correct |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['create_per_s']:.0f} | {r['list_ms']:.2f} | "
                     f"{r['list_cpu_ms']:.2f} | {'yes' if r['paging_correct'] else 'no'} |")
    lines += ["", f"Authorisation, 10 policies x 10 statements: {auth_ms * 1000:.1f} us/decision."]
    text = "\n".join(lines) + "\n"
    Path(__file__).resolve().parent.joinpath("results", "iam_vs_moto.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
