"""S3 data path benchmark: our cloud against moto's server and a plain file copy, one run.

Large object: PUT and GET of one 256 MiB object, streamed from/to files by an aiohttp
client signing with SigV4 and ``UNSIGNED-PAYLOAD`` (so client hashing is not measured),
next to ``cp``-like copies on the same disk (write + fsync, then a read). Small
objects: 1,000 PUTs and 1,000 GETs of 1 KiB at concurrency 1 and 8, signed before
the timed window. Both servers run
for the whole bench and the phases alternate between them, ``--rounds`` times; the
report quotes medians. Server peak RSS is sampled during each phase. Writes
bench/results/s3_vs_moto.md (or ``--out``).
Run: python -m bench.s3_vs_moto [--size-mib 256] [--count 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from bench.common import Server, cpu_seconds, start_cloud, start_moto, tree_pids

REGION = "us-east-1"
CHUNK = 1 << 20
UNSIGNED = Config(s3={"payload_signing_enabled": False})


def rss_tree_mib(root: int) -> float:
    total = 0.0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
        except OSError:
            continue
    return total


class PeakRss:
    """Samples a process tree's RSS every 20 ms while active."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_tree_mib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def signed(server: Server, method: str, path: str, length: int | None = None) -> dict[str, str]:
    creds = botocore.credentials.Credentials(server.access_key, server.secret_key)
    request = AWSRequest(method=method, url=server.endpoint + path)
    request.context["client_config"] = UNSIGNED
    if length is not None:
        request.headers["Content-Length"] = str(length)
    botocore.auth.S3SigV4Auth(creds, "s3", REGION).add_auth(request)
    return dict(request.headers.items())


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


async def large(server: Server, source: Path) -> dict[str, float]:
    size = source.stat().st_size
    async with aiohttp.ClientSession() as http:
        async with http.put(server.endpoint + "/bench-large",
                            headers=signed(server, "PUT", "/bench-large")):
            pass
        with PeakRss(server.process.pid) as put_rss:
            started = time.perf_counter()
            async with http.put(server.endpoint + "/bench-large/obj", data=file_chunks(source),
                                headers=signed(server, "PUT", "/bench-large/obj", size)) as resp:
                assert resp.status == 200, await resp.text()
            put_s = time.perf_counter() - started
        with PeakRss(server.process.pid) as get_rss:
            started = time.perf_counter()
            got = 0
            async with http.get(server.endpoint + "/bench-large/obj",
                                headers=signed(server, "GET", "/bench-large/obj")) as resp:
                assert resp.status == 200
                async for chunk in resp.content.iter_chunked(CHUNK):
                    got += len(chunk)
            get_s = time.perf_counter() - started
        assert got == size
    mib = size / (1 << 20)
    return {"put_mibs": mib / put_s, "get_mibs": mib / get_s, "put_rss": put_rss.peak,
            "get_rss": get_rss.peak}


