"""Block backend contract tests, run here against the file backend.

``BlockBackendContract`` is the single set of test functions every block
backend must pass; tests/integration/test_storage_ceph.py runs it against
Ceph RBD. Subclasses provide a ``backend`` fixture.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storagectl.blocks import (
    GIB,
    BlockBackend,
    InvalidSize,
    SnapshotNotFound,
    VolumeNotFound,
    open_block_backend,
)

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                    reason="qemu-img missing: scripts/deps/ceph.sh")


class BlockBackendContract:
    """What every BlockBackend must do; subclasses supply ``backend``."""

    async def test_create_is_idempotent_and_thin(self, backend: BlockBackend) -> None:
        await backend.create_volume("vol-a", 2)
        await backend.create_volume("vol-a", 2)
        assert await backend.volume_exists("vol-a")
        assert await backend.volume_size("vol-a") == 2 * GIB
        assert await backend.read("vol-a", GIB, 16) == b"\0" * 16
        assert await backend.list_volumes() == ["vol-a"]

    async def test_write_read_resize(self, backend: BlockBackend) -> None:
        await backend.create_volume("vol-b", 1)
        await backend.write("vol-b", 4096, b"hello")
        assert await backend.read("vol-b", 4096, 5) == b"hello"
        await backend.resize_volume("vol-b", 3)
        await backend.resize_volume("vol-b", 3)
        assert await backend.volume_size("vol-b") == 3 * GIB
        assert await backend.read("vol-b", 4096, 5) == b"hello"
        with pytest.raises(InvalidSize):
            await backend.resize_volume("vol-b", 1)

    async def test_missing_volume(self, backend: BlockBackend) -> None:
        assert not await backend.volume_exists("vol-none")
        with pytest.raises(VolumeNotFound):
            await backend.volume_size("vol-none")
        with pytest.raises(VolumeNotFound):
            await backend.attachment("vol-none")
        with pytest.raises(VolumeNotFound):
            await backend.create_snapshot("vol-none", "snap-none")
        await backend.delete_volume("vol-none")
        await backend.delete_snapshot("snap-none")

    async def test_snapshot_and_clone(self, backend: BlockBackend) -> None:
        await backend.create_volume("vol-src", 1)
        await backend.write("vol-src", 0, b"before")
        seen: list[int] = []
        await backend.create_snapshot("vol-src", "snap-1", seen.append)
        assert seen and seen[-1] == 100 and seen == sorted(seen)
        await backend.create_snapshot("vol-src", "snap-1", seen.append)  # idempotent
        await backend.write("vol-src", 0, b"after!")
        assert await backend.snapshot_exists("snap-1")
        assert await backend.list_snapshots() == ["snap-1"]

        await backend.create_volume_from_snapshot("vol-c", "snap-1", 2)
        await backend.create_volume_from_snapshot("vol-c", "snap-1", 2)
        assert await backend.read("vol-c", 0, 6) == b"before"
        assert await backend.volume_size("vol-c") == 2 * GIB
        await backend.write("vol-c", 0, b"clone!")
        assert await backend.read("vol-src", 0, 6) == b"after!"
        with pytest.raises(InvalidSize):
            await backend.create_volume_from_snapshot("vol-small", "snap-1", 0)
        with pytest.raises(SnapshotNotFound):
            await backend.create_volume_from_snapshot("vol-x", "snap-none", 1)

    async def test_snapshot_outlives_volume_and_volume_outlives_snapshot(
            self, backend: BlockBackend) -> None:
        await backend.create_volume("vol-p", 1)
        await backend.write("vol-p", 512, b"data")
        await backend.create_snapshot("vol-p", "snap-p")
        await backend.delete_volume("vol-p")
        await backend.delete_volume("vol-p")
        assert await backend.list_volumes() == []
        await backend.create_volume_from_snapshot("vol-q", "snap-p", 1)
        await backend.create_snapshot("vol-q", "snap-q")
        await backend.delete_snapshot("snap-p")
        await backend.delete_snapshot("snap-p")
        assert not await backend.snapshot_exists("snap-p")
        assert await backend.list_snapshots() == ["snap-q"]
        assert await backend.read("vol-q", 512, 4) == b"data"
        await backend.create_volume_from_snapshot("vol-r", "snap-q", 1)
        assert await backend.read("vol-r", 512, 4) == b"data"
        for vol in ("vol-q", "vol-r"):
            await backend.delete_volume(vol)
        await backend.delete_snapshot("snap-q")
        assert await backend.list_volumes() == []
        assert await backend.list_snapshots() == []

    async def test_attachment(self, backend: BlockBackend) -> None:
        await backend.create_volume("vol-att", 1)
        info = await backend.attachment("vol-att")
        assert info["type"] in ("file", "rbd")
        if info["type"] == "file":
            assert Path(info["path"]).exists() and info["format"] in ("raw", "qcow2")
        else:
            assert info["pool"] and info["image"] and info["monitors"] and info["user"]

    async def test_invalid_ids(self, backend: BlockBackend) -> None:
        with pytest.raises(ValueError):
            await backend.create_volume("../etc", 1)


@needs_qemu_img
class TestFileBlockBackend(BlockBackendContract):
    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[BlockBackend]:
        b = open_block_backend("file", root=str(tmp_path / "vols"))
        yield b
        await b.close()

    async def test_clone_is_an_overlay_on_the_snapshot(self, backend: BlockBackend,
                                                       tmp_path: Path) -> None:
        await backend.create_volume("vol-o", 4)
        await backend.create_snapshot("vol-o", "snap-o")
        await backend.create_volume_from_snapshot("vol-o2", "snap-o", 4)
        info = await backend.attachment("vol-o2")
        assert info["format"] == "qcow2"
        assert info["backing"] == {"path": str(tmp_path / "vols/snapshots/snap-o.raw"),
                                   "format": "raw"}
        # Snapshot deleted while in use: hidden, kept until its last user goes.
        await backend.delete_snapshot("snap-o")
        assert (tmp_path / "vols/snapshots/snap-o.raw").exists()
        await backend.delete_volume("vol-o2")
        assert not (tmp_path / "vols/snapshots/snap-o.raw").exists()
        # Snapshots are sparse: a 4 GiB empty volume costs no blocks.
        await backend.create_snapshot("vol-o", "snap-e")
        assert (tmp_path / "vols/snapshots/snap-e.raw").stat().st_blocks < 64

    async def test_a_shared_clone_is_flattened_to_raw(self, backend: BlockBackend,
                                                      tmp_path: Path) -> None:
        # Multi-Attach: QEMU shares only raw images, so the overlay becomes a raw file
        await backend.create_volume("vol-m", 1)
        await backend.write("vol-m", 4096, b"shared data")
        await backend.create_snapshot("vol-m", "snap-m")
        await backend.create_volume_from_snapshot("vol-m2", "snap-m", 2)
        await backend.write("vol-m2", 0, b"own")
        await backend.delete_snapshot("snap-m")  # kept: the overlay uses it
        assert (tmp_path / "vols/snapshots/snap-m.raw").exists()
        info = await backend.shareable_attachment("vol-m2")
        assert info == {"type": "file", "path": str(tmp_path / "vols/volumes/vol-m2.raw"),
                        "format": "raw"}
        assert not (tmp_path / "vols/volumes/vol-m2.qcow2").exists()
        assert not (tmp_path / "vols/snapshots/snap-m.raw").exists()  # its last user went
        assert await backend.read("vol-m2", 0, 3) == b"own"
        assert await backend.read("vol-m2", 4096, 11) == b"shared data"
        assert await backend.volume_size("vol-m2") == 2 * GIB
        assert (tmp_path / "vols/volumes/vol-m2.raw").stat().st_blocks < 256  # sparse
        assert await backend.shareable_attachment("vol-m2") == info  # once only
        assert await backend.list_volumes() == ["vol-m", "vol-m2"]


def test_file_backend_sweeps_stale_work_files(tmp_path: Path) -> None:
    """Work files a crash left behind go away when the backend opens; fresh ones stay."""
    import os
    import time

    from storagectl.blocks.file import FileBlockBackend

    FileBlockBackend(tmp_path)
    stale = tmp_path / "tmp" / "dead.raw"
    stale.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = tmp_path / "tmp" / "live.raw"
    fresh.write_bytes(b"y")
    FileBlockBackend(tmp_path)
    assert not stale.exists() and fresh.exists()
