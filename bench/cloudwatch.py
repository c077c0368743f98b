"""CloudWatch benchmarks, written to bench/results/cloudwatch.md:

1. PutMetricData (20 values a call, raw signed requests from asyncio, in the protocol
   boto3 sends (JSON 1.0 with this botocore) and in the query protocol) at concurrency 8
   against moto's server and ours (embedded store on SQLite): requests/s and server CPU
   per call (the server process tree's user+system time / calls);
2. the same ingestion into the Cassandra store (a private Cassandra 2.1, started here);
3. GetMetricData of 100 metrics over 7 days of 1-minute data (seeded through
   PutMetricData, then compacted into blocks by the cloud) at periods of 1 hour,
   5 minutes and 1 minute (paged: AWS serves at most 100,800 datapoints a call): wall
   time per call and server CPU; and the embedded store's own time for the whole query
   (all 100 metrics, in this process on the cloud's database file);
4. 10,000 alarms evaluated each minute: the server's CPU for one evaluation pass
   (CPU over the pass minus the idle CPU over as long).

Run: ``python -m bench.cloudwatch [--parts put,cassandra,gmd,alarms,ab]``. The
PutMetricData capacity is measured from ``--clients`` client processes of pre-signed
requests (one client process, or boto3's threads, are slower than the server), with
one asyncio client process and boto3 threads beside; ``ab --old <worktree>`` runs
the PutMetricData capacity of another checkout and this one in turn; ``--values N``
puts N values a call instead of 20 (1 shows what a call costs whatever its data).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import boto3
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from bench.common import Server, cpu_seconds, percentile, start_cloud, start_moto

REGION = "us-east-1"
CONCURRENCY = 8
VALUES = 20


def _client(server: Server, service: str = "cloudwatch") -> Any:
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=16))


def _put_body(n: int) -> dict[str, str]:
    params = {"Action": "PutMetricData", "Version": "2010-08-01",
              "Namespace": "Bench/Put"}
    for i in range(VALUES):
        prefix = f"MetricData.member.{i + 1}"
        params[f"{prefix}.MetricName"] = f"M{n % 50}"
        params[f"{prefix}.Dimensions.member.1.Name"] = "Host"
        params[f"{prefix}.Dimensions.member.1.Value"] = f"h{i}"
        params[f"{prefix}.Value"] = str(n + i)
        params[f"{prefix}.Unit"] = "Count"
    return params


def _signed(server: Server, params: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
    creds = botocore.credentials.Credentials(server.access_key, server.secret_key)
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=urlencode(params),
                         headers={"Content-Type":
                                  "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, "monitoring", REGION).add_auth(request)
    prepared = request.prepare()
    return prepared.url, prepared.body, dict(prepared.headers)  # type: ignore[return-value]


class _Captured(Exception):
    pass


def _boto3_requests(server: Server, count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """PutMetricData requests exactly as boto3 sends them (its protocol for CloudWatch,
    JSON 1.0 with this botocore), signed, captured before sending."""
    cw = _client(server)
    out: list[tuple[str, bytes, dict[str, str]]] = []

    def grab(request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else v
                   for k, v in request.headers.items()}
        out.append((request.url, request.body, headers))
        raise _Captured

    cw.meta.events.register("before-send.*", grab)
    for n in range(count):
        try:
            cw.put_metric_data(Namespace="Bench/Put", MetricData=[
                {"MetricName": f"M{n % 50}", "Dimensions": [{"Name": "Host", "Value": f"h{i}"}],
                 "Value": float(n + i), "Unit": "Count"} for i in range(VALUES)])
        except _Captured:
            pass
    return out


Signed = tuple[str, bytes, dict[str, str]]


async def _post_until(session: aiohttp.ClientSession, cycle: Iterator[Signed], stop_at: float,
                      latencies: list[float]) -> None:
    """One connection's loop: post the next pre-signed request until the wall-clock
    ``stop_at``, recording each answer's latency; any answer but 200 stops the bench."""
    while time.time() < stop_at:
        url, body, headers = next(cycle)
        start = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: {resp.status} {await resp.text()}")
        latencies.append(time.perf_counter() - start)


