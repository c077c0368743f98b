"""The embedded default block backend: volumes and snapshots as local files.

Owns, under its root directory::

    volumes/<volume_id>.raw      sparse raw volume (created empty)
    volumes/<volume_id>.qcow2    volume created from a snapshot: a qcow2
                                 overlay whose backing file is the snapshot
                                 (flattened to .raw before its first
                                 Multi-Attach: QEMU shares only raw images)
    snapshots/<snapshot_id>.raw  sparse raw point-in-time copy
    snapshots/<snapshot_id>.deleted  marker: deleted, kept while overlays use it
    tmp/                         work in progress (renamed into place when done)

Why overlays: create-volume-from-snapshot is the latency users wait on (a
boot volume per instance). A qcow2 overlay is created in milliseconds whatever
the size, where a copy is O(data) on filesystems without reflink (ext4 here).
Snapshots themselves are full sparse raw copies (``qemu-img convert``, which
skips zeroes) so they stay independent of their volume: deleting a volume
never touches its snapshots. A snapshot deleted while overlays use it is only
marked; the last volume that uses it removes it.

Gap: a snapshot of a volume attached to a running guest copies a live file;
point-in-time consistency then needs QEMU's help (nodectl: blockdev-backup or
a guest freeze). RBD snapshots do not have this gap.

Must not: touch files outside its root; block the event loop (file calls run
in threads, qemu-img in subprocesses).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import secrets
import struct
import tempfile
from pathlib import Path
from typing import Any

from storagectl.blocks.base import (
    GIB,
    BlockBackend,
    InvalidSize,
    Progress,
    SnapshotNotFound,
    VolumeNotFound,
    check_id,
)

_PROGRESS_RE = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")
_QCOW2_MAGIC = b"QFI\xfb"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """The (offset, length) runs of a sparse file that hold data (SEEK_DATA/SEEK_HOLE;
    the whole file where the filesystem cannot tell)."""
    extents: list[tuple[int, int]] = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after pos
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            extents.append((start, end - start))
            pos = end
    except OSError:
        return [(0, size)] if size else []
    return extents


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _qcow2_header(path: Path) -> tuple[int, str | None]:
    """(virtual size, backing file or None) read from a qcow2 header."""
    with open(path, "rb") as fh:
        head = fh.read(32)
        if head[:4] != _QCOW2_MAGIC:
            raise ValueError(f"{path} is not qcow2")
        backing_offset, backing_size = struct.unpack(">QI", head[8:20])
        (size,) = struct.unpack(">Q", head[24:32])
        if not backing_offset:
            return size, None
        fh.seek(backing_offset)
        return size, fh.read(backing_size).decode()


async def _run(*argv: str, progress: Progress | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    err_task = asyncio.ensure_future(proc.stderr.read())
    try:
        last = -1
        while chunk := await proc.stdout.read(4096):
            for match in _PROGRESS_RE.findall(chunk):
                pct = int(float(match))
                if progress is not None and pct != last and pct < 100:
                    progress(pct)
                    last = pct
        rc = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    err = await err_task
    if rc != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed ({rc}): {err.decode().strip()}")


class FileBlockBackend(BlockBackend):
    """Volumes as files under ``root``; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str], *, qemu_img: str = "qemu-img",
                 qemu_io: str = "qemu-io") -> None:
        self.root = Path(root).resolve()
        self.qemu_img = qemu_img
        self.qemu_io = qemu_io
        self._vols = self.root / "volumes"
        self._snaps = self.root / "snapshots"
        self._tmp = self.root / "tmp"
        self._flattening = asyncio.Lock()  # one Multi-Attach conversion at a time
        for path in (self._vols, self._snaps, self._tmp):
            path.mkdir(parents=True, exist_ok=True)
        self.sweep_tmp()

    def sweep_tmp(self, older_than: float = 3600.0) -> int:
        """Remove work files a crash left in ``tmp/`` (only ones older than any live job)."""
        import shutil
        import time

        removed = 0
        cutoff = time.time() - older_than
        for entry in self._tmp.iterdir():
            try:
                if entry.lstat().st_mtime >= cutoff:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
            except FileNotFoundError:
                continue
        return removed

    # -- paths -------------------------------------------------------------

    def _volume(self, volume_id: str) -> tuple[Path, str] | None:
        check_id("volume", volume_id)
        for fmt in ("raw", "qcow2"):
            path = self._vols / f"{volume_id}.{fmt}"
            if path.exists():
                return path, fmt
        return None

    def _need_volume(self, volume_id: str) -> tuple[Path, str]:
        found = self._volume(volume_id)
        if found is None:
            raise VolumeNotFound(volume_id)
        return found

    def _snap(self, snapshot_id: str) -> Path:
        return self._snaps / f"{check_id('snapshot', snapshot_id)}.raw"

    def _tmp_path(self, suffix: str) -> Path:
        return self._tmp / f"{secrets.token_hex(8)}.{suffix}"

    def _publish(self, tmp: Path, dest: Path) -> None:
        _fsync_file(tmp)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)

    def _snapshot_live(self, snapshot_id: str) -> bool:
        snap = self._snap(snapshot_id)
        return snap.exists() and not snap.with_suffix(".deleted").exists()

    def _users_of(self, snap: Path) -> list[Path]:
        users = []
        for vol in self._vols.glob("*.qcow2"):
            with contextlib.suppress(FileNotFoundError, ValueError):
                if _qcow2_header(vol)[1] == str(snap):
                    users.append(vol)
        return users

    def _drop_snapshot_if_unused(self, snap: Path) -> None:
        if not snap.with_suffix(".deleted").exists() or self._users_of(snap):
            return
        snap.unlink(missing_ok=True)
        snap.with_suffix(".deleted").unlink(missing_ok=True)
        _fsync_dir(self._snaps)

    # -- volumes -----------------------------------------------------------

    async def create_volume(self, volume_id: str, size_gib: int) -> None:
        if size_gib < 1:
            raise InvalidSize(f"size {size_gib} GiB")

        def create() -> None:
            if self._volume(volume_id) is not None:
                return
            tmp = self._tmp_path("raw")
            with open(tmp, "xb") as fh:
                fh.truncate(size_gib * GIB)
            self._publish(tmp, self._vols / f"{volume_id}.raw")

        await asyncio.to_thread(create)

    async def create_volume_from_snapshot(self, volume_id: str, snapshot_id: str,
                                          size_gib: int) -> None:
        if await asyncio.to_thread(self._volume, volume_id) is not None:
            return
        snap = self._snap(snapshot_id)
        if not await asyncio.to_thread(self._snapshot_live, snapshot_id):
            raise SnapshotNotFound(snapshot_id)
        if size_gib * GIB < snap.stat().st_size:
            raise InvalidSize(f"{size_gib} GiB is smaller than snapshot {snapshot_id}")
        tmp = self._tmp_path("qcow2")
        await _run(self.qemu_img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(snap),
                   str(tmp), str(size_gib * GIB))
        await asyncio.to_thread(self._publish, tmp, self._vols / f"{volume_id}.qcow2")

    async def delete_volume(self, volume_id: str) -> None:
        def delete() -> None:
            found = self._volume(volume_id)
            if found is None:
                return
            path, fmt = found
            backing = _qcow2_header(path)[1] if fmt == "qcow2" else None
            path.unlink()
            _fsync_dir(self._vols)
            if backing is not None:
                self._drop_snapshot_if_unused(Path(backing))

        await asyncio.to_thread(delete)

    async def resize_volume(self, volume_id: str, size_gib: int) -> None:
        path, fmt = await asyncio.to_thread(self._need_volume, volume_id)
        current = await self.volume_size(volume_id)
        new = size_gib * GIB
        if new < current:
            raise InvalidSize(f"cannot shrink {volume_id} to {size_gib} GiB")
        if new == current:
            return
        if fmt == "raw":
            await asyncio.to_thread(os.truncate, path, new)
            await asyncio.to_thread(_fsync_file, path)
        else:
            await _run(self.qemu_img, "resize", "-q", "-f", "qcow2", str(path), str(new))

    async def volume_size(self, volume_id: str) -> int:
        def size() -> int:
            path, fmt = self._need_volume(volume_id)
            return path.stat().st_size if fmt == "raw" else _qcow2_header(path)[0]

        return await asyncio.to_thread(size)

    async def volume_exists(self, volume_id: str) -> bool:
        return await asyncio.to_thread(self._volume, volume_id) is not None

    async def list_volumes(self) -> list[str]:
        def names() -> list[str]:
            return sorted(p.stem for p in self._vols.iterdir()
                          if p.suffix in (".raw", ".qcow2"))

        return await asyncio.to_thread(names)

    async def attachment(self, volume_id: str) -> dict[str, Any]:
        path, fmt = await asyncio.to_thread(self._need_volume, volume_id)
        info: dict[str, Any] = {"type": "file", "path": str(path), "format": fmt}
        if fmt == "qcow2":
            backing = (await asyncio.to_thread(_qcow2_header, path))[1]
            if backing is not None:
                info["backing"] = {"path": backing, "format": "raw"}
        return info

    async def shareable_attachment(self, volume_id: str) -> dict[str, Any]:
        """QEMU shares only raw images between guests, so an overlay (a volume created
        from a snapshot) is flattened first into a raw file of its own (``qemu-img
        convert``, zeroes skipped: sparse), which replaces it; the snapshot is then
        released as on delete. Safe to repeat after a crash at any point."""
        async with self._flattening:
            path, fmt = await asyncio.to_thread(self._need_volume, volume_id)
            if fmt == "qcow2":
                tmp = self._tmp_path("raw")
                await _run(self.qemu_img, "convert", "-q", "-f", "qcow2", "-O", "raw",
                           str(path), str(tmp))
                await asyncio.to_thread(self._publish, tmp, self._vols / f"{volume_id}.raw")
            await asyncio.to_thread(self._drop_overlay, volume_id)
        return await self.attachment(volume_id)

    def _drop_overlay(self, volume_id: str) -> None:
        """Remove the overlay a flattened volume leaves (its raw file now answers)."""
        overlay = self._vols / f"{volume_id}.qcow2"
        if not overlay.exists() or not (self._vols / f"{volume_id}.raw").exists():
            return
        backing = _qcow2_header(overlay)[1]
        overlay.unlink()
        _fsync_dir(self._vols)
        if backing is not None:
            self._drop_snapshot_if_unused(Path(backing))

    # -- snapshots ---------------------------------------------------------

    async def create_snapshot(self, volume_id: str, snapshot_id: str,
                              progress: Progress | None = None) -> None:
        dest = self._snap(snapshot_id)
        if not await asyncio.to_thread(dest.exists):
            path, fmt = await asyncio.to_thread(self._need_volume, volume_id)
            tmp = self._tmp_path("raw")
            try:
                await _run(self.qemu_img, "convert", "-p", "-f", fmt, "-O", "raw", str(path),
                           str(tmp), progress=progress)
                await asyncio.to_thread(self._publish, tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        if progress is not None:
            progress(100)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        snap = self._snap(snapshot_id)

        def delete() -> None:
            if not snap.exists():
                return
            marker = snap.with_suffix(".deleted")
            if not marker.exists():
                marker.touch()
                _fsync_dir(self._snaps)
            self._drop_snapshot_if_unused(snap)

        await asyncio.to_thread(delete)

    async def snapshot_exists(self, snapshot_id: str) -> bool:
        return await asyncio.to_thread(self._snapshot_live, snapshot_id)

    async def list_snapshots(self) -> list[str]:
        def names() -> list[str]:
            return sorted(p.stem for p in self._snaps.glob("*.raw")
                          if not p.with_suffix(".deleted").exists())

        return await asyncio.to_thread(names)

    # -- data --------------------------------------------------------------

    async def read(self, volume_id: str, offset: int, length: int) -> bytes:
        path, fmt = await asyncio.to_thread(self._need_volume, volume_id)
        if fmt == "raw":
            def pread() -> bytes:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    return fh.read(length)

            return await asyncio.to_thread(pread)
        bs = 4096
        first, last = offset // bs, (offset + length + bs - 1) // bs
        with tempfile.TemporaryDirectory(dir=self._tmp) as tmpdir:
            out = Path(tmpdir) / "out.raw"
            await _run(self.qemu_img, "dd", "-f", "qcow2", "-O", "raw", f"bs={bs}",
                       f"skip={first}", f"count={last - first}", f"if={path}", f"of={out}")
            data = await asyncio.to_thread(out.read_bytes)
        start = offset - first * bs
        return data[start:start + length]

    def _live_snapshot(self, snapshot_id: str) -> Path:
        if not self._snapshot_live(snapshot_id):
            raise SnapshotNotFound(snapshot_id)
        return self._snap(snapshot_id)

    async def snapshot_extents(self, snapshot_id: str) -> tuple[int, list[tuple[int, int]]]:
        def extents() -> tuple[int, list[tuple[int, int]]]:
            path = self._live_snapshot(snapshot_id)
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                return size, _data_extents(fh.fileno(), size)

        return await asyncio.to_thread(extents)

    async def read_snapshot(self, snapshot_id: str, offset: int, length: int) -> bytes:
        def pread() -> bytes:
            with open(self._live_snapshot(snapshot_id), "rb") as fh:
                return os.pread(fh.fileno(), length, offset)

        return await asyncio.to_thread(pread)

    async def write(self, volume_id: str, offset: int, data: bytes) -> None:
        path, fmt = await asyncio.to_thread(self._need_volume, volume_id)
        if fmt == "raw":
            def pwrite() -> None:
                with open(path, "r+b") as fh:
                    fh.seek(offset)
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())

            await asyncio.to_thread(pwrite)
            return
        with tempfile.TemporaryDirectory(dir=self._tmp) as tmpdir:
            src = Path(tmpdir) / "data"
            await asyncio.to_thread(src.write_bytes, data)
            await _run(self.qemu_io, "-f", "qcow2", "-c",
                       f"write -q -s {src} {offset} {len(data)}", "-c", "flush", str(path))
