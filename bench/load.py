"""Mixed load: 64 clients on S3, EC2, IAM and STS against one cloud, for a bounded time.

Starts its own cloud on loopback (2 workers by default) on SQLite and on PostgreSQL
(a private server from ``tests/infra/postgres.py``), then runs ``--clients`` raw
SigV4-signed HTTP clients (asyncio, one connection each) for ``--seconds``; each picks
its next operation from a fixed mix of writes (PutObject, CreateVolume, CreateTags,
CreateUser) and reads (GetObject, DescribeVolumes, GetUser, GetCallerIdentity).
Records per operation requests/s, p50/p99/max latency and non-2xx answers by status,
and the server's CPU (cores used) and the RSS of each worker.

Run: ``python -m bench.load [--seconds 60] [--db sqlite,postgres] [--label after]``;
appends a section to bench/results/load.md. ``--count-statements`` (PostgreSQL) logs
every statement on the server during the run and reports statements (and BEGINs) per
request: each is a round trip under psycopg; the logging slows the server, so take
latencies from runs without it. The client runs on the same machine and
takes CPU from the server: compare runs on the same host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from bench.common import Server, cpu_seconds, percentile, start_cloud, worker_rss

REGION = "eucalyptus"
BUCKET = "load-bench"
OBJECT = b"x" * 4096
# operation -> weight in the mix
MIX = {"s3:PutObject": 3, "s3:GetObject": 4, "ec2:CreateVolume": 1, "ec2:CreateTags": 1,
       "ec2:DescribeVolumes": 1, "iam:CreateUser": 1, "iam:GetUser": 2,
       "sts:GetCallerIdentity": 2}
WRITES = ("s3:PutObject", "ec2:CreateVolume", "ec2:CreateTags", "iam:CreateUser")
QUERY_VERSIONS = {"ec2": "2016-11-15", "iam": "2010-05-08", "sts": "2011-06-15"}
# DescribeVolumes' parameters: a page of 20; ``--describe-filtered`` adds a filter every
# volume matches, so the whole list is read and filtered before the page (the path of
# any Filters or VolumeIds; without them the page is read in SQL)
DESCRIBE = {"Action": "DescribeVolumes", "MaxResults": "20"}
DESCRIBE_FILTERED = {**DESCRIBE, "Filter.1.Name": "size", "Filter.1.Value.1": "1"}


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, op: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(op, []).append(seconds)
        if not 200 <= status < 300:
            self.errors.setdefault(op, Counter())[status] += 1


class Signer:
    def __init__(self, server: Server) -> None:
        self.endpoint = server.endpoint
        self.creds = botocore.credentials.Credentials(server.access_key, server.secret_key)

    def query(self, service: str, params: dict[str, str]) -> tuple[str, str, bytes, dict[str, str]]:
        body = urlencode({**params, "Version": QUERY_VERSIONS[service]})
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        botocore.auth.SigV4Auth(self.creds, service, REGION).add_auth(request)
        return "POST", self.endpoint + "/", body.encode(), dict(request.headers)

    def s3(self, method: str, key: str, body: bytes = b"") -> tuple[str, str, bytes, dict[str, str]]:
        url = f"{self.endpoint}/{BUCKET}/{key}"
        request = AWSRequest(method=method, url=url, data=body)
        botocore.auth.S3SigV4Auth(self.creds, "s3", REGION).add_auth(request)
        return method, url, body, dict(request.headers)


class Client:
    """One simulated client: its own connection, its own volumes and users."""

    describe: dict[str, str] = DESCRIBE

    def __init__(self, index: int, signer: Signer, session: aiohttp.ClientSession) -> None:
        self.index = index
        self.signer = signer
        self.session = session
        self.rng = random.Random(index)
        self.volumes: list[str] = []
        self.users: list[str] = []
        self.count = 0

    def request(self, op: str) -> tuple[str, str, bytes, dict[str, str]]:
        self.count += 1
        sign = self.signer
        key = f"c{self.index}/k{self.rng.randrange(16)}"
        if op == "s3:PutObject":
            return sign.s3("PUT", key, OBJECT)
        if op == "s3:GetObject":
            return sign.s3("GET", f"c{self.index}/seed")
        if op == "ec2:CreateVolume":
            return sign.query("ec2", {"Action": "CreateVolume", "Size": "1",
                                      "AvailabilityZone": f"{REGION}-1a"})
        if op == "ec2:CreateTags":
            volume = self.rng.choice(self.volumes)
            return sign.query("ec2", {"Action": "CreateTags", "ResourceId.1": volume,
                                      "Tag.1.Key": f"k{self.count % 5}", "Tag.1.Value": "v"})
        if op == "ec2:DescribeVolumes":
            return sign.query("ec2", self.describe)
        if op == "iam:CreateUser":
            return sign.query("iam", {"Action": "CreateUser",
                                      "UserName": f"load-{self.index}-{self.count}"})
        if op == "iam:GetUser":
            return sign.query("iam", {"Action": "GetUser"})
        return sign.query("sts", {"Action": "GetCallerIdentity"})

    async def call(self, op: str) -> tuple[int, bytes]:
        method, url, body, headers = self.request(op)
        async with self.session.request(method, url, data=body or None, headers=headers) as resp:
            return resp.status, await resp.read()

    async def seed(self) -> int:
        """Write the object this client's GETs read."""
        method, url, body, headers = self.signer.s3("PUT", f"c{self.index}/seed", OBJECT)
        async with self.session.request(method, url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    async def run(self, stop_at: float, stats: Stats) -> None:
        ops = [op for op, weight in MIX.items() for _ in range(weight)]
        while time.perf_counter() < stop_at:
            op = self.rng.choice(ops)
            if op == "ec2:CreateTags" and not self.volumes:
                op = "ec2:CreateVolume"
            start = time.perf_counter()
            try:
                status, body = await self.call(op)
            except (TimeoutError, aiohttp.ClientError):
                status, body = 599, b""
            stats.add(op, time.perf_counter() - start, status)
            if op == "ec2:CreateVolume" and status == 200 and len(self.volumes) < 8:
                text = body.decode()
                self.volumes.append(text.split("<volumeId>")[1].split("</volumeId>")[0])


async def _load(server: Server, clients: int, seconds: float,
                mark: Callable[[], Any] = lambda: None) -> dict[str, Any]:
    signer = Signer(server)
    connector = aiohttp.TCPConnector(limit=clients + 4)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with session.put(f"{server.endpoint}/{BUCKET}",
                               headers=_bucket_headers(signer)) as resp:
            await resp.read()
        workers = [Client(i, signer, session) for i in range(clients)]
        for client in workers:
            status = await client.seed()
            assert status == 200, status
        stats = Stats()
        marked = mark()  # the run proper starts (seeding is not counted)
        pid = server.process.pid
        cpu0 = cpu_seconds(pid)
        load_before = os.getloadavg()[0]
        begin = time.perf_counter()
        stop_at = begin + seconds
        rss_peak: list[float] = []

        async def sample() -> None:
            while time.perf_counter() < stop_at:
                await asyncio.sleep(2)
                rss_peak.append(sum(worker_rss(pid)))

        await asyncio.gather(sample(), *(c.run(stop_at, stats) for c in workers))
        elapsed = time.perf_counter() - begin
        cpu = cpu_seconds(pid) - cpu0
        return {"stats": stats, "elapsed": elapsed, "cores": cpu / elapsed,
                "load": (load_before, os.getloadavg()[0]),
                "rss": worker_rss(pid), "rss_peak": max(rss_peak, default=0.0),
                "marked": marked}


def _bucket_headers(signer: Signer) -> dict[str, str]:
    request = AWSRequest(method="PUT", url=f"{signer.endpoint}/{BUCKET}", data=b"")
    botocore.auth.S3SigV4Auth(signer.creds, "s3", REGION).add_auth(request)
    return dict(request.headers)


def start_database(kind: str) -> tuple[str | None, Any]:
    if kind == "sqlite":
        return None, None
    from tests.infra import postgres

    pg = postgres.start_postgres()
    return pg.create_database("load"), pg


def _log_statements(pg: Any) -> None:
    """Make ``pg`` log every statement (a reload: its sessions pick it up at once)."""
    from tests.infra import postgres

    postgres._as_postgres([str(postgres.PG_BIN / "psql"), "-h", str(pg.root), "-p",
                           str(pg.port), "-c", "ALTER SYSTEM SET log_statement = 'all'",
                           "-c", "SELECT pg_reload_conf()"])


def _statements_since(pg: Any, offset: int) -> tuple[int, int]:
    """Statements (simple and extended protocol) the server logged since ``offset``,
    and how many of them were BEGIN."""
    with (pg.root / "server.log").open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    found = re.findall(r"LOG:  (?:statement|execute [^:]*): (\S*)", text)
    return len(found), sum(1 for word in found if word.upper().startswith("BEGIN"))


def run(kind: str, clients: int, seconds: float, workers: int,
        count_statements: bool = False, properties: Sequence[str] = ()) -> dict[str, Any]:
    url, pg = start_database(kind)
    if url:
        os.environ["CLOUDCTL_DATABASE_URL"] = url
    counting = count_statements and pg is not None
    try:
        server = start_cloud(workers, properties)
        try:
            if counting:
                _log_statements(pg)

            def mark() -> int:
                return (pg.root / "server.log").stat().st_size if counting else 0

            result = asyncio.run(_load(server, clients, seconds, mark))
            if counting:
                result["statements"] = _statements_since(pg, result["marked"])
        finally:
            server.stop()
    finally:
        os.environ.pop("CLOUDCTL_DATABASE_URL", None)
        if pg is not None:
            pg.stop()
    return result


def report(kind: str, label: str, clients: int, workers: int, result: dict[str, Any]) -> list[str]:
    stats: Stats = result["stats"]
    elapsed = result["elapsed"]
    total = sum(len(v) for v in stats.latencies.values())
    writes = [x for op in WRITES for x in stats.latencies.get(op, [])]
    every = [x for v in stats.latencies.values() for x in v]
    lines = [
        f"### {label}: {kind}, {clients} clients, {workers} workers, {elapsed:.0f} s",
        "",
        f"{total / elapsed:.0f} requests/s; server {result['cores']:.2f} cores; worker RSS "
        f"{', '.join(f'{r:.0f}' for r in result['rss'])} MiB (peak sum "
        f"{result['rss_peak']:.0f} MiB); writes p99 {percentile(writes, 99) * 1000:.0f} ms, "
        f"max of all {max(every, default=0) * 1000:.0f} ms; load average "
        f"{result['load'][0]:.1f} before, {result['load'][1]:.1f} after",
        "",
    ]
    if "statements" in result:  # --count-statements: what the server logged meanwhile
        statements, begins = result["statements"]
        lines += [f"statements per request {statements / max(total, 1):.2f} (BEGIN "
                  f"{begins / max(total, 1):.2f}; background work included; every "
                  "statement logged, which slows the server)", ""]
    lines += [
        "| op | req/s | p50 ms | p99 ms | max ms | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    for op in MIX:
        values = stats.latencies.get(op, [])
        errors = stats.errors.get(op, Counter())
        lines.append(
            f"| {op} | {len(values) / elapsed:.1f} | {percentile(values, 50) * 1000:.1f} | "
            f"{percentile(values, 99) * 1000:.1f} | {max(values, default=0) * 1000:.0f} | "
            f"{', '.join(f'{c}: {n}' for c, n in sorted(errors.items())) or '-'} |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--label", default="run")
    parser.add_argument("--describe-filtered", action="store_true",
                        help="DescribeVolumes with a filter every volume matches (whole list)")
    parser.add_argument("--count-statements", action="store_true",
                        help="PostgreSQL: log every statement and report them per request")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "load.md"))
    parser.add_argument("--property", action="append", default=[], metavar="NAME=VALUE",
                        help="a cloud property set at start (e.g. db.postgres_inline_reads=on)")
    args = parser.parse_args()
    if args.describe_filtered:
        Client.describe = DESCRIBE_FILTERED
    lines: list[str] = []
    for kind in args.db.split(","):
        result = run(kind, args.clients, args.seconds, args.workers, args.count_statements,
                     args.property)
        section = report(kind, args.label, args.clients, args.workers, result)
        print("\n".join(section), flush=True)
        lines += section
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = "" if out.exists() else (
        "# Mixed load: S3, EC2, IAM, STS\n\n`python -m bench.load`: see the module docstring. "
        "Client and server share the machine.\n\n")
    with out.open("a") as handle:
        handle.write(header + f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                     f"{os.cpu_count()} cores.\n\n" + "\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
