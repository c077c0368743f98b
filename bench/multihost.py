"""API requests/s through the entry point with one, two and three API hosts.

Builds a multi-host cloud on this machine (``tests/multihost.py``): one PostgreSQL, the
first host initialised and the others joined (``cloudctl cluster export`` / ``init
--join``), API hosts on 127.0.0.2, .3 and .4 (``cloudctl up --role api``, one worker
each) behind ``cloudctl entrypoint`` (haproxy). No controllers host runs: the load is
reads (sts:GetCallerIdentity, iam:GetUser, ec2:DescribeVolumes, equally), raw SigV4
clients on aiohttp (``bench.load``'s signer), ``--clients`` concurrent for
``--seconds`` per configuration. Records requests/s, p50/p99 latency, non-2xx answers,
and the CPU (cores) each API host, haproxy, PostgreSQL and the client used.

Run: ``python -m bench.multihost [--seconds 20] [--clients 32]``; appends a section to
bench/results/multihost.md. Everything shares the machine's cores: the ratio says
how much a host adds here, not on separate machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Server, cpu_seconds, percentile
from bench.load import Signer
from tests.infra.postgres import start_postgres
from tests.multihost import Host, MultiHost

RESULTS = Path(__file__).resolve().parent / "results" / "multihost.md"
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
OPS = ("sts:GetCallerIdentity", "iam:GetUser", "ec2:DescribeVolumes")


def _request(signer: Signer, op: str) -> tuple[str, str, bytes, dict[str, str]]:
    if op == "iam:GetUser":
        return signer.query("iam", {"Action": "GetUser"})
    if op == "ec2:DescribeVolumes":
        return signer.query("ec2", {"Action": "DescribeVolumes", "MaxResults": "20"})
    return signer.query("sts", {"Action": "GetCallerIdentity"})


async def _client(index: int, signer: Signer, session: aiohttp.ClientSession, stop_at: float,
                  latencies: list[float], errors: dict[int, int]) -> None:
    rng = random.Random(index)
    while time.perf_counter() < stop_at:
        method, url, body, headers = _request(signer, rng.choice(OPS))
        start = time.perf_counter()
        try:
            async with session.request(method, url, data=body, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError):
            status = 599
        latencies.append(time.perf_counter() - start)
        if status != 200:
            errors[status] = errors.get(status, 0) + 1


def _pg_pid(root: Path) -> int:
    return int((root / "data" / "postmaster.pid").read_text().split()[0])


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    found = {name: cpu_seconds(pid) for name, pid in pids.items()}
    times = os.times()
    found["client"] = times.user + times.system
    return found


async def _measure(signer: Signer, clients: int, seconds: float,
                   pids: dict[str, int]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=clients + 4)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        warm: list[float] = []
        await asyncio.gather(*(_client(i, signer, session, time.perf_counter() + 2, warm, {})
                               for i in range(clients)))
        latencies: list[float] = []
        errors: dict[int, int] = {}
        cpu0 = _cpu(pids)
        begin = time.perf_counter()
        await asyncio.gather(*(_client(i, signer, session, begin + seconds, latencies, errors)
                               for i in range(clients)))
        elapsed = time.perf_counter() - begin
        cpu1 = _cpu(pids)
    return {"rps": len(latencies) / elapsed, "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000, "errors": errors,
            "cores": {name: (cpu1[name] - cpu0[name]) / elapsed for name in cpu1}}


def _direct(hosts: MultiHost, host: Host, name: str, pg_root: Path, clients: int,
            seconds: float) -> dict[str, Any]:
    view = hosts.client_cloud(host, name)
    assert host.process is not None
    signer = Signer(Server(name, host.process, host.endpoint, view.access_key, view.secret_key))
    pids = {name: host.process.pid, "postgresql": _pg_pid(pg_root)}
    result = asyncio.run(_measure(signer, clients, seconds, pids))
    result["cores"]["haproxy"] = 0.0
    return result


def run(seconds: float, clients: int) -> list[tuple[int, dict[str, Any]]]:
    pg = start_postgres()
    root = Path(tempfile.mkdtemp(prefix="bench-multihost-"))
    hosts = MultiHost(root, pg.create_database("bench"))
    results: list[tuple[int, dict[str, Any]]] = []
    try:
        names = ["h1", "h2", "h3"]
        hosts.init_first(names[0])
        hosts.export(names[0])
        for name in names[1:]:
            hosts.join(name)
        api: list[Host] = []
        for count in (1, 2, 3):
            host = hosts.api(names[count - 1], ADDRESSES[count - 1])
            host.start()
            api.append(host)
            if count == 1:  # the same host without the entry point: haproxy's share
                results.append((0, _direct(hosts, host, names[0], pg.root, clients, seconds)))
            entry = hosts.entry(f"entry{count}", api)
            entry.start()
            view = hosts.client_cloud(entry, names[0])
            assert entry.process is not None
            signer = Signer(Server("entry", entry.process, view.endpoint, view.access_key,
                                   view.secret_key))
            pids = {h.name: h.process.pid for h in api if h.process is not None}
            pids["haproxy"] = entry.process.pid
            pids["postgresql"] = _pg_pid(pg.root)
            result = asyncio.run(_measure(signer, clients, seconds, pids))
            results.append((count, result))
            print(f"{count} API host(s): {result['rps']:.0f} requests/s, "
                  f"p50 {result['p50']:.1f} ms, cores {result['cores']}", flush=True)
            entry.stop()
    finally:
        hosts.stop_all()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    return results


def report(results: list[tuple[int, dict[str, Any]]], seconds: float, clients: int,
           label: str) -> list[str]:
    base = next(r["rps"] for count, r in results if count == 1)
    lines = [f"### {label}: {clients} clients, {seconds:.0f} s per configuration, "
             f"{os.cpu_count()} cores", "",
             "| API hosts | requests/s | ratio | p50 ms | p99 ms | non-200 | CPU cores: API hosts "
             "| haproxy | PostgreSQL | client |", "|---|---|---|---|---|---|---|---|---|---|"]
    for count, r in results:
        cores = r["cores"]
        per_host = " + ".join(f"{cores[f'h{i}']:.2f}" for i in range(1, max(count, 1) + 1))
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "-"
        hosts = f"{count}" if count else "1, direct (no entry point)"
        lines.append(f"| {hosts} | {r['rps']:.0f} | {r['rps'] / base:.2f}x | {r['p50']:.1f} "
                     f"| {r['p99']:.1f} | {errors} | {per_host} | {cores['haproxy']:.2f} "
                     f"| {cores['postgresql']:.2f} | {cores['client']:.2f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = run(args.seconds, args.clients)
    lines = report(results, args.seconds, args.clients, args.label)
    lines[0] += f" (load average at start {load_before:.1f})"
    if not RESULTS.exists():
        RESULTS.write_text("# API hosts behind the entry point\n\n")
    with RESULTS.open("a") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
