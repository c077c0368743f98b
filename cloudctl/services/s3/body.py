"""Request payloads of object uploads: decoding, limits, digests and checksums.

Owns turning ``wire.stream`` into the object's bytes: plain bodies up to
``Content-Length``; aws-chunked bodies (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``,
every chunk signature checked, and the unsigned ``...-TRAILER`` form boto3 sends
with a trailing checksum); the declared SHA-256 of a signed payload; Content-MD5
(checked by the blob store, which then stores nothing); and the
``x-amz-checksum-*`` values (CRC32, CRC32C, SHA1, SHA256), computed while streaming.
Memory stays one chunk whatever the size.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator
from typing import Any

from cloudctl.auth import ChunkedBody, ChunkSignatureVerifier
from cloudctl.auth.result import AuthResult
from cloudctl.protocol.wire import BodyStream
from cloudctl.server.context import RequestContext
from cloudctl.services.s3.errors import invalid_argument, s3_error

ALGORITHMS = ("CRC32", "CRC32C", "SHA1", "SHA256")
_THREAD_MIN = 256 << 10


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


class _Crc:
    def __init__(self, castagnoli: bool) -> None:
        self.value = 0
        self.castagnoli = castagnoli

    def update(self, data: bytes) -> None:
        if not self.castagnoli:
            self.value = zlib.crc32(data, self.value)
            return
        crc = self.value ^ 0xFFFFFFFF
        table = _CRC32C
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self.value = crc ^ 0xFFFFFFFF

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def new_checksum(algorithm: str) -> Any:
    if algorithm == "CRC32":
        return _Crc(False)
    if algorithm == "CRC32C":
        return _Crc(True)
    if algorithm == "SHA1":
        return hashlib.sha1()
    return hashlib.sha256()


def content_md5_hex(value: str | None) -> str | None:
    """The hex MD5 of a Content-MD5 header; InvalidDigest when malformed."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise s3_error("InvalidDigest", "The Content-MD5 you specified was invalid.",
                       Content_MD5=value)
    return raw.hex()


