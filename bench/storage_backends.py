"""Measure the storage backends against the plain-file baseline.

Owns: one run of each measurement, printed as a Markdown table:

* PUT/GET of a 256 MiB blob through the file blob store vs a ``cp``-like copy
  (read + write + fsync) and a plain write + fsync of the same bytes, on the
  same disk;
* create-volume-from-snapshot (and snapshot) time on the file backend vs RBD
  on a single-node memstore Ceph (tests/infra/ceph.py).

Run: ``python -m bench.storage_backends [--dir DIR] [--no-ceph]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from storagectl.blocks import BlockBackend, open_block_backend
from storagectl.objects import open_blob_store

MIB = 1 << 20
BLOB = 256 * MIB
BLOCK = bytes(range(256)) * 4096  # 1 MiB


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // len(BLOCK)):
        yield BLOCK


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def plain_write(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "wb") as fh:
        for _ in range(BLOB // len(BLOCK)):
            fh.write(BLOCK)
        fh.flush()
        os.fsync(fh.fileno())
    return time.perf_counter() - t


def cp_copy(src: Path, dst: Path) -> float:
    t = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(MIB):
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())
    return time.perf_counter() - t


async def file_store(root: Path) -> tuple[float, float]:
    store = open_blob_store("file", root=str(root / "store"))
    t = time.perf_counter()
    await store.put("bench", chunks(BLOB))
    put = time.perf_counter() - t
    drop_cache(next((root / "store" / "blobs").rglob("bench")))
    t = time.perf_counter()
    n = 0
    async for c in await store.open("bench"):
        n += len(c)
    get = time.perf_counter() - t
    assert n == BLOB
    return put, get


async def clone_times(backend: BlockBackend, data_mib: int = 64) -> tuple[float, float]:
    await backend.create_volume("vol-bench", 4)
    for off in range(0, data_mib * MIB, 4 * MIB):
        await backend.write("vol-bench", off, BLOCK * 4)
    t = time.perf_counter()
    await backend.create_snapshot("vol-bench", "snap-bench")
    snap = time.perf_counter() - t
    t = time.perf_counter()
    await backend.create_volume_from_snapshot("vol-clone", "snap-bench", 4)
    clone = time.perf_counter() - t
    assert await backend.read("vol-clone", 0, 16) == BLOCK[:16]
    for vol in ("vol-clone", "vol-bench"):
        await backend.delete_volume(vol)
    await backend.delete_snapshot("snap-bench")
    await backend.close()
    return snap, clone


def mbps(seconds: float) -> str:
    return f"{BLOB / MIB / seconds:,.0f} MiB/s ({seconds:.2f} s)"


async def main_async(work: Path, with_ceph: bool) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    src = work / "plain.bin"
    rows.append(("plain write+fsync 256 MiB", mbps(plain_write(src))))
    drop_cache(src)
    rows.append(("cp-like copy 256 MiB (read+write+fsync)", mbps(cp_copy(src, work / "c.bin"))))
    put, get = await file_store(work)
    rows.append(("file BlobStore PUT 256 MiB (md5, fsync, rename)", mbps(put)))
    rows.append(("file BlobStore GET 256 MiB (cold cache)", mbps(get)))
    snap, clone = await clone_times(open_block_backend("file", root=str(work / "vols")))
    rows.append(("file: snapshot of 4 GiB volume, 64 MiB data", f"{snap * 1000:.0f} ms"))
    rows.append(("file: create volume from snapshot (qcow2 overlay)", f"{clone * 1000:.0f} ms"))
    if with_ceph:
        from tests.infra.ceph import start_cluster

        t = time.perf_counter()
        cluster = start_cluster(work)
        rows.append(("ceph: start mon + memstore OSD + pools", f"{time.perf_counter() - t:.1f} s"))
        try:
            cfg: dict[str, Any] = cluster.rbd_config()
            snap, clone = await clone_times(open_block_backend("ceph-rbd", **cfg))
            rows.append(("rbd: snapshot (snap+clone+flatten), 64 MiB data", f"{snap * 1000:.0f} ms"))
            rows.append(("rbd: create volume from snapshot (layered clone)",
                         f"{clone * 1000:.0f} ms"))
        finally:
            cluster.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--no-ceph", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=args.dir))
    try:
        rows = asyncio.run(main_async(work, not args.no_ceph))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
