"""CloudFormation against moto's server: create and delete a stack of N independent
resources (IAM users, S3 buckets, security groups; 20 by default, and 100), wall time
from CreateStack to CREATE_COMPLETE and from DeleteStack to DELETE_COMPLETE, and the
server process tree's CPU time (``/proc``) over both. For our cloud, the same resources
made one after another by a client through the APIs, the baseline the engine's
parallel creation is measured against.

moto's resources are records in memory (no bucket directory, no security group in a
network view, no authorisation of each resource as the caller): the comparison shows
what the real work costs, not a like-for-like.

Run: ``python -m bench.cloudformation``; writes bench/results/cloudformation.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Server, cpu_seconds, start_cloud, start_moto
from bench.load import start_database

ROUNDS = 3


def _client(server: Server, service: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(retries={"max_attempts": 2}))


def template(count: int) -> str:
    resources: dict[str, Any] = {}
    for i in range(count):
        kind = i % 3
        if kind == 0:
            resources[f"User{i}"] = {"Type": "AWS::IAM::User"}
        elif kind == 1:
            resources[f"Bucket{i}"] = {"Type": "AWS::S3::Bucket"}
        else:
            resources[f"Group{i}"] = {"Type": "AWS::EC2::SecurityGroup",
                                      "Properties": {"GroupDescription": f"bench {i}"}}
    return json.dumps({"Resources": resources})


def _wait(cf: Any, stack: str, want: str) -> str:
    while True:
        status = str(cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
        if not status.endswith("IN_PROGRESS"):
            if status != want:
                raise RuntimeError(f"{stack}: {status}")
            return status
        time.sleep(0.05)


def stack_round(server: Server, region: str, count: int) -> dict[str, float]:
    cf = _client(server, "cloudformation", region)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    cpu0 = cpu_seconds(server.process.pid)
    started = time.perf_counter()
    stack_id = cf.create_stack(StackName=name, TemplateBody=template(count),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    _wait(cf, name, "CREATE_COMPLETE")
    created = time.perf_counter()
    cf.delete_stack(StackName=stack_id)
    _wait(cf, stack_id, "DELETE_COMPLETE")
    deleted = time.perf_counter()
    return {"create_s": created - started, "delete_s": deleted - created,
            "cpu_s": cpu_seconds(server.process.pid) - cpu0}


def sequential_round(server: Server, region: str, count: int) -> dict[str, float]:
    """The same resources, one call after another by a client (no CloudFormation)."""
    iam, s3, ec2 = (_client(server, s, region) for s in ("iam", "s3", "ec2"))
    tag = uuid.uuid4().hex[:8]
    made: list[tuple[str, str]] = []
    started = time.perf_counter()
    for i in range(count):
        kind = i % 3
        if kind == 0:
            iam.create_user(UserName=f"seq-{tag}-{i}")
            made.append(("user", f"seq-{tag}-{i}"))
        elif kind == 1:
            s3.create_bucket(Bucket=f"seq-{tag}-{i}")
            made.append(("bucket", f"seq-{tag}-{i}"))
        else:
            group = ec2.create_security_group(GroupName=f"seq-{tag}-{i}",
                                              Description=f"bench {i}")["GroupId"]
            made.append(("group", group))
    created = time.perf_counter()
    for kind, ident in made:
        if kind == "user":
            iam.delete_user(UserName=ident)
        elif kind == "bucket":
            s3.delete_bucket(Bucket=ident)
        else:
            ec2.delete_security_group(GroupId=ident)
    return {"create_s": created - started, "delete_s": time.perf_counter() - created,
            "cpu_s": 0.0}


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="20,100")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "cloudformation.md"))
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    results: dict[tuple[str, int], dict[str, float]] = {}
    labels = ["moto"] + [f"cloudctl {db}" for db in args.db.split(",")]
    for label in labels:
        pg = None
        if label == "moto":
            server, region = start_moto(), "us-east-1"
        else:
            url, pg = start_database(label.split()[1])
            if url:
                os.environ["CLOUDCTL_DATABASE_URL"] = url
            server, region = start_cloud(1), "eucalyptus"
        try:
            for count in counts:
                rows = [stack_round(server, region, count) for _ in range(ROUNDS)]
                results[(label, count)] = {k: _median(rows, k) for k in rows[0]}
                if label != "moto":
                    seq = [sequential_round(server, region, count) for _ in range(ROUNDS)]
                    results[(label.replace("cloudctl", "sequential"), count)] = {
                        k: _median(seq, k) for k in seq[0]}
        finally:
            server.stop()
            os.environ.pop("CLOUDCTL_DATABASE_URL", None)
            if pg is not None:
                pg.stop()
    lines = [
        "# CloudFormation: stack create + delete, cloudctl vs moto server",
        "",
        f"`python -m bench.cloudformation` on {os.cpu_count()} cores; one server worker "
        f"each, SQLite or PostgreSQL, fake node; median of {ROUNDS} rounds. N independent resources "
        "(a third IAM users, a third S3 buckets, a third security groups); wall time from "
        "CreateStack to CREATE_COMPLETE and DeleteStack to DELETE_COMPLETE (polled every "
        "50 ms), server CPU over both. `sequential`: the same resources made and deleted "
        "one call after another by one boto3 client through the IAM/S3/EC2 APIs.",
        "",
        "| N | server | create s | delete s | server CPU s |",
        "|---|---|---|---|---|",
    ]
    for count in counts:
        for label in sorted({key[0] for key in results}, key=lambda k: (k != "moto", k)):
            row = results[(label, count)]
            cpu = f"{row['cpu_s']:.2f}" if not label.startswith("sequential") else "-"
            lines.append(f"| {count} | {label} | {row['create_s']:.2f} | "
                         f"{row['delete_s']:.2f} | {cpu} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
