"""ImageCache: cached bases, per-instance overlays, clean removal."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nodectl.imagecache import ImageCache

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src.raw"
    src.write_bytes(b"\0" * 1024 * 1024)
    return src


def test_stage_and_remove(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache")
    base = cache.ensure_base("emi-1", _source(tmp_path))
    assert base.exists() and cache.ensure_base("emi-1", Path("/nonexistent")) == base
    staged = cache.stage_instance("i-1", "emi-1", ephemeral_mib=16)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(staged.root)],
                                     capture_output=True, check=True).stdout)
    assert info["format"] == "qcow2" and info["backing-filename"] == str(base)
    assert staged.ephemeral is not None and staged.ephemeral.exists()
    assert staged.console_log.exists()
    assert cache.stage_instance("i-1", "emi-1", ephemeral_mib=16) == staged  # idempotent
    assert cache.staged_instances() == ["i-1"]
    cache.remove_instance("i-1")
    cache.remove_instance("i-1")
    assert not staged.directory.exists() and base.exists()


def test_uncached_image_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ImageCache(tmp_path).stage_instance("i-1", "emi-missing")


@pytest.mark.parametrize("bad", ["../etc", "", "a/b", ".hidden"])
def test_ids_cannot_escape(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        ImageCache(tmp_path).instance_dir(bad)


def test_spare_overlay_and_sparse_ephemeral(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache")
    base = cache.ensure_base("emi-1", _source(tmp_path))
    stale = cache.spare_path("emi-1").with_name(".emi-1.qcow2.tmp999999")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a killed agent")
    cache.prepare_spare("emi-1")
    cache.prepare_spare("emi-1")  # idempotent
    spare = cache.spare_path("emi-1")
    assert spare.exists() and not stale.exists()
    staged = cache.stage_instance("i-1", "emi-1", ephemeral_mib=64)
    assert not spare.exists()  # renamed into the instance, no qemu-img on the way
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(staged.root)],
                                     capture_output=True, check=True).stdout)
    assert info["format"] == "qcow2" and info["backing-filename"] == str(base)
    assert staged.ephemeral is not None and staged.ephemeral_format == "raw"
    assert staged.ephemeral.stat().st_size == 64 * 1024 * 1024
    assert staged.ephemeral.stat().st_blocks == 0  # sparse
    other = cache.stage_instance("i-2", "emi-1")  # no spare left: qemu-img fallback
    assert other.root.exists() and cache.staged_instances() == ["i-1", "i-2"]
