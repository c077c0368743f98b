"""Blob store contract tests, run here against the file backend.

``BlobStoreContract`` is the single set of test functions every backend must
pass; tests/integration/test_storage_ceph.py runs it against Ceph RADOS.
Subclasses provide a ``store`` fixture and ``store_spec`` (kind + config) so
the out-of-process tests (crash, memory) can rebuild the same store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storagectl.objects import (
    BadDigest,
    BlobNotFound,
    BlobStore,
    InvalidRange,
    UploadNotFound,
    open_blob_store,
)
from storagectl.objects.base import multipart_etag

REPO = Path(__file__).resolve().parents[2]


async def stream(data: bytes, chunk: int = 7919) -> AsyncIterator[bytes]:
    for i in range(0, len(data), chunk):
        yield data[i:i + chunk]
        await asyncio.sleep(0)


async def read_all(store: BlobStore, blob_id: str, start: int | None = None,
                   end: int | None = None) -> bytes:
    reader = await store.open(blob_id, start, end)
    return b"".join([chunk async for chunk in reader])


async def ids(store: BlobStore) -> set[str]:
    return {i async for i in store.list_ids()}


def payload(n: int, seed: int = 1) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1))[:n]


_CHILD = textwrap.dedent("""
    import asyncio, json, resource, sys
    from storagectl.objects import open_blob_store

    kind, config, total, mode = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    block = bytes(range(256)) * 4096  # 1 MiB, reused

    async def chunks():
        sent = 0
        while sent < total:
            yield block
            sent += len(block)
            if mode == "hang" and sent >= total // 2:
                print("HALF", flush=True)
                await asyncio.sleep(3600)

    async def main():
        store = open_blob_store(kind, **config)
        await store.put("warmup", chunks_of(2 << 20))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        info = await store.put("big", chunks())
        n = 0
        async for c in await store.open("big"):
            n += len(c)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"size": info.size, "read": n, "grew_kib": after - before}))
        await store.close()

    async def chunks_of(n):
        yield b"x" * n

    asyncio.run(main())
