"""The block backend contract for EBS volumes and snapshots.

Owns: the abstract :class:`BlockBackend` every block backend implements and
its errors. A backend owns only the volumes and snapshots under its name
prefix and never touches anything else in its directory or pool.

Contract, for every implementation:

* Every call is idempotent: repeating it after a crash at any point, or after
  it succeeded, converges to the same state without error (create of an
  existing volume/snapshot is a no-op, delete of a missing one too).
* Snapshots are independent of their volume: a volume may be deleted while
  its snapshots live on, and a snapshot may be deleted while volumes created
  from it live on.
* ``create_snapshot`` calls ``progress`` with percentages (ending with 100).
* ``attachment`` describes how a hypervisor (libvirt/QEMU) reaches the volume.
* Calls never block the event loop.

Must not: import ``cloudctl``; know about instances or attachments state.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from typing import Any

GIB = 1 << 30
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")

Progress = Callable[[int], None]


class BlockBackendError(Exception):
    """Base of every error a block backend raises on purpose."""


class VolumeNotFound(BlockBackendError, KeyError):
    """No volume with that id."""


class SnapshotNotFound(BlockBackendError, KeyError):
    """No snapshot with that id."""


class InvalidSize(BlockBackendError, ValueError):
    """The size is not allowed (shrinking, or smaller than the snapshot)."""


def check_id(kind: str, value: str) -> str:
    """Validate a volume or snapshot id: 1-100 of ``[A-Za-z0-9_.-]``."""
    if not _ID_RE.match(value):
        raise ValueError(f"invalid {kind} id {value!r}")
    return value


class BlockBackend(abc.ABC):
    """Volumes and snapshots; see the module docstring for the contract."""

    @abc.abstractmethod
    async def create_volume(self, volume_id: str, size_gib: int) -> None:
        """Create an empty (zeroed, thin) volume."""

    @abc.abstractmethod
    async def create_volume_from_snapshot(self, volume_id: str, snapshot_id: str,
                                          size_gib: int) -> None:
        """Create a volume with the snapshot's content, at least the snapshot's size.

        Raises :class:`SnapshotNotFound` or :class:`InvalidSize`.
        """

    @abc.abstractmethod
    async def delete_volume(self, volume_id: str) -> None:
        """Remove the volume; its snapshots stay."""

    @abc.abstractmethod
    async def resize_volume(self, volume_id: str, size_gib: int) -> None:
        """Grow the volume (no-op at the same size; :class:`InvalidSize` to shrink)."""

    @abc.abstractmethod
    async def volume_size(self, volume_id: str) -> int:
        """Size in bytes; raises :class:`VolumeNotFound`."""

    @abc.abstractmethod
    async def create_snapshot(self, volume_id: str, snapshot_id: str,
                              progress: Progress | None = None) -> None:
        """Take a point-in-time copy of the volume; raises :class:`VolumeNotFound`."""

    @abc.abstractmethod
    async def delete_snapshot(self, snapshot_id: str) -> None:
        """Remove the snapshot; volumes created from it stay intact."""

    @abc.abstractmethod
    async def volume_exists(self, volume_id: str) -> bool:
        """Whether this backend holds the volume."""

    @abc.abstractmethod
    async def snapshot_exists(self, snapshot_id: str) -> bool:
        """Whether this backend holds the (complete) snapshot."""

    @abc.abstractmethod
    async def list_volumes(self) -> list[str]:
        """Ids of the volumes this backend owns."""

    @abc.abstractmethod
    async def list_snapshots(self) -> list[str]:
        """Ids of the complete snapshots this backend owns."""

    @abc.abstractmethod
    async def attachment(self, volume_id: str) -> dict[str, Any]:
        """How to attach: ``{"type": "file", ...}`` or ``{"type": "rbd", ...}``."""

    async def shareable_attachment(self, volume_id: str) -> dict[str, Any]:
        """``attachment`` of a volume several guests open read-write at once (EBS
        Multi-Attach): a backend whose volume format QEMU cannot share converts it
        first. Called only while no guest has the volume open."""
        return await self.attachment(volume_id)

    @abc.abstractmethod
    async def read(self, volume_id: str, offset: int, length: int) -> bytes:
        """Read bytes from a volume (for tests, verification and image staging)."""

    @abc.abstractmethod
    async def write(self, volume_id: str, offset: int, data: bytes) -> None:
        """Write bytes into a detached volume (image staging, tests)."""

    @abc.abstractmethod
    async def snapshot_extents(self, snapshot_id: str) -> tuple[int, list[tuple[int, int]]]:
        """The snapshot's size in bytes and its allocated extents ``(offset, length)``
        (everything else reads as zeroes): what a copy to another backend must carry.

        Raises :class:`SnapshotNotFound`.
        """

    @abc.abstractmethod
    async def read_snapshot(self, snapshot_id: str, offset: int, length: int) -> bytes:
        """Read bytes of a complete snapshot; raises :class:`SnapshotNotFound`."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the backend is unusable afterwards."""
