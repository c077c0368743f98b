"""S3 data path benchmark: our cloud against moto's server and a plain file copy, one run.

Large object: PUT and GET of one 256 MiB object, streamed from/to files by an aiohttp
client signing with SigV4 and ``UNSIGNED-PAYLOAD`` (so client hashing is not measured),
next to ``cp``-like copies on the same disk (write + fsync, then a read). Small
objects: 1,000 PUTs and 1,000 GETs of 1 KiB at concurrency 8. Server peak RSS is
sampled during each phase. Writes bench/results/s3_vs_moto.md.
Run: python -m bench.s3_vs_moto [--size-mib 256] [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from bench.common import Server, start_cloud, start_moto, tree_pids

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
        await http.put(server.endpoint + "/bench-large", headers=signed(server, "PUT", "/bench-large"))
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


async def small(server: Server, count: int, concurrency: int = 8) -> dict[str, float]:
    body = os.urandom(1024)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await http.put(server.endpoint + "/bench-small", headers=signed(server, "PUT", "/bench-small"))

        async def run(method: str) -> float:
            queue = list(range(count))

            async def worker() -> None:
                while queue:
                    index = queue.pop()
                    path = f"/bench-small/k{index:05d}"
                    headers = signed(server, method, path, len(body) if method == "PUT" else None)
                    async with http.request(method, server.endpoint + path, headers=headers,
                                            data=body if method == "PUT" else None) as resp:
                        await resp.read()
                        assert resp.status == 200, resp.status

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return count / (time.perf_counter() - started)

        return {"put_ops": await run("PUT"), "get_ops": await run("GET")}


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
    target.unlink()
    return {"put_mibs": mib / put_s, "get_mibs": mib / get_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-s3-", dir="/var/tmp"))
    source = workdir / "source.bin"
    with open(source, "wb") as handle:
        for _ in range(args.size_mib):
            handle.write(os.urandom(CHUNK))
    results: dict[str, dict[str, Any]] = {"plain copy": plain_copy(source, workdir)}
    for name in ("cloudctl", "moto"):
        server = start_cloud(1) if name == "cloudctl" else start_moto()
        try:
            results[name] = asyncio.run(large(server, source))
            results[name].update(asyncio.run(small(server, args.count)))
            results[name]["idle_rss"] = rss_tree_mib(server.process.pid)
        finally:
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    write_report(results, args.size_mib, args.count)


def write_report(results: dict[str, dict[str, Any]], size: int, count: int) -> None:
    plain, ours, moto = results["plain copy"], results["cloudctl"], results["moto"]
    lines = [
        "# S3 data path: cloudctl vs moto vs plain file copy", "",
        f"One run on this host ({os.cpu_count()} cores), `python -m bench.s3_vs_moto`. "
        f"Large: one {size} MiB object; small: {count} x 1 KiB at concurrency 8; aiohttp "
        "client, SigV4 with UNSIGNED-PAYLOAD. Plain copy: read+write+fsync, then read, same "
        "disk. RSS: peak of the server process tree during the phase.", "",
        "| | PUT MiB/s | GET MiB/s | PUT peak RSS MiB | GET peak RSS MiB | small PUT/s | "
        "small GET/s | idle RSS MiB |", "|---|---|---|---|---|---|---|---|",
        f"| plain copy | {plain['put_mibs']:.0f} | {plain['get_mibs']:.0f} | | | | | |",
    ]
    for name, row in (("cloudctl (file backend)", ours), ("moto", moto)):
        lines.append(f"| {name} | {row['put_mibs']:.0f} | {row['get_mibs']:.0f} | "
                     f"{row['put_rss']:.0f} | {row['get_rss']:.0f} | {row['put_ops']:.0f} | "
                     f"{row['get_ops']:.0f} | {row['idle_rss']:.0f} |")
    lines += ["", "Ratios (targets: large >= 0.5 of plain copy; small >= 5x moto):", "",
              f"- large PUT: {ours['put_mibs'] / plain['put_mibs']:.2f} of plain copy, "
              f"{ours['put_mibs'] / moto['put_mibs']:.1f}x moto",
              f"- large GET: {ours['get_mibs'] / plain['get_mibs']:.2f} of plain copy, "
              f"{ours['get_mibs'] / moto['get_mibs']:.1f}x moto",
              f"- small PUT: {ours['put_ops'] / moto['put_ops']:.1f}x moto; small GET: "
              f"{ours['get_ops'] / moto['get_ops']:.1f}x moto", ""]
    out = Path(__file__).resolve().parent / "results" / "s3_vs_moto.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
