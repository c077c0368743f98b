"""The embedded default blob store: one file per blob in a directory tree.

Owns, under its root directory::

    blobs/<xx>/<blob_id>        complete blobs (xx: 2 hex digits of md5(id))
    uploads/<upload_id>/<nnnnn> multipart parts (MD5 in the user.md5 xattr)
    uploads/<upload_id>/complete.json   record of a finished complete()
    tmp/                        writes in progress (invisible; swept)

Every write goes to a temp file in ``tmp/``, is fsynced, renamed into place
and the directory fsynced: a crash leaves the old state or the new one, never
a partial blob. A blob that fits in one chunk is written, synced and published
in a single worker-thread call; larger ones stream through a writer pool shared
by the store (hashing beside writing). ``complete`` concatenates parts in the kernel
(``copy_file_range``: a reflink on XFS/btrfs, an in-kernel copy elsewhere), so
the tree stays one file per blob and ranged reads are a single ``pread``.

``sync_mode`` decides who makes small blobs durable. ``always``: the request's
own worker-thread call (write, fsync, rename, directory fsync). ``group``: one
committer thread takes every small blob queued while it was busy and, per batch,
writes and fsyncs each file, renames them, fsyncs each directory once and wakes
the event loop once. Both acknowledge a blob only after its data and its
directory entry are fsynced; ``group`` saves thread hops, loop wake-ups and
directory fsyncs when PUTs are concurrent, and adds no waiting window (a batch is
whatever queued while the previous one was syncing). Deletes take the same route.

The durable-write, pipeline and read primitives are in ``file_io``.

Must not: touch anything outside its root; block the event loop (file I/O runs
in worker threads, except ``read`` of up to 64 KiB that is all in the page cache:
``preadv2(RWF_NOWAIT)`` on the loop, a thread on a miss).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from storagectl.objects._stream import Digests, batches
from storagectl.objects.base import (
    BlobInfo,
    BlobNotFound,
    BlobReader,
    BlobStore,
    UploadNotFound,
    check_digest,
    check_id,
    check_part_number,
    clamp_range,
    multipart_etag,
)
from storagectl.objects.file_io import (
    MD5_XATTR,
    GroupCommitter,
    WritePipeline,
    copy_all,
    discard,
    ensure_dir,
    fsync_dir,
    part_md5,
    read_cached,
    read_json,
    write_new,
)

_INLINE_READ = 64 << 10  # reads up to this size try the page cache on the event loop
_COMPLETE = "complete.json"


class _FileReader(BlobReader):
    def __init__(self, fd: int, blob_size: int, start: int, end: int, chunk_size: int) -> None:
        super().__init__(blob_size, start, end)
        self._fd: int | None = fd
        self._pos = start
        self._chunk = chunk_size

    async def __anext__(self) -> bytes:
        if self._fd is None or self._pos >= self.end:
            await self.aclose()
            raise StopAsyncIteration
        n = min(self._chunk, self.end - self._pos)
        data = await asyncio.to_thread(os.pread, self._fd, n, self._pos)
        if not data:
            await self.aclose()
            raise StopAsyncIteration
        self._pos += len(data)
        return data

    async def aclose(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def file_span(self) -> tuple[int, int, int] | None:
        """(descriptor, offset, length) still to read, for a sendfile-style copy."""
        if self._fd is None:
            return None
        return self._fd, self._pos, self.end - self._pos

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


SYNC_MODES = ("always", "group")


class FileBlobStore(BlobStore):
    """Blobs as files under ``root``; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str], *, chunk_size: int = 1 << 20,
                 writers: int = 8, sync_mode: str = "always") -> None:
        if sync_mode not in SYNC_MODES:
            raise ValueError(f"sync_mode must be one of {SYNC_MODES}, not {sync_mode!r}")
        self.root = Path(root)
        self.chunk_size = chunk_size
        self.batch_size = max(chunk_size, 4 << 20)
        self.sync_mode = sync_mode
        self._committer = GroupCommitter() if sync_mode == "group" else None
        self._writer = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="blob-put")
        self._blobs = self.root / "blobs"
        self._uploads = self.root / "uploads"
        self._tmp = self.root / "tmp"
        for path in (self._blobs, self._uploads, self._tmp):
            ensure_dir(path)

    # -- paths -------------------------------------------------------------

    def _blob_path(self, blob_id: str) -> Path:
        check_id("blob", blob_id)
        shard = hashlib.md5(blob_id.encode()).hexdigest()[:2]
        return self._blobs / shard / blob_id

    def _upload_dir(self, upload_id: str) -> Path:
        return self._uploads / check_id("upload", upload_id)

    def _temp_path(self, name: str) -> Path:
        return self._tmp / f"{name}.{secrets.token_hex(6)}.tmp"

    # -- writing -----------------------------------------------------------

    def _write_small(self, name: str, data: bytes, digests: Digests, dest: Path | None = None,
                     expected_md5: str | None = None, expected_size: int | None = None) -> Path:
        """Hash, check, write and fsync ``data`` as a temp file (published at ``dest``)."""
        digests.update(data)
        if dest is not None:
            check_digest(digests.info(), expected_md5, expected_size)
        tmp = self._temp_path(name)
        try:
            write_new(tmp, data)
            if dest is not None:
                self._publish(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    async def _first_chunk(self, chunks: AsyncIterator[bytes]) -> tuple[bytes, bool]:
        """Up to one chunk of the stream, and whether the stream ended within it."""
        buf = bytearray()
        async for chunk in chunks:
            buf += chunk
            if len(buf) > self.chunk_size:
                return bytes(buf), False
        return bytes(buf), True

    async def _write_temp(self, name: str, chunks: AsyncIterator[bytes],
                          sha256: bool) -> tuple[Path, BlobInfo]:
        """Stream ``chunks`` into a fsynced temp file; remove it on any failure."""
        first, ended = await self._first_chunk(chunks)
        digests = Digests(sha256)
        if ended:
            tmp = await asyncio.to_thread(self._write_small, name, first, digests, None)
            return tmp, digests.info()
        tmp = self._temp_path(name)
        fd = await asyncio.to_thread(os.open, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

        async def rest() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        pipeline = WritePipeline(self._writer, fd, digests)
        try:
            async for batch in batches(rest(), self.batch_size):
                await pipeline.push(batch)
            await pipeline.finish()
        except BaseException:
            pipeline.abandon(lambda: discard(fd, tmp))
            raise
        await asyncio.get_running_loop().run_in_executor(self._writer, os.close, fd)
        return tmp, digests.info()

    @staticmethod
    def _publish(tmp: Path, dest: Path) -> None:
        ensure_dir(dest.parent)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)

    async def put(self, blob_id: str, chunks: AsyncIterator[bytes], *,
                  sha256: bool = False, expected_md5: str | None = None,
                  expected_size: int | None = None) -> BlobInfo:
        dest = self._blob_path(blob_id)
        first, ended = await self._first_chunk(chunks)
        if ended and self._committer is not None:  # group commit: one thread, batched
            digests = Digests(sha256)
            digests.update(first)
            check_digest(digests.info(), expected_md5, expected_size)
            await self._committer.submit("write", self._temp_path(blob_id), dest, first)
            return digests.info()
        if ended:  # one thread call: write, fsync, rename, fsync the directory
            digests = Digests(sha256)
            await asyncio.to_thread(self._write_small, blob_id, first, digests, dest,
                                    expected_md5, expected_size)
            return digests.info()

        async def again() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        tmp, info = await self._write_temp(blob_id, again(), sha256)
        try:
            check_digest(info, expected_md5, expected_size)
            await asyncio.to_thread(self._publish, tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return info

    async def close(self) -> None:
        self._writer.shutdown(wait=False)
        if self._committer is not None:
            self._committer.stop()

    # -- reading -----------------------------------------------------------

    async def open(self, blob_id: str, start: int | None = None,
                   end: int | None = None) -> BlobReader:
        path = self._blob_path(blob_id)
        try:
            fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None
        try:
            size = os.fstat(fd).st_size
            lo, hi = clamp_range(size, start, end)
        except BaseException:
            os.close(fd)
            raise
        return _FileReader(fd, size, lo, hi, self.chunk_size)

    async def read(self, blob_id: str, start: int | None = None,
                   end: int | None = None) -> bytes:
        path = self._blob_path(blob_id)

        def read_sync() -> bytes:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                raise BlobNotFound(blob_id) from None
            try:
                lo, hi = clamp_range(os.fstat(fd).st_size, start, end)
                parts = []
                while lo < hi:
                    data = os.pread(fd, hi - lo, lo)
                    if not data:
                        break
                    parts.append(data)
                    lo += len(data)
                return b"".join(parts)
            finally:
                os.close(fd)

        if end is not None and start is not None and end - start <= _INLINE_READ:
            cached = read_cached(path, start, end)
            if cached is not None:
                return cached
        return await asyncio.to_thread(read_sync)

    async def size(self, blob_id: str) -> int:
        try:
            st = await asyncio.to_thread(os.stat, self._blob_path(blob_id))
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None
        return st.st_size

    async def delete(self, blob_id: str) -> None:
        path = self._blob_path(blob_id)
        if self._committer is not None:
            await self._committer.submit("unlink", path, None)
            return

        def remove() -> None:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            fsync_dir(path.parent)

        await asyncio.to_thread(remove)

    async def list_ids(self) -> AsyncIterator[str]:
        shards = await asyncio.to_thread(lambda: sorted(os.listdir(self._blobs)))
        for shard in shards:
            names = await asyncio.to_thread(os.listdir, self._blobs / shard)
            for name in names:
                yield name

    # -- multipart ---------------------------------------------------------

    async def put_part(self, upload_id: str, part_number: int,
                       chunks: AsyncIterator[bytes], *,
                       expected_md5: str | None = None,
                       expected_size: int | None = None) -> BlobInfo:
        updir = self._upload_dir(upload_id)
        check_part_number(part_number)
        tmp, info = await self._write_temp(f"{upload_id}.{part_number}", chunks, False)
        try:
            check_digest(info, expected_md5, expected_size)
            os.setxattr(tmp, MD5_XATTR, info.md5_hex.encode())
            await asyncio.to_thread(self._publish, tmp, updir / f"{part_number:05d}")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return info

    async def complete(self, upload_id: str, blob_id: str,
                       part_numbers: Sequence[int]) -> BlobInfo:
        updir = self._upload_dir(upload_id)
        dest = self._blob_path(blob_id)
        record = updir / _COMPLETE
        want: dict[str, Any] = {"blob_id": blob_id, "parts": list(part_numbers)}
        done = await asyncio.to_thread(read_json, record)
        if done is not None and {k: done[k] for k in want} == want:
            await asyncio.to_thread(self._drop_parts, updir)
            return BlobInfo(**done["info"])
        return await asyncio.to_thread(self._complete_sync, updir, dest, record,
                                       want, part_numbers)

    def _complete_sync(self, updir: Path, dest: Path, record: Path,
                       want: dict[str, Any], part_numbers: Sequence[int]) -> BlobInfo:
        paths = [updir / f"{check_part_number(n):05d}" for n in part_numbers]
        if not paths:
            raise ValueError("a multipart upload needs at least one part")
        md5s = []
        for path in paths:
            if not path.exists():
                raise UploadNotFound(f"{updir.name} part {path.name}")
            md5s.append(part_md5(path))
        tmp = self._temp_path(dest.name)
        size = 0
        try:
            with open(tmp, "xb") as out:
                for path in paths:
                    with open(path, "rb") as src:
                        size += copy_all(src.fileno(), out.fileno())
                out.flush()
                os.fsync(out.fileno())
            self._publish(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        info = BlobInfo(size=size, md5_hex=multipart_etag(md5s), parts=len(paths))
        rec_tmp = self._temp_path("complete")
        rec_tmp.write_text(json.dumps({**want, "info": info.__dict__}))
        with open(rec_tmp, "rb") as fh:
            os.fsync(fh.fileno())
        self._publish(rec_tmp, record)
        self._drop_parts(updir)
        return info

    @staticmethod
    def _drop_parts(updir: Path) -> None:
        for path in updir.iterdir():
            if path.name != _COMPLETE:
                path.unlink(missing_ok=True)

    async def abort(self, upload_id: str) -> None:
        updir = self._upload_dir(upload_id)

        def remove() -> None:
            if not updir.exists():
                return
            for path in updir.iterdir():
                path.unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):
                updir.rmdir()
            fsync_dir(updir.parent)

        await asyncio.to_thread(remove)

    async def list_uploads(self) -> AsyncIterator[str]:
        for name in await asyncio.to_thread(os.listdir, self._uploads):
            yield name

    async def sweep(self, older_than: float = 3600.0) -> int:
        def sweep_sync() -> int:
            cutoff = time.time() - older_than
            removed = 0
            for entry in os.scandir(self._tmp):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime <= cutoff:
                        os.unlink(entry.path)
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep_sync)


