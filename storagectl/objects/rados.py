"""The scale-out blob store: blobs striped over Ceph RADOS objects.

Owns, in its pool (and optional RADOS namespace), only objects with these
prefixes::

    blob.<blob_id>                     head: JSON manifest (size, digests, segments)
    data.<blob_id>.<gen>.<nnnnnn>      stripes of a put (``stripe_size`` each)
    upload.<upload_id>                 omap index: part number -> part manifest,
                                       "complete" -> completion record
    part.<upload_id>.<n>.<gen>.<nnnnnn> stripes of a multipart part

A put writes fresh stripes under a new random ``gen`` and then replaces the
head in one ``write_full`` (atomic in RADOS): readers see the old blob or the
new one. ``complete`` writes a head whose segments are the parts' stripes, so
no data is copied. ``delete`` removes stripes before the head, so a crash
mid-delete leaves a head that a repeated delete finishes. Stripes without a
head (a crash mid-put) are invisible and removed by ``sweep``.

Must not: touch objects outside those prefixes; call librados on the event
loop (every call runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import rados

from storagectl.cephconn import PoolConnection
from storagectl.objects._stream import Digests, rebuffer
from storagectl.objects.base import (
    BlobInfo,
    BlobNotFound,
    BlobReader,
    BlobStore,
    UploadNotFound,
    check_digest,
    check_id,
    check_part_number,
    clamp_range,
    multipart_etag,
)

_MAX_HEAD = 64 << 20
_COMPLETE_KEY = "complete"


def _stripe_names(prefix: str, size: int, stripe: int) -> list[str]:
    return [f"{prefix}.{i:06d}" for i in range((size + stripe - 1) // stripe)]


class _RadosReader(BlobReader):
    def __init__(self, store: RadosBlobStore, manifest: dict[str, Any],
                 start: int, end: int) -> None:
        super().__init__(manifest["size"], start, end)
        self._store = store
        self._stripe: int = manifest["stripe"]
        self._segments: list[dict[str, Any]] = manifest["segments"]
        self._pos = start
        self._closed = False

    def _locate(self, pos: int) -> tuple[str, int, int]:
        """(object name, offset in it, bytes left in it) for logical ``pos``."""
        base = 0
        for seg in self._segments:
            if pos < base + seg["size"]:
                inner = pos - base
                index, offset = divmod(inner, self._stripe)
                in_obj = min(self._stripe, seg["size"] - index * self._stripe) - offset
                return f"{seg['prefix']}.{index:06d}", offset, in_obj
            base += seg["size"]
        raise EOFError(pos)

    async def __anext__(self) -> bytes:
        if self._closed or self._pos >= self.end:
            self._closed = True
            raise StopAsyncIteration
        name, offset, in_obj = self._locate(self._pos)
        n = min(self._store.chunk_size, in_obj, self.end - self._pos)
        try:
            data: bytes = await self._store._call(lambda io: io.read(name, n, offset))
        except rados.ObjectNotFound:
            data = b""
        if len(data) != n:
            raise BlobNotFound(f"stripe {name} is short: blob was replaced or deleted")
        self._pos += n
        return data

    async def aclose(self) -> None:
        self._closed = True


class RadosBlobStore(BlobStore):
    """Blobs in a RADOS pool; see the module docstring."""

    def __init__(self, *, pool: str, conffile: str | None = None,
                 client_name: str = "client.admin", keyring: str | None = None,
                 namespace: str = "", stripe_size: int = 4 << 20,
                 chunk_size: int = 1 << 20, connect_timeout: int = 30) -> None:
        self.pool = pool
        self.namespace = namespace
        self.stripe_size = stripe_size
        self.chunk_size = chunk_size
        self._conn = PoolConnection(pool=pool, conffile=conffile, client_name=client_name,
                                    keyring=keyring, namespace=namespace,
                                    connect_timeout=connect_timeout)

    # -- connection --------------------------------------------------------

    async def _io(self) -> Any:
        return await self._conn.ioctx()

    async def _call(self, fn: Any) -> Any:
        return await self._conn.call(fn)

    async def close(self) -> None:
        await self._conn.close()

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _remove_all(io: Any, names: Iterable[str]) -> None:
        for name in names:
            with contextlib.suppress(rados.ObjectNotFound):
                io.remove_object(name)

    @staticmethod
    def _read_head(io: Any, blob_id: str) -> dict[str, Any] | None:
        try:
            raw = io.read(f"blob.{blob_id}", _MAX_HEAD, 0)
        except rados.ObjectNotFound:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data

    def _segment_objects(self, manifest: dict[str, Any]) -> list[str]:
        names: list[str] = []
        for seg in manifest["segments"]:
            names += _stripe_names(seg["prefix"], seg["size"], manifest["stripe"])
        return names

    async def _write_stripes(self, prefix: str, chunks: AsyncIterator[bytes],
                             sha256: bool) -> BlobInfo:
        """Write the stream as stripes ``prefix.nnnnnn``; remove them on failure."""
        digests = Digests(sha256)
        io = await self._io()
        written: list[str] = []

        def write(name: str, data: bytes) -> None:
            digests.update(data)
            io.write_full(name, data)

        try:
            async for buf in rebuffer(chunks, self.stripe_size):
                name = f"{prefix}.{len(written):06d}"
                written.append(name)
                await asyncio.to_thread(write, name, buf)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self._remove_all, io, written))
            raise
        return digests.info()

    # -- blobs -------------------------------------------------------------

    async def put(self, blob_id: str, chunks: AsyncIterator[bytes], *,
                  sha256: bool = False, expected_md5: str | None = None,
                  expected_size: int | None = None) -> BlobInfo:
        check_id("blob", blob_id)
        prefix = f"data.{blob_id}.{secrets.token_hex(8)}"
        info = await self._write_stripes(prefix, chunks, sha256)
        manifest = {"v": 1, "size": info.size, "md5": info.md5_hex,
                    "sha256": info.sha256_hex, "parts": 0, "stripe": self.stripe_size,
                    "segments": [{"prefix": prefix, "size": info.size}]}
        try:
            check_digest(info, expected_md5, expected_size)
        except BaseException:
            await self._call(lambda io: self._remove_all(
                io, _stripe_names(prefix, info.size, self.stripe_size)))
            raise
        await self._replace_head(blob_id, manifest)
        return info

    async def _replace_head(self, blob_id: str, manifest: dict[str, Any]) -> None:
        def replace(io: Any) -> None:
            old = self._read_head(io, blob_id)
            io.write_full(f"blob.{blob_id}", json.dumps(manifest).encode())
            if old is not None:
                keep = set(self._segment_objects(manifest))
                self._remove_all(io, [n for n in self._segment_objects(old) if n not in keep])

        await self._call(replace)

    async def _manifest(self, blob_id: str) -> dict[str, Any]:
        check_id("blob", blob_id)
        manifest: dict[str, Any] | None = await self._call(
            lambda io: self._read_head(io, blob_id))
        if manifest is None:
            raise BlobNotFound(blob_id)
        return manifest

    async def open(self, blob_id: str, start: int | None = None,
                   end: int | None = None) -> BlobReader:
        manifest = await self._manifest(blob_id)
        lo, hi = clamp_range(manifest["size"], start, end)
        return _RadosReader(self, manifest, lo, hi)

    async def size(self, blob_id: str) -> int:
        size: int = (await self._manifest(blob_id))["size"]
        return size

    async def delete(self, blob_id: str) -> None:
        check_id("blob", blob_id)

        def delete(io: Any) -> None:
            manifest = self._read_head(io, blob_id)
            if manifest is None:
                return
            self._remove_all(io, self._segment_objects(manifest))
            self._remove_all(io, [f"blob.{blob_id}"])

        await self._call(delete)

    async def _names(self, prefix: str) -> list[str]:
        def names(io: Any) -> list[str]:
            return [o.key for o in io.list_objects() if o.key.startswith(prefix)]

        result: list[str] = await self._call(names)
        return result

    async def list_ids(self) -> AsyncIterator[str]:
        for name in await self._names("blob."):
            yield name[len("blob."):]

    # -- multipart ---------------------------------------------------------

    @staticmethod
    def _read_index(io: Any, upload_id: str) -> dict[str, Any] | None:
        try:
            with rados.ReadOpCtx() as op:
                items, _ = io.get_omap_vals(op, "", "", 100_000)
                io.operate_read_op(op, f"upload.{upload_id}")
                return {k: json.loads(v) for k, v in items}
        except rados.ObjectNotFound:
            return None

    @staticmethod
    def _set_index(io: Any, upload_id: str, key: str, value: Any) -> None:
        with rados.WriteOpCtx() as op:
            io.set_omap(op, (key,), (json.dumps(value).encode(),))
            io.operate_write_op(op, f"upload.{upload_id}")

    async def put_part(self, upload_id: str, part_number: int,
                       chunks: AsyncIterator[bytes], *,
                       expected_md5: str | None = None,
                       expected_size: int | None = None) -> BlobInfo:
        check_id("upload", upload_id)
        key = f"{check_part_number(part_number):05d}"
        prefix = f"part.{upload_id}.{part_number}.{secrets.token_hex(8)}"
        info = await self._write_stripes(prefix, chunks, False)
        stripes = _stripe_names(prefix, info.size, self.stripe_size)
        try:
            check_digest(info, expected_md5, expected_size)
        except BaseException:
            await self._call(lambda io: self._remove_all(io, stripes))
            raise
        part = {"prefix": prefix, "size": info.size, "md5": info.md5_hex,
                "stripe": self.stripe_size}

        def record(io: Any) -> None:
            old = (self._read_index(io, upload_id) or {}).get(key)
            self._set_index(io, upload_id, key, part)
            if old is not None and old["prefix"] != prefix:
                self._remove_all(io, _stripe_names(old["prefix"], old["size"], old["stripe"]))

        await self._call(record)
        return info

    async def complete(self, upload_id: str, blob_id: str,
                       part_numbers: Sequence[int]) -> BlobInfo:
        check_id("upload", upload_id)
        check_id("blob", blob_id)
        if not part_numbers:
            raise ValueError("a multipart upload needs at least one part")
        index = await self._call(lambda io: self._read_index(io, upload_id))
        if index is None:
            raise UploadNotFound(upload_id)
        done = index.get(_COMPLETE_KEY)
        if done is not None and done["blob_id"] == blob_id and done["parts"] == list(part_numbers):
            return BlobInfo(**done["info"])
        parts = []
        for n in part_numbers:
            part = index.get(f"{check_part_number(n):05d}")
            if part is None:
                raise UploadNotFound(f"{upload_id} part {n}")
            if part["stripe"] != self.stripe_size:
                raise ValueError(f"part {n} was written with another stripe size")
            parts.append(part)
        info = BlobInfo(size=sum(p["size"] for p in parts),
                        md5_hex=multipart_etag([p["md5"] for p in parts]), parts=len(parts))
        manifest = {"v": 1, "size": info.size, "md5": info.md5_hex, "sha256": None,
                    "parts": len(parts), "stripe": self.stripe_size,
                    "segments": [{"prefix": p["prefix"], "size": p["size"]} for p in parts]}
        await self._replace_head(blob_id, manifest)
        record = {"blob_id": blob_id, "parts": list(part_numbers), "info": info.__dict__}
        await self._call(lambda io: self._set_index(io, upload_id, _COMPLETE_KEY, record))
        return info

    async def abort(self, upload_id: str) -> None:
        check_id("upload", upload_id)

        def abort(io: Any) -> None:
            index = self._read_index(io, upload_id)
            if index is None:
                return
            done = index.pop(_COMPLETE_KEY, None)
            used = {f"{n:05d}" for n in done["parts"]} if done else set()
            for key, part in index.items():
                if key not in used:
                    self._remove_all(io, _stripe_names(part["prefix"], part["size"],
                                                       part["stripe"]))
            self._remove_all(io, [f"upload.{upload_id}"])

        await self._call(abort)

    async def list_uploads(self) -> AsyncIterator[str]:
        for name in await self._names("upload."):
            yield name[len("upload."):]

    async def sweep(self, older_than: float = 3600.0) -> int:
        """Remove stripes no head or upload index references (crash leftovers)."""

        def sweep(io: Any) -> int:
            cutoff = time.time() - older_than
            keys = [o.key for o in io.list_objects()]
            referenced: set[str] = set()
            for key in keys:
                if key.startswith("blob."):
                    head = self._read_head(io, key[len("blob."):])
                    if head is not None:
                        referenced.update(s["prefix"] for s in head["segments"])
                elif key.startswith("upload."):
                    index = self._read_index(io, key[len("upload."):]) or {}
                    referenced.update(p["prefix"] for k, p in index.items()
                                      if k != _COMPLETE_KEY)
            removed = 0
            for key in keys:
                if not key.startswith(("data.", "part.")):
                    continue
                if key.rsplit(".", 1)[0] in referenced:
                    continue
                with contextlib.suppress(rados.ObjectNotFound):
                    _, mtime = io.stat(key)
                    if time.mktime(mtime) <= cutoff:
                        io.remove_object(key)
                        removed += 1
            return removed

        removed: int = await self._call(sweep)
        return removed
