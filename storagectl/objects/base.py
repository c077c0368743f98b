"""The blob store contract for S3 object data.

Owns: the abstract :class:`BlobStore` every object backend implements, the
records it returns and the errors it raises. The S3 API layer keeps all
metadata (buckets, keys, versions, ACLs) in SQL and only hands opaque blob ids
and byte streams to a blob store.

Must not: know about buckets, keys or HTTP; import ``cloudctl``.

Contract, for every implementation:

* ``put`` streams: memory stays flat whatever the size. It is atomic (the blob
  is complete or absent, never partial, including after a crash or a
  cancelled task) and durable when it returns. Putting an existing id replaces
  it atomically.
* ``open`` checks existence at once (so a caller can answer 404 before it
  starts a response) and returns a :class:`BlobReader`; ranges are Python
  slices: ``start`` inclusive, ``end`` exclusive, clamped to the size.
* ``delete`` and ``abort`` are idempotent.
* ``complete`` makes one logical blob from uploaded parts (possibly a manifest
  over them, without copying) and may be repeated with the same arguments
  until ``abort(upload_id)`` is called; ``abort`` after ``complete`` only drops
  what the blob does not use.
* ``sweep`` removes leftovers of interrupted writes older than a threshold;
  ``list_ids``/``list_uploads`` let a caller find blobs/uploads SQL no longer
  references.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

MAX_PART_NUMBER = 10_000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")


class BlobStoreError(Exception):
    """Base of every error a blob store raises on purpose."""


class BlobNotFound(BlobStoreError, KeyError):
    """No blob with that id."""


class UploadNotFound(BlobStoreError, KeyError):
    """No multipart upload (or no such part in it)."""


class InvalidRange(BlobStoreError, ValueError):
    """The requested range starts beyond the end of the blob."""


class BadDigest(BlobStoreError, ValueError):
    """The data did not match the expected MD5 or size; nothing was stored."""


@dataclass(frozen=True)
class BlobInfo:
    """What a stored blob (or part) is.

    ``md5_hex`` is the MD5 of the bytes for ``put``/``put_part``; for a blob
    made by ``complete`` it is the S3 multipart form: MD5 of the concatenated
    binary part MD5s, followed by ``-<number of parts>``. ``sha256_hex`` is set
    when the caller asked for it (``put`` with ``sha256=True``).
    """

    size: int
    md5_hex: str
    sha256_hex: str | None = None
    parts: int = 0


class BlobReader(AsyncIterator[bytes], abc.ABC):
    """An open, ranged read of one blob: an async iterator of byte chunks."""

    def __init__(self, blob_size: int, start: int, end: int) -> None:
        self.blob_size = blob_size
        self.start = start
        self.end = end

    @property
    def length(self) -> int:
        """How many bytes the iteration yields in total."""
        return self.end - self.start

    def __aiter__(self) -> BlobReader:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> bytes: ...

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what the reader holds; safe to call twice."""


class BlobStore(abc.ABC):
    """Blob data storage; see the module docstring for the contract."""

    @abc.abstractmethod
    async def put(self, blob_id: str, chunks: AsyncIterator[bytes], *,
                  sha256: bool = False, expected_md5: str | None = None,
                  expected_size: int | None = None) -> BlobInfo:
        """Store the streamed bytes under ``blob_id``, atomically and durably.

        Raises :class:`BadDigest` (storing nothing) when ``expected_md5`` or
        ``expected_size`` is given and does not match.
        """

    @abc.abstractmethod
    async def open(self, blob_id: str, start: int | None = None,
                   end: int | None = None) -> BlobReader:
        """Open ``blob_id`` for reading ``[start, end)``.

        Raises :class:`BlobNotFound` or :class:`InvalidRange` (start > size).
        """

    async def read(self, blob_id: str, start: int | None = None,
                   end: int | None = None) -> bytes:
        """``[start, end)`` of ``blob_id`` in memory: for small ranges only.

        Raises like :meth:`open`. Stores override it to read in one call.
        """
        reader = await self.open(blob_id, start, end)
        try:
            return b"".join([chunk async for chunk in reader])
        finally:
            await reader.aclose()

    @abc.abstractmethod
    async def size(self, blob_id: str) -> int:
        """Size in bytes; raises :class:`BlobNotFound`."""

    @abc.abstractmethod
    async def delete(self, blob_id: str) -> None:
        """Remove the blob; no error when it does not exist."""

    @abc.abstractmethod
    def list_ids(self) -> AsyncIterator[str]:
        """Every blob id this store holds, in no particular order."""

    @abc.abstractmethod
    async def put_part(self, upload_id: str, part_number: int,
                       chunks: AsyncIterator[bytes], *,
                       expected_md5: str | None = None,
                       expected_size: int | None = None) -> BlobInfo:
        """Store one part (1..10000) of a multipart upload; replaces a previous one."""

    @abc.abstractmethod
    async def complete(self, upload_id: str, blob_id: str,
                       part_numbers: Sequence[int]) -> BlobInfo:
        """Make ``blob_id`` the concatenation of the listed parts, in that order.

        Raises :class:`UploadNotFound` when the upload or a listed part is missing.
        """

    @abc.abstractmethod
    async def abort(self, upload_id: str) -> None:
        """Drop the upload's parts (except those a completed blob uses)."""

    @abc.abstractmethod
    def list_uploads(self) -> AsyncIterator[str]:
        """Every upload id with parts or a completion record in this store."""

    @abc.abstractmethod
    async def sweep(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of interrupted writes older than ``older_than`` s.

        Returns how many leftovers were removed.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store is unusable afterwards."""


def check_id(kind: str, value: str) -> str:
    """Validate a blob or upload id: 1-200 of ``[A-Za-z0-9_.-]``, no leading dot."""
    if not _ID_RE.match(value):
        raise ValueError(f"invalid {kind} id {value!r}")
    return value


def check_part_number(part_number: int) -> int:
    """Validate an S3 part number (1..10000)."""
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise ValueError(f"part number {part_number} outside 1..{MAX_PART_NUMBER}")
    return part_number


def clamp_range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Resolve a ``[start, end)`` request against a blob of ``size`` bytes."""
    lo = 0 if start is None else start
    hi = size if end is None else min(end, size)
    if lo < 0 or (end is not None and end < lo):
        raise ValueError(f"bad range [{start}, {end})")
    if lo > size or (lo == size and size > 0):
        raise InvalidRange(f"range starts at {lo}, blob has {size} bytes")
    return lo, hi


def multipart_etag(part_md5s: Sequence[str]) -> str:
    """The S3 ETag of a multipart object from its parts' hex MD5s."""
    digest = hashlib.md5(b"".join(bytes.fromhex(m) for m in part_md5s))
    return f"{digest.hexdigest()}-{len(part_md5s)}"


def check_digest(info: BlobInfo, expected_md5: str | None,
                 expected_size: int | None) -> None:
    """Raise :class:`BadDigest` when ``info`` does not match the expectations."""
    if expected_size is not None and info.size != expected_size:
        raise BadDigest(f"got {info.size} bytes, expected {expected_size}")
    if expected_md5 is not None and info.md5_hex != expected_md5.lower():
        raise BadDigest(f"MD5 {info.md5_hex} does not match {expected_md5}")
