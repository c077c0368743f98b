"""Object (S3 blob data) backends of the storage agent.

Owns: choosing and building a :class:`BlobStore` from configuration. The
Ceph backend is imported only when asked for, so the file backend works on
hosts without the Ceph bindings.
"""

from __future__ import annotations

from typing import Any, Literal

from storagectl.objects.base import (
    BadDigest,
    BlobInfo,
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobStoreError,
    InvalidRange,
    UploadNotFound,
)

__all__ = [
    "BadDigest",
    "BlobInfo",
    "BlobNotFound",
    "BlobReader",
    "BlobStore",
    "BlobStoreError",
    "InvalidRange",
    "UploadNotFound",
    "open_blob_store",
]


def open_blob_store(kind: Literal["file", "ceph-rados"], **config: Any) -> BlobStore:
    """Build a blob store.

    ``file``: ``root`` (directory), optional ``chunk_size``.
    ``ceph-rados``: ``pool``, optional ``conffile``, ``client_name``,
    ``keyring``, ``namespace``, ``stripe_size`` (default 4 MiB), ``chunk_size``.
    Connecting to Ceph happens on first use, in a worker thread.
    """
    if kind == "file":
        from storagectl.objects.file import FileBlobStore

        return FileBlobStore(**config)
    if kind == "ceph-rados":
        from storagectl.objects.rados import RadosBlobStore

        return RadosBlobStore(**config)
    raise ValueError(f"unknown blob store kind {kind!r}")