async def small(server: Server, count: int, concurrency: int,
                client: str = "raw") -> dict[str, float]:
    """PUT then GET ``count`` 1 KiB objects with ``concurrency`` clients; ops/s and CPU."""
    body = os.urandom(1024)
    bucket = f"/bench-small-{concurrency}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async with http.put(server.endpoint + bucket, headers=signed(server, "PUT", bucket)):
            pass

        async def run(method: str) -> tuple[float, float]:
            # Signed before the clock starts: SigV4 signing in botocore costs the client
            # ~0.2 ms per request, the same for both servers, on the cores they share.
            queue = [(f"{bucket}/k{index:05d}",
                      signed(server, method, f"{bucket}/k{index:05d}",
                             len(body) if method == "PUT" else None))
                     for index in range(count)]
            data = body if method == "PUT" else None

            async def aiohttp_worker() -> None:
                while queue:
                    path, headers = queue.pop()
                    async with http.request(method, server.endpoint + path, headers=headers,
                                            data=data) as resp:
                        await resp.read()
                        assert resp.status == 200, resp.status

            async def raw_worker() -> None:
                conn = RawHttp(server.endpoint)
                try:
                    while queue:
                        path, headers = queue.pop()
                        status = await conn.request(method, path, headers, data)
                        assert status == 200, status
                finally:
                    conn.close()

            worker = raw_worker if client == "raw" else aiohttp_worker
            cpu = cpu_seconds(server.process.pid)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            return count / elapsed, (cpu_seconds(server.process.pid) - cpu) / count * 1e3

        put_ops, put_cpu = await run("PUT")
        get_ops, get_cpu = await run("GET")
        return {f"put_ops_c{concurrency}": put_ops, f"get_ops_c{concurrency}": get_ops,
                f"put_cpu_ms_c{concurrency}": put_cpu, f"get_cpu_ms_c{concurrency}": get_cpu}


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client (like wrk's): writes prepared requests and
    reads each response by its Content-Length, reconnecting when the server closes (moto
    answers HTTP/1.0). Its per-request cost is a fraction of aiohttp's client, which on
    this host shares the two cores with the server under test."""

    def __init__(self, endpoint: str) -> None:
        hostport = endpoint.split("://", 1)[1]
        self.host, _, port = hostport.partition(":")
        self.port = int(port)
        self.hostport = hostport
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: bytes | None) -> int:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.hostport}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
        if body is not None and "Content-Length" not in headers:
            lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.decode("latin-1").partition("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in
                  (line.partition(":") for line in rest.split("\r\n") if line)}
        length = int(fields.get("content-length", "0"))
        if length:
            await self._reader.readexactly(length)
        if status_line.startswith("HTTP/1.0") or fields.get("connection", "") == "close":
            self.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = self._reader = None


def plain_copy(source: Path, workdir: Path) -> dict[str, float]:
    target = workdir / "copy.bin"
    mib = source.stat().st_size / (1 << 20)
    started = time.perf_counter()
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    with open(target, "rb") as handle:
        while handle.read(CHUNK):
            pass
    get_s = time.perf_counter() - started
    back = workdir / "back.bin"
    started = time.perf_counter()
    with open(target, "rb") as src, open(back, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    copy_s = time.perf_counter() - started
    target.unlink()
    back.unlink()
    return {"put_mibs": mib / put_s, "get_mibs": mib / get_s, "copy_mibs": mib / copy_s}


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--sync-mode", default="always", help="objectstorage.sync_mode")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--only", choices=("cloudctl", "moto"), default=None)
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw",
                        help="small-object client: a minimal keep-alive one, or aiohttp's")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-s3-", dir="/var/tmp"))
    source = workdir / "source.bin"
    if not args.skip_large:
        with open(source, "wb") as handle:
            for _ in range(args.size_mib):
                handle.write(os.urandom(CHUNK))
    names = [args.only] if args.only else ["cloudctl", "moto"]
    servers: dict[str, Server] = {}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in ["plain copy", *names]}
    try:
        for name in names:
            servers[name] = start_cloud(1) if name == "cloudctl" else start_moto()
        if "cloudctl" in servers and args.sync_mode != "always":
            set_property(servers["cloudctl"], f"objectstorage.sync_mode={args.sync_mode}")
        load = os.getloadavg()[0]
        for _ in range(args.rounds):
            row: dict[str, float] = {}
            if not args.skip_large:
                rounds["plain copy"].append(plain_copy(source, workdir))
            for name in names:
                server = servers[name]
                row = asyncio.run(large(server, source)) if not args.skip_large else {}
                for level in levels:
                    row.update(asyncio.run(small(server, args.count, level, args.client)))
                row["idle_rss"] = rss_tree_mib(server.process.pid)
                rounds[name].append(row)
        load = max(load, os.getloadavg()[0])
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results = {name: median_of(r) for name, r in rounds.items() if r}
    write_report(results, rounds, args, levels, load)


def set_property(server: Server, assignment: str) -> None:
    with open(f"/proc/{server.process.pid}/environ", "rb") as handle:
        env = dict(item.decode().partition("=")[::2] for item in handle.read().split(b"\0")
                   if b"=" in item)
    data = env["CLOUDCTL_DATA_DIR"]
    subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint", server.endpoint, "property",
                    "set", assignment], env=dict(os.environ, CLOUDCTL_DATA_DIR=data),
                   check=True, capture_output=True)
    time.sleep(1.5)  # let the worker poll the property change


def write_report(results: dict[str, dict[str, float]], rounds: dict[str, list[dict[str, float]]],
                 args: argparse.Namespace, levels: list[int], load: float) -> None:
    lines = [
        "# S3 data path: cloudctl vs moto vs plain file copy", "",
        f"One run on this host ({os.cpu_count()} cores, load average up to {load:.1f}), "
        f"`python -m bench.s3_vs_moto --rounds {args.rounds} --client {args.client}`, "
        f"`objectstorage.sync_mode={args.sync_mode}`. Both servers run for the whole bench; "
        f"the phases alternate between them, {args.rounds} rounds, medians quoted. Large: one "
        f"{args.size_mib} MiB object; small: {args.count} x 1 KiB at concurrency "
        f"{' and '.join(map(str, levels))}; clients on the same host: aiohttp's for the "
        f"large object, {'a minimal keep-alive HTTP/1.1 client (`RawHttp`, like wrk)' if args.client == 'raw' else 'aiohttp'} "
        "for the small ones, SigV4 with UNSIGNED-PAYLOAD, small requests signed before the "
        "timed window. Plain copy: read+write+fsync (PUT column), then a read of the "
        "copy (GET column: page cache) and a read+write copy of it (`cp` without fsync). "
        "RSS: peak of the server process tree during the phase. CPU: server CPU ms per "
        "request.", "",
    ]
    plain = results.get("plain copy")
    have_large = plain is not None
    if have_large:
        assert plain is not None
        lines += ["| | PUT MiB/s | GET MiB/s | PUT peak RSS MiB | GET peak RSS MiB | "
                  "idle RSS MiB |", "|---|---|---|---|---|---|",
                  f"| plain copy | {plain['put_mibs']:.0f} | read {plain['get_mibs']:.0f}, "
                  f"cp {plain['copy_mibs']:.0f} | | | |"]
        for name in ("cloudctl", "moto"):
            if name in results:
                row = results[name]
                lines.append(f"| {name} | {row['put_mibs']:.0f} | {row['get_mibs']:.0f} | "
                             f"{row['put_rss']:.0f} | {row['get_rss']:.0f} | "
                             f"{row['idle_rss']:.0f} |")
        lines.append("")
    header = "| | " + " | ".join(f"PUT/s c={c} | GET/s c={c}" for c in levels) + \
        " | " + " | ".join(f"CPU ms PUT/GET c={c}" for c in levels) + " |"
    lines += [header, "|---" * (1 + 3 * len(levels)) + "|"]
    for name in ("cloudctl", "moto"):
        if name not in results:
            continue
        row = results[name]
        lines.append(f"| {name} | " + " | ".join(
            f"{row[f'put_ops_c{c}']:.0f} | {row[f'get_ops_c{c}']:.0f}" for c in levels) + " | "
            + " | ".join(f"{row[f'put_cpu_ms_c{c}']:.2f} / {row[f'get_cpu_ms_c{c}']:.2f}"
                         for c in levels) + " |")
    lines += ["", "Every round (small PUT/s, GET/s per concurrency):", ""]
    for name in ("cloudctl", "moto"):
        for index, row in enumerate(rounds.get(name, [])):
            lines.append(f"- {name} round {index + 1}: " + "; ".join(
                f"c={c} {row[f'put_ops_c{c}']:.0f} / {row[f'get_ops_c{c}']:.0f}" for c in levels)
                + (f"; large PUT {row['put_mibs']:.0f} GET {row['get_mibs']:.0f} MiB/s"
                   if "put_mibs" in row else ""))
    if "cloudctl" in results and "moto" in results:
        ours, moto = results["cloudctl"], results["moto"]
        lines += ["", "Ratios of the medians (targets: large >= 0.5 of plain copy; "
                  "small >= 5x moto):", ""]
        if have_large:
            assert plain is not None
            lines += [f"- large PUT: {ours['put_mibs'] / plain['put_mibs']:.2f} of plain copy, "
                      f"{ours['put_mibs'] / moto['put_mibs']:.1f}x moto",
                      f"- large GET: {ours['get_mibs'] / plain['get_mibs']:.2f} of a plain "
                      f"read, {ours['get_mibs'] / plain['copy_mibs']:.2f} of a plain cp, "
                      f"{ours['get_mibs'] / moto['get_mibs']:.1f}x moto"]
        for c in levels:
            lines.append(f"- small c={c}: PUT {ours[f'put_ops_c{c}'] / moto[f'put_ops_c{c}']:.1f}x"
                         f" moto, GET {ours[f'get_ops_c{c}'] / moto[f'get_ops_c{c}']:.1f}x moto")
    lines.append("")
    out = Path(args.out) if args.out else \
        Path(__file__).resolve().parent / "results" / "s3_vs_moto.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
