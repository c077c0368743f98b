"""Stream helpers shared by the blob stores: re-chunking and digests.

Owns: turning a caller's async stream of arbitrary chunks into bounded
buffers (joined, or as uncopied lists of chunks), and the MD5/SHA-256
computation over them. Must not hold more than one buffer of data at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from storagectl.objects.base import BlobInfo


async def rebuffer(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """Yield the stream's bytes in buffers of exactly ``size`` (the last may be short)."""
    buf = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        if not buf and len(chunk) == size:
            yield chunk  # already the right size: no copy
            continue
        buf += chunk
        while len(buf) >= size:
            out = bytes(buf[:size])
            del buf[:size]
            yield out
    if buf:
        yield bytes(buf)


async def batches(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[list[bytes]]:
    """Group the stream's chunks, uncopied, into lists of at least ``size`` bytes (the
    last may be smaller): for ``writev`` and hashing without joining buffers."""
    batch: list[bytes] = []
    total = 0
    async for chunk in chunks:
        if not chunk:
            continue
        batch.append(chunk)
        total += len(chunk)
        if total >= size:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


class Digests:
    """Running size, MD5 and optional SHA-256 of a byte stream.

    ``update`` may run in a worker thread: hashlib releases the GIL for
    large buffers.
    """

    def __init__(self, sha256: bool = False) -> None:
        self.size = 0
        self._md5 = hashlib.md5()
        self._sha: Any = hashlib.sha256() if sha256 else None

    def update(self, data: bytes) -> None:
        """Account for ``data``."""
        self.size += len(data)
        self._md5.update(data)
        if self._sha is not None:
            self._sha.update(data)

    def info(self) -> BlobInfo:
        """The :class:`BlobInfo` of everything seen so far."""
        sha = self._sha.hexdigest() if self._sha is not None else None
        return BlobInfo(size=self.size, md5_hex=self._md5.hexdigest(), sha256_hex=sha)
