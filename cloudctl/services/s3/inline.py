"""Where an object's bytes go: inline in its version row when small, else a blob.

Owns the choice between the two (``objectstorage.inline_max_bytes``), writing the
bytes to the chosen place, and reading inline bytes back. An inline object is one
row: its PUT is a single database commit (no blob write with its own fsync round,
no rename, no directory fsync, nothing for the orphan sweep), its GET the one
``SELECT`` that finds the row. Large objects stream to the blob store as before;
an upload without a declared size is read up to the limit first and continues as a
blob stream when it turns out larger (memory stays one limit's worth).

Inline bytes are stored as the blob would be: encrypted (AES-CTR segment 0) when
the object is, so the row holds no plaintext of an encrypted object. Durability is
the row's: the commit that makes an inline object visible is the one that stores
its bytes, so no crash can show one without the other.

Must not: hold more than ``limit`` bytes of an upload in memory; load inline bytes
for multi-row reads (the column is deferred in the ORM).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select

from cloudctl.auth.secrets import SecretBox
from cloudctl.services.s3 import sse
from cloudctl.services.s3.base import AnySession, opened
from cloudctl.services.s3.models import S3Object
from cloudctl.services.s3.store import new_blob_id
from storagectl.objects import BadDigest, BlobReader, BlobStore


@dataclass(frozen=True)
class Stored:
    """Where an upload's bytes went: ``blob_id`` or ``inline_data`` (neither when empty)."""

    blob_id: str | None
    inline_data: bytes | None
    size: int
    md5_hex: str  # of the plaintext: the ETag of a single-part object


async def gather(chunks: AsyncIterator[bytes],
                 limit: int) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """Read up to ``limit`` bytes: (all of it, None) when the stream ended within the
    limit, else (b"", a stream that yields what was read and then the rest)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"", _chain(parts, chunks)
    return b"".join(parts), None


async def _chain(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    head.clear()
    async for chunk in rest:
        yield chunk


async def store(blobs: BlobStore, chunks: AsyncIterator[bytes] | None, *, limit: int,
                declared_size: int | None, expected_md5: str | None,
                data_key: sse.DataKey | None, whole: bytes | None = None) -> Stored:
    """Store an upload's plaintext ``chunks`` inline or as a new blob (``whole``: all
    of it, already read because it fits ``limit``: inline); see the module doc.

    Raises :class:`BadDigest` (nothing stored) when ``expected_md5`` does not match.
    """
    if whole is not None:  # the caller read it because it fits the limit
        return _inline(whole, expected_md5, data_key)
    assert chunks is not None
    if limit and (declared_size is None or declared_size <= limit):
        data, rest = await gather(chunks, limit)
        if rest is None:
            return _inline(data, expected_md5, data_key)
        chunks = rest
    blob_id = new_blob_id()
    encrypting = sse.Encrypting(data_key) if data_key is not None else None
    info = await blobs.put(blob_id, encrypting.wrap(chunks) if encrypting else chunks,
                           expected_md5=None if encrypting else expected_md5)
    md5 = encrypting.md5.hexdigest() if encrypting else info.md5_hex
    if expected_md5 is not None and expected_md5 != md5:
        with contextlib.suppress(Exception):
            await blobs.delete(blob_id)
        raise BadDigest("Content-MD5 mismatch")
    return Stored(blob_id, None, info.size, md5)


def _inline(data: bytes, expected_md5: str | None, data_key: sse.DataKey | None) -> Stored:
    md5 = hashlib.md5(data).hexdigest()
    if expected_md5 is not None and expected_md5 != md5:
        raise BadDigest("Content-MD5 mismatch")
    if not data:
        return Stored(None, None, 0, md5)
    body = data_key.transform(0, 0, data) if data_key is not None else data
    return Stored(None, body, len(data), md5)


def is_inline(row: S3Object) -> bool:
    """Whether the version's bytes live in its row."""
    return row.blob_id is None and row.size > 0 and not row.delete_marker


async def data_of(session: AnySession, row: S3Object) -> bytes:
    """The stored (maybe encrypted) inline bytes of ``row``, loading them if deferred."""
    if "inline_data" in row.__dict__:  # loaded (or set when the row was built)
        return row.inline_data or b""
    data = await opened(session).scalar(
        select(S3Object.inline_data).where(S3Object.seq == row.seq))
    return data or b""


class MemoryReader(BlobReader):
    """A :class:`BlobReader` over bytes already in memory (an inline object's)."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        super().__init__(len(data), start, end)
        self._data: bytes | None = data[start:end]

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if not data:
            raise StopAsyncIteration
        return data

    async def aclose(self) -> None:
        self._data = None


def reader(data: bytes, start: int, end: int, secrets: SecretBox,
           sse_key: str | None) -> BlobReader:
    """A plaintext reader of ``[start, end)`` of stored inline bytes."""
    plain: BlobReader = MemoryReader(data, start, end)
    if sse_key:
        data_key, segments = sse.load(secrets, sse_key)
        plain = sse.DecryptingReader(plain, data_key, segments)
    return plain


async def read(data: bytes, start: int, end: int, secrets: SecretBox,
               sse_key: str | None) -> bytes:
    """The plaintext of ``[start, end)`` of stored inline bytes."""
    if not sse_key:
        return data[start:end]
    return b"".join([chunk async for chunk in reader(data, start, end, secrets, sse_key)])
