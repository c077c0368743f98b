"""CloudFormation against moto's server: create and delete a stack of N independent
resources (IAM users, S3 buckets, security groups; 20 by default, and 100), wall time
from CreateStack to CREATE_COMPLETE and from DeleteStack to DELETE_COMPLETE, and the
server process tree's CPU time (``/proc``) over both. For our cloud, the same resources
made one after another by a client through the APIs, the baseline the engine's
parallel creation is measured against.

moto's resources are records in memory (no bucket directory, no security group in a
network view, no authorisation of each resource as the caller): the comparison shows
what the real work costs, not a like-for-like.

The client sees a stack complete by polling DescribeStacks every ``POLL`` seconds (10
ms; 50 ms before session 13's cfn2 branch): the figure is what a client observes, wall
time from CreateStack to the answer that shows CREATE_COMPLETE, late by up to one poll.
At 50 ms the poll was half of a stack of 100's time (the engine needs ~0.1 s) and
quantised it; a client polling every 10 ms sees it sooner and costs the server one
DescribeStacks (~1 ms) every 10 ms meanwhile, which the stack's CPU figure includes.
``stack_round`` also reports ``start_s``: from CreateStack's answer to the engine's
first resource event (its timestamp, the server's clock; same host), how soon the
engine gets going.

``--part events``: DescribeStackEvents of a stack of about 500 events (166 security
groups: three events each, and the stack's), read whole (every page, boto3's paginator)
by one client, against moto's server: latency per listing and the server's CPU per
listing.

Run: ``python -m bench.cloudformation [--part stacks,events]``; writes its sections of
bench/results/cloudformation.md (``bench.cloudformation_real`` writes the real-instance one).
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

from bench.common import Server, cpu_seconds, median_of, percentile, start_cloud, start_moto
from bench.load import start_database
from bench.results_sections import write_section

ROUNDS = 3
POLL = 0.01  # seconds between a waiting client's DescribeStacks (see the docstring)


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
        time.sleep(POLL)


def _event_times(cf: Any, stack_id: str) -> tuple[float, float]:
    """The epoch times of the stack's first resource event (not the stack's own) and of
    its own CREATE_COMPLETE (when the server completed it, not when a polling client
    saw it), from one read of its events; NaN for one a server does not record (moto)."""
    resources: list[float] = []
    completed: list[float] = []
    for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        for e in page["StackEvents"]:
            if e["ResourceType"] != "AWS::CloudFormation::Stack":
                resources.append(e["Timestamp"].timestamp())
            elif e["ResourceStatus"] == "CREATE_COMPLETE":
                completed.append(e["Timestamp"].timestamp())
    return min(resources, default=float("nan")), max(completed, default=float("nan"))


def stack_round(server: Server, region: str, count: int) -> dict[str, float]:
    cf = _client(server, "cloudformation", region)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    cpu0 = cpu_seconds(server.process.pid)
    started, sent = time.perf_counter(), time.time()
    stack_id = cf.create_stack(StackName=name, TemplateBody=template(count),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    answered = time.time()
    _wait(cf, name, "CREATE_COMPLETE")
    created = time.perf_counter()
    cpu_create = cpu_seconds(server.process.pid) - cpu0
    first, completed = _event_times(cf, stack_id)
    start, complete = first - answered, completed - sent
    cf.delete_stack(StackName=stack_id)
    _wait(cf, stack_id, "DELETE_COMPLETE")
    deleted = time.perf_counter()
    return {"create_s": created - started, "delete_s": deleted - created,
            "cpu_s": cpu_seconds(server.process.pid) - cpu0, "create_cpu_s": cpu_create,
            "start_s": start, "complete_s": complete}


def sequential_round(server: Server, region: str, count: int) -> dict[str, float]:
    """The same resources, one call after another by a client (no CloudFormation)."""
    iam, s3, ec2 = (_client(server, s, region) for s in ("iam", "s3", "ec2"))
    tag = uuid.uuid4().hex[:8]
    made: list[tuple[str, str]] = []
    cpu0 = cpu_seconds(server.process.pid)
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
    for made_kind, ident in made:
        if made_kind == "user":
            iam.delete_user(UserName=ident)
        elif made_kind == "bucket":
            s3.delete_bucket(Bucket=ident)
        else:
            ec2.delete_security_group(GroupId=ident)
    return {"create_s": created - started, "delete_s": time.perf_counter() - created,
            "cpu_s": cpu_seconds(server.process.pid) - cpu0}


def _machine_image(ec2: Any) -> str:
    images = ec2.describe_images(Filters=[{"Name": "image-type", "Values": ["machine"]}])
    return str(images["Images"][0]["ImageId"])


def _running(ec2: Any, ids: list[str]) -> None:
    while True:
        found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        states = [i["State"]["Name"] for r in found for i in r["Instances"]]
        if states.count("running") == len(ids):
            return
        if set(states) - {"pending", "running"}:
            raise RuntimeError(f"instances: {states}")
        time.sleep(0.05)


def instances_round(server: Server, region: str, count: int) -> dict[str, float]:
    """A stack of ``count`` instances (each waited for until running) against the same
    made one after another by a client waiting for each (fake node: no guest boots)."""
    ec2, cf = _client(server, "ec2", region), _client(server, "cloudformation", region)
    emi = _machine_image(ec2)
    body = json.dumps({"Resources": {
        f"Vm{i}": {"Type": "AWS::EC2::Instance",
                   "Properties": {"ImageId": emi, "InstanceType": "t1.micro"}}
        for i in range(count)}})
    started = time.perf_counter()
    stack_id = cf.create_stack(StackName=f"vms-{uuid.uuid4().hex[:8]}",
                               TemplateBody=body)["StackId"]
    _wait(cf, stack_id, "CREATE_COMPLETE")
    stacked = time.perf_counter() - started
    cf.delete_stack(StackName=stack_id)
    _wait(cf, stack_id, "DELETE_COMPLETE")
    ids = []
    started = time.perf_counter()
    for _ in range(count):
        made = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro")
        iid = made["Instances"][0]["InstanceId"]
        _running(ec2, [iid])
        ids.append(iid)
    one_by_one = time.perf_counter() - started
    ec2.terminate_instances(InstanceIds=ids)
    return {"stack_s": stacked, "sequential_s": one_by_one}


EVENTS = 500
EVENT_GROUPS = 166  # three events a resource here (as AWS: IN_PROGRESS twice, COMPLETE)
LISTINGS = 20


def events_round(server: Server, region: str) -> dict[str, float]:
    """DescribeStackEvents of a ~500-event stack, read whole LISTINGS times."""
    cf = _client(server, "cloudformation", region)
    name = f"events-{uuid.uuid4().hex[:8]}"
    resources = {f"Group{i}": {"Type": "AWS::EC2::SecurityGroup",
                               "Properties": {"GroupDescription": f"events {i}"}}
                 for i in range(EVENT_GROUPS)}
    stack_id = cf.create_stack(StackName=name,
                               TemplateBody=json.dumps({"Resources": resources}))["StackId"]
    _wait(cf, name, "CREATE_COMPLETE")
    paginator = cf.get_paginator("describe_stack_events")

    def listed() -> list[dict[str, Any]]:
        return list(paginator.paginate(StackName=stack_id))

    pages = listed()
    updates = 0
    # moto records no resource events: it reaches the count by stack updates' events
    while sum(len(p["StackEvents"]) for p in pages) < EVENTS and updates < EVENTS:
        updates += 1
        cf.update_stack(StackName=stack_id, TemplateBody=json.dumps(
            {"Description": f"revision {updates}", "Resources": resources}))
        _wait(cf, stack_id, "UPDATE_COMPLETE")
        pages = listed()
    count = sum(len(p["StackEvents"]) for p in pages)
    latencies, first = [], []
    cpu0 = cpu_seconds(server.process.pid)
    for _ in range(LISTINGS):
        started = time.perf_counter()
        cf.describe_stack_events(StackName=stack_id)
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        seen = sum(len(p["StackEvents"]) for p in paginator.paginate(StackName=stack_id))
        latencies.append(time.perf_counter() - started)
        assert seen == count
    cpu = cpu_seconds(server.process.pid) - cpu0
    cf.delete_stack(StackName=stack_id)
    _wait(cf, stack_id, "DELETE_COMPLETE")
    return {"events": count, "pages": len(pages), "updates": updates, "first_ms": 1000 * statistics.median(first),
            "all_ms": 1000 * statistics.median(latencies),
            "all_p95_ms": 1000 * percentile(latencies, 95),
            # CPU per full listing (each round also makes one first-page call)
            "cpu_ms": 1000 * cpu / LISTINGS}


def _servers(dbs: list[str]) -> list[str]:
    return ["moto"] + [f"cloudctl {db}" for db in dbs]


def _run_on(label: str, work: Any) -> Any:
    pg = None
    if label == "moto":
        server, region = start_moto(), "us-east-1"
    else:
        url, pg = start_database(label.split()[1])
        if url:
            os.environ["CLOUDCTL_DATABASE_URL"] = url
        server, region = start_cloud(1), "eucalyptus"
    try:
        return work(server, region)
    finally:
        server.stop()
        os.environ.pop("CLOUDCTL_DATABASE_URL", None)
        if pg is not None:
            pg.stop()


def stacks_part(counts: list[int], dbs: list[str], instances: int) -> str:
    results: dict[tuple[str, int], dict[str, float]] = {}
    vms: dict[str, dict[str, float]] = {}
    for label in _servers(dbs):
        def work(server: Server, region: str, label: str = label) -> None:
            if instances and label != "moto":
                rows = [instances_round(server, region, instances) for _ in range(ROUNDS)]
                vms[label] = {k: median_of(rows, k) for k in rows[0]}
            for count in counts:
                rows = [stack_round(server, region, count) for _ in range(ROUNDS)]
                results[(label, count)] = {k: median_of(rows, k) for k in rows[0]}
                if label != "moto":
                    seq = [sequential_round(server, region, count) for _ in range(ROUNDS)]
                    results[(label.replace("cloudctl", "sequential"), count)] = {
                        k: median_of(seq, k) for k in seq[0]}
        _run_on(label, work)
    lines = [
        "## Stack create + delete of N independent resources, vs moto and vs sequential",
        "",
        f"`python -m bench.cloudformation --part stacks` on {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; one server worker each, SQLite or PostgreSQL, "
        f"fake node; median of {ROUNDS} rounds. N independent resources (a third IAM users, "
        "a third S3 buckets, a third security groups); wall time from CreateStack to "
        "CREATE_COMPLETE and DeleteStack to DELETE_COMPLETE (polled every "
        f"{int(POLL * 1000)} ms), server "
        "CPU (the process tree's, from /proc) over both. `sequential`: the same resources "
        "made and deleted one call after another by one boto3 client through the IAM/S3/EC2 "
        "APIs, on the same server. Load average at the end: "
        f"{Path('/proc/loadavg').read_text().split()[0]}.",
        "",
        "| N | server | create s | delete s | server CPU s |",
        "|---|---|---|---|---|",
    ]
    for count in counts:
        for label in sorted({key[0] for key in results}, key=lambda k: (k != "moto", k)):
            row = results[(label, count)]
            lines.append(f"| {count} | {label} | {row['create_s']:.2f} | "
                         f"{row['delete_s']:.2f} | {row['cpu_s']:.2f} |")
    if instances:
        lines += ["", f"Instances (fake node), N={instances}: each waited for until `running`; "
                  "the stack of N `AWS::EC2::Instance` vs RunInstances + wait, one after "
                  "another, by one client.", "",
                  "| server | stack create s | one after another s | speed-up |",
                  "|---|---|---|---|"]
        for label, row in vms.items():
            lines.append(f"| {label} | {row['stack_s']:.2f} | {row['sequential_s']:.2f} | "
                         f"{row['sequential_s'] / row['stack_s']:.1f}x |")
    for db in dbs:
        for count in counts:
            engine, seq = results[(f"cloudctl {db}", count)], results[(f"sequential {db}", count)]
            lines.append("")
            lines.append(
                f"N={count}, {db}: create speed-up vs sequential "
                f"{seq['create_s'] / engine['create_s']:.2f}x; server CPU per resource "
                f"(create+delete) {1000 * engine['cpu_s'] / count:.1f} ms by the stack, "
                f"{1000 * seq['cpu_s'] / count:.1f} ms by the direct calls.")
    return "\n".join(lines) + "\n"


def events_part(dbs: list[str]) -> str:
    rows: dict[str, dict[str, float]] = {}
    for label in _servers(dbs):
        rows[label] = _run_on(label, events_round)
    lines = [
        "## DescribeStackEvents of a 500-event stack vs moto",
        "",
        f"`python -m bench.cloudformation --part events` on {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; a stack of {EVENT_GROUPS} security groups "
        "(three events a resource, as AWS gives them, and the stack's); moto records no "
        "resource events, so its stack is updated until it has as many (`updates`). One "
        "boto3 client reads them "
        f"{LISTINGS} times: the first page alone, and every page (boto3's paginator). "
        "Server CPU: the process tree's over the listings, per full listing (the "
        "first-page call included). One server worker.",
        "",
        "| server | events | pages | updates | first page ms (median) "
        "| all pages ms (median) | all pages ms (p95) | server CPU ms / listing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        lines.append(f"| {label} | {int(row['events'])} | {int(row['pages'])} | "
                     f"{int(row['updates'])} | {row['first_ms']:.1f} | {row['all_ms']:.1f} | {row['all_p95_ms']:.1f} "
                     f"| {row['cpu_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", default="stacks,events")
    parser.add_argument("--counts", default="20,100")
    parser.add_argument("--instances", type=int, default=20,
                        help="a latency-bound case: N instances each waited for (0: none)")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "cloudformation.md"))
    args = parser.parse_args()
    parts = args.part.split(",")
    dbs = args.db.split(",")
    out = Path(args.out)
    if "stacks" in parts:
        text = stacks_part([int(c) for c in args.counts.split(",")], dbs, args.instances)
        print(text)
        write_section(out, "stacks", text)
    if "events" in parts:
        text = events_part(dbs)
        print(text)
        write_section(out, "events", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
