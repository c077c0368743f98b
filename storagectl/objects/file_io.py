"""Durable file primitives of the file blob store (``file``): writes that survive a
crash (write, fsync, rename, directory fsync), the group committer of ``sync_mode``
``group``, the write pipeline that writes and hashes a stream's batches beside the
receiving, page-cache reads on the event loop, and the in-kernel concatenation
``complete`` uses. Knows paths and descriptors, not blobs or uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from storagectl.objects._stream import Digests

MD5_XATTR = "user.md5"  # a part's MD5, kept beside its data
SYNC_EVERY = 16 << 20  # a stream starts writeback every this many bytes

_Item = tuple[str, Path, Path | None, bytes, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (creations, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist), write all of ``data`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    if path.is_dir():
        return
    ensure_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir()
        fsync_dir(path.parent)

def _settle(results: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, error in results:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class GroupCommitter:
    """One thread making batches of small writes and deletes durable (``group`` mode)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, op: str, path: Path, dest: Path | None,
               data: bytes = b"") -> asyncio.Future[None]:
        """Queue ``op`` (``write``: ``data`` to temp ``path`` published at ``dest``;
        ``unlink``: ``path``); the future resolves once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="blob-commit",
                                                daemon=True)
                self._thread.start()
        self._queue.put((op, path, dest, data, loop, future))
        return future

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 256:
                    item = self._queue.get_nowait()
                    if item is None:
                        self._queue.put(None)
                        break
                    batch.append(item)
            self._commit(batch)

    @staticmethod
    def _commit(batch: list[_Item]) -> None:
        errors: dict[int, BaseException] = {}
        dirs: dict[Path, list[int]] = {}
        for index, (op, path, dest, data, _, _) in enumerate(batch):
            try:
                if op == "unlink":
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        continue
                    dirs.setdefault(path.parent, []).append(index)
                    continue
                assert dest is not None
                write_new(path, data)
                ensure_dir(dest.parent)
                os.replace(path, dest)
                dirs.setdefault(dest.parent, []).append(index)
            except BaseException as exc:  # handed to the waiting request
                errors[index] = exc
                if op == "write":
                    with contextlib.suppress(OSError):
                        path.unlink()
        for directory, members in dirs.items():
            try:
                fsync_dir(directory)
            except OSError as exc:
                for index in members:
                    errors[index] = exc
        by_loop: dict[asyncio.AbstractEventLoop,
                      list[tuple[asyncio.Future[None], BaseException | None]]] = {}
        for index, (_, _, _, _, loop, future) in enumerate(batch):
            by_loop.setdefault(loop, []).append((future, errors.get(index)))
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, results)

def discard(fd: int, tmp: Path) -> None:
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def writev_all(fd: int, batch: list[bytes]) -> int:
    """Write every byte of ``batch`` at the file position (no copy into one buffer)."""
    total = sum(len(b) for b in batch)
    views = [memoryview(b) for b in batch]
    left = total
    while left:
        written = os.writev(fd, views)
        left -= written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]
    return total


class WritePipeline:
    """Writes and hashes one stream's batches in worker threads, beside the receiving.

    One batch is written and one hashed (in order) while the caller receives the next,
    so at most two batches are in memory; writeback is started every ``SYNC_EVERY``
    bytes by an ``fdatasync`` that runs beside the writes instead of stalling them.
    ``finish`` waits for everything and fsyncs.
    """

    def __init__(self, pool: ThreadPoolExecutor, fd: int, digests: Digests) -> None:
        self._pool = pool
        self._fd = fd
        self._digests = digests
        self._writing: Future[int] | None = None
        self._hashing: Future[None] | None = None
        self._syncing: Future[None] | None = None
        self._unsynced = 0

    def _hash(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self._digests.update(chunk)

    @staticmethod
    async def _settled(future: Future[Any] | None) -> Any:
        if future is None:
            return None
        if not future.done():
            return await asyncio.wrap_future(future)
        return future.result()

    async def push(self, batch: list[bytes]) -> None:
        """Hand over the next batch once the previous one is written and hashed."""
        self._unsynced += await self._settled(self._writing) or 0
        await self._settled(self._hashing)
        if self._unsynced >= SYNC_EVERY and (self._syncing is None or self._syncing.done()):
            await self._settled(self._syncing)  # surfaces an error of the last one
            self._syncing = self._pool.submit(os.fdatasync, self._fd)
            self._unsynced = 0
        self._writing = self._pool.submit(writev_all, self._fd, batch)
        self._hashing = self._pool.submit(self._hash, batch)

    async def finish(self) -> None:
        for future in (self._writing, self._hashing, self._syncing):
            await self._settled(future)
        await asyncio.wrap_future(self._pool.submit(os.fsync, self._fd))

    def abandon(self, cleanup: Any) -> None:
        """Run ``cleanup`` (close, unlink) once no thread uses the descriptor any more."""
        running = [f for f in (self._writing, self._hashing, self._syncing)
                   if f is not None and not f.done()]
        if not running:
            self._pool.submit(cleanup)
            return
        remaining = len(running)

        def one_done(_: Future[Any]) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                self._pool.submit(cleanup)

        for future in running:
            future.add_done_callback(one_done)


def read_cached(path: Path, start: int, end: int) -> bytes | None:
    """``[start, end)`` of ``path`` if all of it is in the page cache, else None.

    Runs on the event loop: ``preadv2(RWF_NOWAIT)`` never waits for the disk (it
    fails with EAGAIN instead, and the caller goes to a worker thread), which saves
    a thread hop per small GET. Only the ``open`` may look up a directory entry that
    is not cached, for an object that was not read or written recently.
    """
    flags = getattr(os, "RWF_NOWAIT", 0)
    if not flags:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # missing or unreadable: the thread path raises the right error
    try:
        size = os.fstat(fd).st_size
        if start > size or (start == size and size > 0) or end > size:
            return None
        buf = bytearray(end - start)
        if not buf:
            return b""
        try:
            got = os.preadv(fd, [buf], start, flags)
        except (BlockingIOError, OSError):
            return None
        return bytes(buf) if got == len(buf) else None
    finally:
        os.close(fd)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


def part_md5(path: Path) -> str:
    try:
        return os.getxattr(path, MD5_XATTR).decode()
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.ENOTSUP):
            raise
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def copy_all(src: int, dst: int) -> int:
    """Append all of ``src`` to ``dst`` inside the kernel; returns bytes copied."""
    total = 0
    while True:
        try:
            n = os.copy_file_range(src, dst, 1 << 30)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            n = os.sendfile(dst, src, None, 1 << 30)
        if n == 0:
            return total
        total += n