class Payload:
    """The decoded bytes of one upload, with everything to verify once streamed."""

    def __init__(self, ctx: RequestContext, params: dict[str, Any], max_bytes: int) -> None:
        stream = params.get("Body")
        wire = ctx.wire
        self.auth: AuthResult | None = ctx.extra.get("auth")
        sha_decl = (wire.header("x-amz-content-sha256") or "").strip()
        encoding = (wire.header("Content-Encoding") or "").lower()
        self.chunked: ChunkedBody | None = None
        length_text = wire.header("Content-Length")
        if sha_decl.startswith("STREAMING-") or "aws-chunked" in encoding:
            length_text = wire.header("x-amz-decoded-content-length") or None
        self.declared_size = int(length_text) if length_text and length_text.isdigit() else None
        if self.declared_size is not None and self.declared_size > max_bytes:
            raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                           "size", MaxSizeAllowed=max_bytes, ProposedSize=self.declared_size)
        self.max_bytes = max_bytes
        self.size = 0
        self._stream: BodyStream | None = stream if hasattr(stream, "read") else None
        self._bytes = stream if isinstance(stream, bytes | bytearray) else b""
        if sha_decl.startswith("STREAMING-") and self._stream is not None:
            verifier = None
            if sha_decl.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
                if self.auth is None or self.auth.sigv4 is None:
                    raise s3_error("InvalidRequest", "aws-chunked signed payload requires a "
                                   "SigV4 signature")
                verifier = ChunkSignatureVerifier(self.auth.sigv4)
            self.chunked = ChunkedBody(
                self._stream, verifier,
                signed_trailer=sha_decl == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
        self.sha256_expected = sha_decl.lower() if len(sha_decl) == 64 else None
        if self.auth is not None and self.auth.content_sha256 is None and self._stream is None:
            self.sha256_expected = None  # the auth layer checked the whole body already
        self.expected_md5 = content_md5_hex(params.get("ContentMD5"))
        self.checksums: dict[str, Any] = {}
        self.claimed: dict[str, str] = {}
        for algorithm in ALGORITHMS:
            value = params.get(f"Checksum{algorithm}")
            if value:
                self.claimed[algorithm] = str(value)
                self.checksums[algorithm] = new_checksum(algorithm)
        trailer = (wire.header("x-amz-trailer") or "").lower()
        if trailer.startswith("x-amz-checksum-"):
            algorithm = trailer[len("x-amz-checksum-"):].upper()
            if algorithm not in ALGORITHMS:
                raise invalid_argument("Invalid trailer checksum", "x-amz-trailer", trailer)
            self.checksums[algorithm] = new_checksum(algorithm)
        requested = str(params.get("ChecksumAlgorithm") or "").upper()
        if requested in ALGORITHMS and requested not in self.checksums:
            self.checksums[requested] = new_checksum(requested)
        self._sha = hashlib.sha256() if self.sha256_expected else None

    def _digest(self, data: bytes) -> None:
        if self._sha is not None:
            self._sha.update(data)
        for state in self.checksums.values():
            state.update(data)

    async def read_small(self, limit: int) -> bytes | None:
        """The whole payload when it is a plain body of a declared size up to ``limit``
        (one read, no stream of chunks); None otherwise (use :meth:`chunks`)."""
        if self.chunked is not None or self.declared_size is None \
                or self.declared_size > limit:
            return None
        if self._stream is None:
            data = bytes(self._bytes)
        else:
            data = await self._stream.read(self.declared_size)
            while len(data) < self.declared_size:
                more = await self._stream.read(self.declared_size - len(data))
                if not more:
                    break  # verify() answers IncompleteBody
                data += more
        self.size = len(data)
        if self._sha is not None or self.checksums:
            self._digest(data)
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        """The payload bytes, as they arrive."""
        source: AsyncIterator[bytes]
        if self.chunked is not None:
            source = self.chunked.__aiter__()
        elif self._stream is not None:
            source = self._raw()
        else:
            source = self._once()
        threaded = self._sha is not None or bool(self.checksums)
        async for chunk in source:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum "
                               "allowed size", MaxSizeAllowed=self.max_bytes)
            if threaded:
                if len(chunk) >= _THREAD_MIN:
                    await asyncio.to_thread(self._digest, chunk)
                else:
                    self._digest(chunk)
            yield chunk

    async def _once(self) -> AsyncIterator[bytes]:
        if self._bytes:
            yield bytes(self._bytes)

    async def _raw(self) -> AsyncIterator[bytes]:
        assert self._stream is not None
        remaining = self.declared_size
        while remaining is None or remaining > 0:
            want = 1 << 20 if remaining is None else min(1 << 20, remaining)
            data = await self._stream.read(want)
            if not data:
                break
            if remaining is not None:
                remaining -= len(data)
            yield data
        if remaining:
            raise s3_error("IncompleteBody", "You did not provide the number of bytes specified "
                           "by the Content-Length HTTP header")

    def verify(self) -> dict[str, str]:
        """Check digests after the stream ended; the base64 checksums to record."""
        if self.declared_size is not None and self.size != self.declared_size:
            raise s3_error("IncompleteBody", "You did not provide the number of bytes specified "
                           "by the Content-Length HTTP header")
        if self._sha is not None and self._sha.hexdigest() != self.sha256_expected:
            raise s3_error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                           "header does not match what was computed.",
                           ClientComputedContentSHA256=self.sha256_expected,
                           S3ComputedContentSHA256=self._sha.hexdigest())
        claimed = dict(self.claimed)
        if self.chunked is not None:
            for name, value in self.chunked.trailers.items():
                if name.startswith("x-amz-checksum-"):
                    claimed[name[len("x-amz-checksum-"):].upper()] = value
        computed: dict[str, str] = {}
        for algorithm, state in self.checksums.items():
            value = base64.b64encode(state.digest()).decode()
            if algorithm in claimed and claimed[algorithm] != value:
                raise s3_error("BadDigest", f"The {algorithm} you specified did not match the "
                               "calculated checksum.")
            computed[algorithm] = value
        return computed