def put_throughput(server: Server, seconds: float, protocol: str = "json") -> dict[str, float]:
    requests = _boto3_requests(server, 200) if protocol == "json" else \
        [_signed(server, _put_body(n)) for n in range(200)]

    async def main() -> tuple[list[float], float, float]:
        latencies: list[float] = []
        cycle = itertools.cycle(requests)
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
            url, body, headers = requests[0]
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
            stop_at = time.time() + seconds
            cpu0 = cpu_seconds(server.process.pid)
            begin = time.perf_counter()
            await asyncio.gather(*(_post_until(session, cycle, stop_at, latencies)
                                   for _ in range(CONCURRENCY)))
            return latencies, time.perf_counter() - begin, cpu_seconds(server.process.pid) - cpu0

    latencies, elapsed, cpu = asyncio.run(main())
    return {"calls": len(latencies), "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "cpu_ms_per_call": cpu / max(1, len(latencies)) * 1000}


def _client_process(requests: list[tuple[str, bytes, dict[str, str]]], connections: int,
                    begin: float, seconds: float, out: Any) -> None:
    """One client process: ``connections`` keep-alive connections posting pre-signed
    requests (``bench.httpload``: a few tens of microseconds of client CPU a request,
    so the clients leave the server its core) from the wall-clock ``begin`` for
    ``seconds``; puts its latencies on ``out``."""
    from bench import httpload

    encoded = [httpload.encode(url, body, headers) for url, body, headers in requests]
    endpoint = requests[0][0]

    async def main() -> list[float]:
        await httpload.run(endpoint, encoded[:1], 1, time.time() + 0.1)  # warm
        await asyncio.sleep(max(0.0, begin - time.time()))
        return await httpload.run(endpoint, encoded, connections, time.time() + seconds)

    out.put(asyncio.run(main()))


def put_capacity(server: Server, seconds: float, protocol: str = "json",
                 clients: int = 4) -> dict[str, float]:
    """``put_throughput`` from ``clients`` processes (CONCURRENCY connections in all):
    the request rate the server gives when the client is not what limits it (one
    asyncio client process spends about as much CPU a request as the server)."""
    import multiprocessing

    requests = _boto3_requests(server, 200) if protocol == "json" else \
        [_signed(server, _put_body(n)) for n in range(200)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    begin = time.time() + 1.5
    procs = [context.Process(target=_client_process, args=(
        requests[i::clients], CONCURRENCY // clients, begin, seconds, queue))
        for i in range(clients)]
    for proc in procs:
        proc.start()
    time.sleep(max(0.0, begin - time.time()))
    cpu0 = cpu_seconds(server.process.pid)
    time.sleep(seconds)
    cpu = cpu_seconds(server.process.pid) - cpu0
    latencies = [t for _ in procs for t in queue.get(timeout=120)]
    for proc in procs:
        proc.join(30)
    return {"calls": len(latencies), "rps": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "cpu_ms_per_call": cpu / max(1, len(latencies)) * 1000, "clients": clients}


def put_boto3(server: Server, seconds: float) -> dict[str, float]:
    """PutMetricData from CONCURRENCY threads of boto3 clients in one process (what a
    boto3 user gets; the client's GIL caps the rate long before either server)."""
    clients = [_client(server) for _ in range(CONCURRENCY)]
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    def work(n: int) -> None:
        cw, i = clients[n], 0
        while time.perf_counter() < stop_at:
            i += 1
            start = time.perf_counter()
            cw.put_metric_data(Namespace="Bench/Put", MetricData=[
                {"MetricName": f"M{i % 50}", "Dimensions": [{"Name": "Host", "Value": f"h{j}"}],
                 "Value": float(i + j), "Unit": "Count"} for j in range(VALUES)])
            latencies.append(time.perf_counter() - start)

    cpu0 = cpu_seconds(server.process.pid)
    begin = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    cpu = cpu_seconds(server.process.pid) - cpu0
    return {"calls": len(latencies), "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "cpu_ms_per_call": cpu / max(1, len(latencies)) * 1000}


def start_cloud_of(tree: str | None) -> Server:
    """``start_cloud(1)`` running the code of the git worktree ``tree`` (None: this one)."""
    if tree is None:
        return start_cloud(1)
    here, path = os.getcwd(), os.environ.get("PYTHONPATH")
    os.chdir(tree)
    os.environ["PYTHONPATH"] = tree
    try:
        return start_cloud(1)
    finally:
        os.chdir(here)
        if path is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = path


def put_ab(old: str, seconds: float, rounds: int, clients: int) -> list[dict[str, Any]]:
    """A/B of PutMetricData: the cloud of ``old`` and of this tree started in turn,
    ``rounds`` times, each measured by ``put_capacity`` in both protocols; the load
    average beside each round."""
    out = []
    for n in range(rounds):
        for name, tree in (("old", old), ("new", None)) if n % 2 == 0 else \
                (("new", None), ("old", old)):
            cloud = start_cloud_of(tree)
            try:
                for protocol in ("json", "query"):
                    got: dict[str, Any] = put_capacity(cloud, seconds, protocol, clients)
                    got.update(tree=name, protocol=protocol, round=n,
                               load=os.getloadavg()[0])
                    print(json.dumps(got), flush=True)
                    out.append(got)
            finally:
                cloud.stop()
    return out


def _property(server: Server, text: str) -> None:
    env = dict(os.environ, CLOUDCTL_DATA_DIR=str(server.data_dir))
    subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint", server.endpoint,
                    "property", "set", text], env=env, check=True, capture_output=True,
                   timeout=60)


def seed_week(server: Server, metrics: int) -> float:
    """7 days of 1-minute values for ``metrics`` metrics; the seconds it took."""
    cw = _client(server)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    minutes = 7 * 1440
    jobs = [(m, chunk) for m in range(metrics) for chunk in range(0, minutes, 1000)]
    started = time.perf_counter()
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not jobs:
                    return
                m, chunk = jobs.pop()
            cw.put_metric_data(Namespace="Bench/Week", MetricData=[
                {"MetricName": "Load", "Dimensions": [{"Name": "Id", "Value": f"m{m}"}],
                 "Timestamp": end - timedelta(minutes=k), "Value": float((m + k) % 100)}
                for k in range(chunk, min(chunk + 1000, minutes))])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def get_week(server: Server, metrics: int, period: int, calls: int) -> dict[str, float]:
    cw = _client(server)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    queries = [{"Id": f"m{m}", "MetricStat": {
        "Metric": {"Namespace": "Bench/Week", "MetricName": "Load",
                   "Dimensions": [{"Name": "Id", "Value": f"m{m}"}]},
        "Period": period, "Stat": "Average"}} for m in range(metrics)]
    walls, cpus, points, pages = [], [], 0, 0
    for _ in range(calls):
        cpu0 = cpu_seconds(server.process.pid)
        start = time.perf_counter()
        points = pages = 0
        token = None
        while True:
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            got = cw.get_metric_data(MetricDataQueries=queries,
                                     StartTime=end - timedelta(days=7), EndTime=end, **kwargs)
            points += sum(len(r["Values"]) for r in got["MetricDataResults"])
            pages += 1
            token = got.get("NextToken")
            if not token:
                break
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds(server.process.pid) - cpu0)
    return {"period": period, "points": points, "pages": pages,
            "wall_ms": min(walls) * 1000, "cpu_ms": min(cpus) * 1000}


def _database(server: Server) -> Path:
    assert server.data_dir is not None
    return server.data_dir / "cloud.db"


def wait_compacted(server: Server, timeout: float = 600) -> float:
    """Have the cloud compact every closed bucket now; the seconds until it had."""
    import sqlite3

    _property(server, "cloudwatch.compaction_interval_sec=1")
    started = time.perf_counter()
    deadline = time.time() + timeout
    with sqlite3.connect(f"file:{_database(server)}?mode=ro", uri=True) as db:
        while time.time() < deadline:
            cutoff = int(time.time()) - 300
            left = db.execute("SELECT count(*) FROM cw_points WHERE resolution = 60 "
                              "AND ts < ?", (cutoff,)).fetchone()[0]
            try:  # the buckets not yet rolled up (a cloud of 0038 or later)
                left += db.execute("SELECT count(*) FROM cw_fresh WHERE ts < ?",
                                   (cutoff,)).fetchone()[0]
            except sqlite3.OperationalError:
                pass
            try:  # the ingest log not yet drained into them (0039 or later)
                left += db.execute("SELECT count(*) FROM cw_ingest").fetchone()[0]
            except sqlite3.OperationalError:
                pass
            if not left:
                return time.perf_counter() - started
            time.sleep(1)
    raise RuntimeError("compaction did not finish")


def store_week(server: Server, metrics: int, runs: int = 5) -> list[dict[str, float]]:
    """The embedded store's time for the whole query (``stat_points`` of ``metrics``
    metrics over 7 days, Average), CPU and wall, best of ``runs``."""
    import sqlite3
    from types import SimpleNamespace

    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from cloudctl.services.cloudwatch.store import EmbeddedStore

    with sqlite3.connect(f"file:{_database(server)}?mode=ro", uri=True) as db:
        keys = sorted(r[0] for r in db.execute(
            "SELECT key FROM cw_metrics WHERE namespace = 'Bench/Week'"))[:metrics]
    end = time.time() // 60 * 60
    start = int(end - 7 * 86400)

    async def main() -> list[dict[str, float]]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{_database(server)}")
        store = EmbeddedStore(SimpleNamespace(sessions=async_sessionmaker(engine)))  # type: ignore[arg-type]
        out = []
        try:
            for period in (3600, 300, 60):
                cpus, walls, points = [], [], 0
                for _ in range(runs):
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    got = await store.stat_points(keys, 60, start, end, period, None,
                                                  "Average")
                    cpus.append(time.process_time() - cpu0)
                    walls.append(time.perf_counter() - wall0)
                    points = sum(len(stamps) for stamps, _ in got.values())
                out.append({"period": period, "points": points,
                            "cpu_ms": min(cpus) * 1000, "wall_ms": min(walls) * 1000})
        finally:
            await engine.dispose()
        return out

    return asyncio.run(main())


def alarms_cpu(server: Server, count: int) -> dict[str, float]:
    cw = _client(server)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for m in range(100):
        cw.put_metric_data(Namespace="Bench/Alarm", MetricData=[
            {"MetricName": "Load", "Dimensions": [{"Name": "Id", "Value": f"a{m}"}],
             "Timestamp": now - timedelta(minutes=k), "Value": float(m)} for k in range(1, 6)])
    _property(server, "cloudwatch.alarm_evaluation_interval_sec=60")
    names = list(range(count))
    lock = threading.Lock()
    created = time.perf_counter()

    def work() -> None:
        client = _client(server)
        while True:
            with lock:
                if not names:
                    return
                n = names.pop()
            client.put_metric_alarm(
                AlarmName=f"bench-{n:05d}", Namespace="Bench/Alarm", MetricName="Load",
                Dimensions=[{"Name": "Id", "Value": f"a{n % 100}"}], Statistic="Average",
                Period=60, EvaluationPeriods=3, DatapointsToAlarm=2,
                Threshold=float(n % 97), ComparisonOperator="GreaterThanThreshold")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    create_s = time.perf_counter() - created
    # wait until the pass the creations triggered is over, then time the next full minute
    deadline = time.time() + 180
    while time.time() < deadline:
        got = cw.describe_alarms(AlarmNamePrefix="bench-", StateValue="INSUFFICIENT_DATA",
                                 MaxRecords=1)
        if not got["MetricAlarms"]:
            break
        time.sleep(2)
    time.sleep(5)
    cpu0 = cpu_seconds(server.process.pid)
    time.sleep(60)
    busy = cpu_seconds(server.process.pid) - cpu0
    return {"alarms": count, "create_s": create_s, "cpu_s_per_minute": busy}


def idle_cpu(server: Server, seconds: float = 60) -> float:
    cpu0 = cpu_seconds(server.process.pid)
    time.sleep(seconds)
    return cpu_seconds(server.process.pid) - cpu0


def main() -> None:
    global VALUES
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="put,cassandra,gmd,alarms")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                                 "cloudwatch.json"))
    parser.add_argument("--clients", type=int, default=4,
                        help="client processes of the capacity runs")
    parser.add_argument("--old", help="a worktree of the code to compare with (part ab)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--values", type=int, default=VALUES,
                        help="values a PutMetricData call (issue #13's figure: 20; fewer "
                             "shows a call's fixed cost)")
    args = parser.parse_args()
    VALUES = args.values
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {}
    out = Path(args.out)
    if out.exists():
        results = json.loads(out.read_text())
    if "put" in parts:
        for protocol in ("json", "query"):
            for name, start in (("moto", start_moto), ("cloud", lambda: start_cloud(1))):
                server = start()
                try:
                    results[f"put_{name}_{protocol}"] = put_capacity(
                        server, args.seconds, protocol, args.clients)
                    results[f"put_{name}_{protocol}_1client"] = put_throughput(
                        server, args.seconds, protocol)
                    if protocol == "json":
                        results[f"put_{name}_boto3"] = put_boto3(server, args.seconds)
                finally:
                    server.stop()
                print(name, protocol, json.dumps(results[f"put_{name}_{protocol}"]),
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        out.write_text(json.dumps(results, indent=1))
    if "ab" in parts:
        results["put_ab"] = put_ab(args.old, args.seconds, args.rounds, args.clients)
        out.write_text(json.dumps(results, indent=1))
    if "cassandra" in parts:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.infra.cassandra import start_cassandra

        cassandra = start_cassandra()
        cloud = start_cloud(1)
        try:
            _property(cloud, f"cloudwatch.cassandra.contact_points={cassandra.contact_points}")
            _property(cloud, "cloudwatch.metric_store=cassandra")
            time.sleep(2)
            results["put_cassandra"] = put_throughput(cloud, args.seconds)
        finally:
            cloud.stop()
            cassandra.stop()
        out.write_text(json.dumps(results, indent=1))
    if "gmd" in parts:
        cloud = start_cloud(1)
        try:
            results["seed_s"] = seed_week(cloud, 100)
            results["compact_s"] = wait_compacted(cloud)
            results["gmd_store"] = store_week(cloud, 100)
            results["gmd"] = [get_week(cloud, 100, p, c) for p, c in ((3600, 5), (300, 3),
                                                                      (60, 1))]
        finally:
            cloud.stop()
        out.write_text(json.dumps(results, indent=1))
    if "alarms" in parts:
        cloud = start_cloud(1)
        try:
            results["idle_cpu_s_per_minute"] = idle_cpu(cloud)
            results["alarms"] = alarms_cpu(cloud, 10_000)
        finally:
            cloud.stop()
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
