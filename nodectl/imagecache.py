"""The image cache on a node host and per-instance disk staging.

Owns a directory tree:

- ``base/<image-id>``: one cached, read-only copy per image (emi/eki/eri), put in
  place atomically (copy to a temp name, rename);
- ``instances/<instance-id>/``: that instance's files only: ``root.qcow2`` (a
  qcow2 overlay on the raw base, ``qemu-img create -b base -F raw``), an optional
  empty sparse ``ephemeral.raw``, and ``console.log``;
- ``spare/<image-id>.qcow2``: the next overlay of that image, made ahead of time
  (``prepare_spare``) and renamed into the next instance's directory.

Removing an instance removes exactly its directory. It never writes a base image
after it is cached and never touches paths outside its root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ImageCache", "StagedInstance"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"not a valid image or instance id: {value!r}")
    return value


@dataclass(frozen=True)
class StagedInstance:
    """The files of one instance, ready for its domain definition."""

    directory: Path
    root: Path
    ephemeral: Path | None
    console_log: Path
    ephemeral_format: Literal["raw", "qcow2"] = "raw"


class ImageCache:
    """A node's base images and per-instance overlays under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._spare_lock = threading.Lock()

    def base_path(self, image_id: str) -> Path:
        return self.root / "base" / _check_id(image_id)

    def instance_dir(self, instance_id: str) -> Path:
        return self.root / "instances" / _check_id(instance_id)

    def ensure_base(self, image_id: str, source: Path) -> Path:
        """The cached base for ``image_id``, copied from ``source`` on first use."""
        dest = self.base_path(image_id)
        if dest.exists():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
        subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(source), str(tmp)],
                       check=True, capture_output=True)
        tmp.chmod(0o400)
        tmp.replace(dest)
        return dest

    def stage_instance(self, instance_id: str, image_id: str | None, *,
                       root_size_mib: int | None = None,
                       ephemeral_mib: int = 0) -> StagedInstance:
        """Create the instance's overlay (and ephemeral disk); idempotent.

        The base for ``image_id`` must already be cached (``ensure_base``). With
        ``image_id`` None (the root disk is an EBS volume) no overlay is made and
        ``root`` names a file that does not exist.
        """
        base = self.base_path(image_id) if image_id is not None else None
        if base is not None and not base.exists():
            raise FileNotFoundError(f"image {image_id} is not cached")
        directory = self.instance_dir(instance_id)
        directory.mkdir(parents=True, exist_ok=True)
        root = directory / "root.qcow2"
        if base is not None and not root.exists() and root_size_mib is None \
                and image_id is not None and self._take_spare(image_id, root):
            pass  # a prepared overlay: no qemu-img on the launch path
        elif base is not None and not root.exists():
            cmd = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw",
                   str(root.with_suffix(".tmp"))]
            if root_size_mib is not None:
                cmd.append(f"{root_size_mib}M")
            subprocess.run(cmd, check=True, capture_output=True)
            root.with_suffix(".tmp").replace(root)
        ephemeral: Path | None = None
        ephemeral_format: Literal["raw", "qcow2"] = "raw"
        if ephemeral_mib > 0:
            ephemeral = directory / "ephemeral.qcow2"  # staged by an older version
            if ephemeral.exists():
                ephemeral_format = "qcow2"
            else:  # a sparse raw file: allocated as the guest writes, no qemu-img
                ephemeral = directory / "ephemeral.raw"
                if not ephemeral.exists():
                    tmp = directory / "ephemeral.tmp"
                    with open(tmp, "wb") as f:
                        f.truncate(ephemeral_mib * 1024 * 1024)
                    tmp.replace(ephemeral)
        console = directory / "console.log"
        console.touch()
        return StagedInstance(directory, root, ephemeral, console, ephemeral_format)

    def spare_path(self, image_id: str) -> Path:
        return self.root / "spare" / f"{_check_id(image_id)}.qcow2"

    def prepare_spare(self, image_id: str) -> None:
        """Create the next overlay for ``image_id`` ahead of its launch (idempotent).

        ``stage_instance`` renames it into the instance's directory, which takes
        the ``qemu-img create`` off the launch path. Temp files of a dead process
        are removed first.
        """
        base = self.base_path(image_id)
        spare = self.spare_path(image_id)
        if spare.exists() or not base.exists():
            return
        spare.parent.mkdir(parents=True, exist_ok=True)
        with self._spare_lock:
            for stale in spare.parent.glob(f".{spare.name}.tmp*"):
                stale.unlink(missing_ok=True)
            tmp = spare.with_name(f".{spare.name}.tmp{os.getpid()}")
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base),
                            "-F", "raw", str(tmp)], check=True, capture_output=True)
            tmp.replace(spare)

    def _take_spare(self, image_id: str, root: Path) -> bool:
        try:
            self.spare_path(image_id).replace(root)  # atomic: one taker wins
        except FileNotFoundError:
            return False
        return True

    def remove_instance(self, instance_id: str) -> None:
        """Remove every file of the instance; a no-op when already gone."""
        shutil.rmtree(self.instance_dir(instance_id), ignore_errors=True)

    def staged_instances(self) -> list[str]:
        """Instance ids that have files here (for orphan cleanup on resync)."""
        directory = self.root / "instances"
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.is_dir())
