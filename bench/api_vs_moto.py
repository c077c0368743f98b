"""Front-door benchmark: our API against moto's server, side by side in one run.

Measures sts GetCallerIdentity and ec2 DescribeRegions at concurrency 1 and 8,
with boto3 clients (threads) and with raw signed requests (asyncio), reporting
requests/s, p50/p99 latency, server CPU per call and idle RSS per worker.
Writes bench/results/api_vs_moto.md. Run: python -m bench.api_vs_moto
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from bench.common import (
    Server,
    cpu_seconds,
    percentile,
    start_cloud,
    start_moto,
    worker_rss,
)

OPS = {
    "sts:GetCallerIdentity": ("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
    "ec2:DescribeRegions": ("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"}),
}
REGION = "us-east-1"


def boto3_run(server: Server, op: str, concurrency: int, seconds: float) -> dict[str, float]:
    service, _ = OPS[op]
    latencies: list[float] = []
    lock = threading.Lock()
    calls = []
    for _ in range(concurrency):  # client creation and warm-up stay out of the timed window
        client = boto3.session.Session().client(
            service, endpoint_url=server.endpoint, region_name=REGION,
            aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
            config=Config(retries={"max_attempts": 1}, max_pool_connections=2))
        call = client.get_caller_identity if service == "sts" else client.describe_regions
        call()
        calls.append(call)
    start_line = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(call: Any) -> None:
        start_line.wait()
        local = []
        while time.perf_counter() < stop_at[0]:
            start = time.perf_counter()
            call()
            local.append(time.perf_counter() - start)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    cpu0 = cpu_seconds(server.process.pid)
    begin = time.perf_counter()
    stop_at[0] = begin + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    cpu = cpu_seconds(server.process.pid) - cpu0
    return _summary(latencies, elapsed, cpu)


def signed_request(server: Server, op: str) -> tuple[str, bytes, dict[str, str]]:
    service, params = OPS[op]
    creds = botocore.credentials.Credentials(server.access_key, server.secret_key)
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=params,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, service, REGION).add_auth(request)
    prepared = request.prepare()
    return prepared.url, prepared.body, dict(prepared.headers)  # type: ignore[return-value]


def raw_run(server: Server, op: str, concurrency: int, seconds: float) -> dict[str, float]:
    url, body, headers = signed_request(server, op)

    async def main() -> tuple[list[float], float, float]:
        latencies: list[float] = []
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
            stop_at = time.perf_counter() + seconds

            async def worker() -> None:
                while time.perf_counter() < stop_at:
                    start = time.perf_counter()
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status != 200:
                            raise RuntimeError(f"{server.name} answered {resp.status}")
                    latencies.append(time.perf_counter() - start)

            cpu0 = cpu_seconds(server.process.pid)
            begin = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return latencies, time.perf_counter() - begin, cpu_seconds(server.process.pid) - cpu0

    latencies, elapsed, cpu = asyncio.run(main())
    return _summary(latencies, elapsed, cpu)


def _summary(latencies: list[float], elapsed: float, cpu: float) -> dict[str, float]:
    count = len(latencies)
    return {"calls": count, "rps": count / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "cpu_us_per_call": cpu / max(count, 1) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "api_vs_moto.md"))
    args = parser.parse_args()
    servers = [start_moto(), start_cloud(args.workers)]
    rows: list[dict[str, Any]] = []
    try:
        time.sleep(1)
        idle = {s.name: worker_rss(s.process.pid) for s in servers}
        for op in OPS:
            for client in ("raw", "boto3"):
                for concurrency in (1, 8):
                    for server in servers:
                        runner = raw_run if client == "raw" else boto3_run
                        result = runner(server, op, concurrency, args.seconds)
                        rows.append({"server": server.name, "op": op, "client": client,
                                     "concurrency": concurrency, **result})
                        print(f"{server.name:9} {op:24} {client:6} c={concurrency} "
                              f"{result['rps']:8.0f} rps p50 {result['p50_ms']:6.2f} ms "
                              f"p99 {result['p99_ms']:6.2f} ms cpu/call {result['cpu_us_per_call']:7.0f} us",
                              flush=True)
    finally:
        for server in servers:
            server.stop()
    write_report(Path(args.out), rows, idle, args.workers)


def write_report(path: Path, rows: list[dict[str, Any]], idle: dict[str, list[float]],
                 workers: int) -> None:
    lines = [
        "# API front door: cloudctl vs moto server",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this machine "
        f"({os.cpu_count()} cores), cloudctl with {workers} worker(s), moto `moto.server` "
        "(one process). One run, both servers side by side; server CPU is the server process "
        "tree's user+system time over the run divided by calls. Machines are noisy: compare "
        "ratios.",
        "",
        "| op | client | conc | moto rps | ours rps | rps ratio | moto p50/p99 ms | ours p50/p99 ms "
        "| moto CPU/call µs | ours CPU/call µs | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in OPS:
        for client in ("raw", "boto3"):
            for conc in (1, 8):
                m = next(r for r in rows if r["server"] == "moto" and r["op"] == op
                         and r["client"] == client and r["concurrency"] == conc)
                o = next(r for r in rows if r["server"] == "cloudctl" and r["op"] == op
                         and r["client"] == client and r["concurrency"] == conc)
                lines.append(
                    f"| {op} | {client} | {conc} | {m['rps']:.0f} | {o['rps']:.0f} | "
                    f"{o['rps'] / m['rps']:.2f}x | {m['p50_ms']:.2f}/{m['p99_ms']:.2f} | "
                    f"{o['p50_ms']:.2f}/{o['p99_ms']:.2f} | {m['cpu_us_per_call']:.0f} | "
                    f"{o['cpu_us_per_call']:.0f} | {o['cpu_us_per_call'] / m['cpu_us_per_call']:.2f} |")
    lines += ["", "Idle RSS per serving process (MiB): "
              + "; ".join(f"{k}: {', '.join(f'{v:.0f}' for v in vals)}" for k, vals in idle.items()),
              ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