""")


def run_child(kind: str, config: dict[str, Any], total: int, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _CHILD, kind, json.dumps(config), str(total),
                             mode], stdout=subprocess.PIPE, text=True, env=env)


class BlobStoreContract:
    """What every BlobStore must do; subclasses supply ``store``/``store_spec``."""

    big_size = 256 << 20

    async def test_put_open_roundtrip(self, store: BlobStore) -> None:
        data = payload(300_001)
        info = await store.put("rt", stream(data), sha256=True)
        assert info.size == len(data)
        assert info.md5_hex == hashlib.md5(data).hexdigest()
        assert info.sha256_hex == hashlib.sha256(data).hexdigest()
        assert await store.size("rt") == len(data)
        assert await read_all(store, "rt") == data
        assert "rt" in await ids(store)

    async def test_empty_blob(self, store: BlobStore) -> None:
        info = await store.put("empty", stream(b""))
        assert (info.size, info.md5_hex) == (0, hashlib.md5(b"").hexdigest())
        assert await read_all(store, "empty") == b""

    async def test_ranged_reads(self, store: BlobStore) -> None:
        data = payload(200_000, seed=2)
        await store.put("rng", stream(data, 65536))
        for start, end in [(0, 1), (5, 70_000), (65_535, 65_537), (199_999, None),
                           (None, 10), (150_000, 10**9), (10, 10)]:
            got = await read_all(store, "rng", start, end)
            assert got == data[start:end], (start, end)
        reader = await store.open("rng", 100, 300)
        assert (reader.length, reader.blob_size) == (200, len(data))
        await reader.aclose()
        with pytest.raises(InvalidRange):
            await store.open("rng", len(data))

    async def test_missing_and_delete_idempotent(self, store: BlobStore) -> None:
        with pytest.raises(BlobNotFound):
            await store.open("nope")
        with pytest.raises(BlobNotFound):
            await store.size("nope")
        await store.put("del", stream(b"abc"))
        await store.delete("del")
        await store.delete("del")
        with pytest.raises(BlobNotFound):
            await store.size("del")
        assert "del" not in await ids(store)

    async def test_overwrite_replaces(self, store: BlobStore) -> None:
        await store.put("ow", stream(payload(100_000, 3)))
        await store.put("ow", stream(b"short"))
        assert await read_all(store, "ow") == b"short"

    async def test_interrupted_put_leaves_nothing(self, store: BlobStore) -> None:
        async def failing() -> AsyncIterator[bytes]:
            yield payload(150_000)
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            await store.put("broken", failing())
        with pytest.raises(BlobNotFound):
            await store.size("broken")
        await store.put("keep", stream(b"old"))
        with pytest.raises(ConnectionResetError):
            await store.put("keep", failing())
        assert await read_all(store, "keep") == b"old"

    async def test_cancelled_put_leaves_nothing(self, store: BlobStore) -> None:
        started = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield payload(100_000)
            started.set()
            await asyncio.sleep(3600)
            yield b"never"

        task = asyncio.create_task(store.put("cancelled", slow()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert "cancelled" not in await ids(store)

    async def test_bad_digest_stores_nothing(self, store: BlobStore) -> None:
        with pytest.raises(BadDigest):
            await store.put("bd", stream(b"hello"), expected_md5="0" * 32)
        with pytest.raises(BadDigest):
            await store.put("bd", stream(b"hello"), expected_size=6)
        assert "bd" not in await ids(store)
        info = await store.put("bd", stream(b"hello"),
                               expected_md5=hashlib.md5(b"hello").hexdigest(), expected_size=5)
        assert info.size == 5

    async def test_multipart(self, store: BlobStore) -> None:
        parts = {1: payload(150_001, 11), 2: payload(70_000, 12), 3: payload(3, 13)}
        md5s = {}
        for n in (3, 1, 2):
            info = await store.put_part("up1", n, stream(parts[n]))
            md5s[n] = info.md5_hex
        # Replacing a part keeps only the new data.
        parts[2] = payload(90_000, 14)
        md5s[2] = (await store.put_part("up1", 2, stream(parts[2]))).md5_hex
        assert "up1" in {u async for u in store.list_uploads()}
        whole = parts[1] + parts[2] + parts[3]
        info = await store.complete("up1", "mp", [1, 2, 3])
        assert info.size == len(whole)
        assert info.md5_hex == multipart_etag([md5s[1], md5s[2], md5s[3]])
        assert info.parts == 3
        assert await read_all(store, "mp") == whole
        for start, end in [(150_000, 150_002), (149_000, 241_000), (240_000, None)]:
            assert await read_all(store, "mp", start, end) == whole[start:end]
        # Repeating complete (e.g. after a crash before the caller recorded it) is safe.
        assert await store.complete("up1", "mp", [1, 2, 3]) == info
        await store.abort("up1")
        await store.abort("up1")
        assert await read_all(store, "mp") == whole
        assert "up1" not in {u async for u in store.list_uploads()}
        await store.delete("mp")
        assert "mp" not in await ids(store)

    async def test_multipart_subset_and_abort(self, store: BlobStore) -> None:
        for n in (1, 2, 3):
            await store.put_part("up2", n, stream(payload(1000 * n, n)))
        with pytest.raises(UploadNotFound):
            await store.complete("up2", "sub", [1, 4])
        info = await store.complete("up2", "sub", [1, 3])
        assert info.size == 4000
        await store.abort("up2")
        assert await read_all(store, "sub") == payload(1000, 1) + payload(3000, 3)
        await store.put_part("up3", 1, stream(b"x" * 10))
        await store.abort("up3")
        with pytest.raises(UploadNotFound):
            await store.complete("up3", "never", [1])
        with pytest.raises(ValueError):
            await store.put_part("up3", 0, stream(b"x"))

    async def test_invalid_ids_rejected(self, store: BlobStore) -> None:
        for bad in ("", "../x", ".hidden", "a/b", "x" * 201):
            with pytest.raises(ValueError):
                await store.put(bad, stream(b"x"))

    async def test_sweep_keeps_live_data(self, store: BlobStore) -> None:
        await store.put("live", stream(payload(100_000)))
        await store.put_part("up-live", 1, stream(b"part"))
        assert await store.sweep(older_than=0) >= 0
        assert await read_all(store, "live") == payload(100_000)
        assert await store.complete("up-live", "live2", [1])
        assert await read_all(store, "live2") == b"part"
        await store.abort("up-live")

    def test_killed_put_is_invisible(self, store_spec: tuple[Any, dict[str, Any]]) -> None:
        kind, config = store_spec
        child = run_child(kind, config, 64 << 20, "hang")
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "HALF"
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()

        async def check() -> None:
            store = open_blob_store(kind, **config)
            try:
                assert "big" not in await ids(store)
                with pytest.raises(BlobNotFound):
                    await store.size("big")
                assert await store.sweep(older_than=0) > 0
                assert await store.sweep(older_than=0) == 0
            finally:
                await store.close()

        asyncio.run(check())

    def test_large_blob_memory_stays_flat(self, store_spec: tuple[Any, dict[str, Any]]) -> None:
        kind, config = store_spec
        child = run_child(kind, config, self.big_size, "full")
        out, _ = child.communicate(timeout=600)
        assert child.returncode == 0
        result = json.loads(out)
        assert result["size"] == result["read"] == self.big_size
        # Streaming 256 MiB must not hold it: allow a few buffers of slack.
        assert result["grew_kib"] < 32 * 1024, result


class TestFileBlobStore(BlobStoreContract):
    @pytest.fixture
    def store_spec(self, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
        return "file", {"root": str(tmp_path / "blobs")}

    @pytest.fixture
    async def store(self, store_spec: tuple[Any, dict[str, Any]]) -> AsyncIterator[BlobStore]:
        kind, config = store_spec
        s = open_blob_store(kind, **config)
        yield s
        await s.close()

    async def test_layout_has_no_leftovers(self, store: BlobStore, tmp_path: Path) -> None:
        await store.put("a", stream(b"1"))
        await store.put_part("u", 1, stream(b"2"))
        await store.complete("u", "b", [1])
        await store.abort("u")
        root = tmp_path / "blobs"
        assert os.listdir(root / "tmp") == []
        assert os.listdir(root / "uploads") == []
        files = sorted(p.name for p in (root / "blobs").rglob("*") if p.is_file())
        assert files == ["a", "b"]

    async def test_old_temp_files_swept_only_when_old(self, store: BlobStore,
                                                       tmp_path: Path) -> None:
        leftover = tmp_path / "blobs" / "tmp" / "x.abc.tmp"
        leftover.write_bytes(b"partial")
        assert await store.sweep(older_than=3600) == 0
        old = time.time() - 7200
        os.utime(leftover, (old, old))
        assert await store.sweep(older_than=3600) == 1
        assert not leftover.exists()

    async def test_read_in_one_call(self, store: BlobStore) -> None:
        await store.put("r", stream(b"0123456789"))
        assert await store.read("r") == b"0123456789"
        assert await store.read("r", 2, 5) == b"234"
        with pytest.raises(BlobNotFound):
            await store.read("missing")
        with pytest.raises(InvalidRange):
            await store.read("r", 11)


class TestFileBlobStoreGroupCommit(TestFileBlobStore):
    """The whole contract again with ``sync_mode="group"`` (batched small writes)."""

    @pytest.fixture
    def store_spec(self, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
        return "file", {"root": str(tmp_path / "blobs"), "sync_mode": "group"}

    async def test_concurrent_small_puts_share_batches(self, store: BlobStore) -> None:
        bodies = {f"k{i}": os.urandom(100 + i) for i in range(64)}
        infos = await asyncio.gather(*(store.put(k, stream(v)) for k, v in bodies.items()))
        for (key, body), info in zip(bodies.items(), infos, strict=True):
            assert info.md5_hex == hashlib.md5(body).hexdigest()
            assert await store.read(key) == body
        await asyncio.gather(*(store.delete(k) for k in bodies))
        for key in bodies:
            with pytest.raises(BlobNotFound):
                await store.read(key)

    def test_unknown_sync_mode_rejected(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            open_blob_store("file", root=str(tmp_path / "b"), sync_mode="sometimes")
