"""Block (EBS volume) backends of the storage agent.

Owns: choosing and building a :class:`BlockBackend` from configuration. The
RBD backend is imported only when asked for, so the file backend works on
hosts without the Ceph bindings.
"""

from __future__ import annotations

from typing import Any, Literal

from storagectl.blocks.base import (
    GIB,
    BlockBackend,
    BlockBackendError,
    InvalidSize,
    Progress,
    SnapshotNotFound,
    VolumeNotFound,
)

__all__ = [
    "GIB",
    "BlockBackend",
    "BlockBackendError",
    "InvalidSize",
    "Progress",
    "SnapshotNotFound",
    "VolumeNotFound",
    "open_block_backend",
]


def open_block_backend(kind: Literal["file", "ceph-rbd"], **config: Any) -> BlockBackend:
    """Build a block backend.

    ``file``: ``root`` (directory), optional ``qemu_img``, ``qemu_io``.
    ``ceph-rbd``: ``pool``, optional ``conffile``, ``client_name``, ``keyring``,
    ``prefix`` (image name prefix), ``order`` (object size 2**order, default 4 MiB),
    ``client_records`` (a directory of this host's connections: a new one fences those
    of dead processes, see ``storagectl.clientrecords``).
    """
    if kind == "file":
        from storagectl.blocks.file import FileBlockBackend

        return FileBlockBackend(**config)
    if kind == "ceph-rbd":
        from storagectl.blocks.rbd import RbdBlockBackend

        return RbdBlockBackend(**config)
    raise ValueError(f"unknown block backend kind {kind!r}")
