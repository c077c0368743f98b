"""aws-chunked request bodies: chunk signature chaining and decoding.

Owns verifying ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` uploads: each chunk is
signed over the previous chunk's signature, seeded by the request signature
(``SigV4Context``), and the zero-length final chunk closes the chain. With
``...-PAYLOAD-TRAILER`` the trailing headers are signed too: ``x-amz-trailer-signature``
is the HMAC of ``AWS4-HMAC-SHA256-TRAILER``, the date, the scope, the final chunk's
signature and the SHA-256 of the trailing headers (``name:value\n`` each, by name).
It also decodes unsigned aws-chunked bodies (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``)
and returns their trailing headers; checking a trailer checksum is the S3 layer's job.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

from cloudctl.auth.errors import Family, signature_mismatch
from cloudctl.auth.result import SigV4Context
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import BodyStream

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_MAX_LINE = 4096


class ChunkSignatureVerifier:
    """Checks a chain of chunk signatures, starting from the request's seed signature."""

    def __init__(self, context: SigV4Context, *, family: Family = Family.S3) -> None:
        self._key = context.signing_key
        self._prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{context.timestamp}\n{context.scope}\n"
        self._trailer_prefix = f"AWS4-HMAC-SHA256-TRAILER\n{context.timestamp}\n{context.scope}\n"
        self._previous = context.seed_signature
        self._family = family
        self.finished = False

    def expected(self, chunk: bytes) -> str:
        """The signature the next chunk must carry."""
        text = (
            f"{self._prefix}{self._previous}\n{_EMPTY_SHA256}\n{hashlib.sha256(chunk).hexdigest()}"
        )
        return hmac.digest(self._key, text.encode(), "sha256").hex()

    def verify(self, chunk: bytes, signature: str) -> None:
        """Check one chunk (the empty final chunk included) and advance the chain."""
        if self.finished:
            raise _incomplete("Data after the final chunk")
        expected = self.expected(chunk)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise signature_mismatch(self._family, signature=signature)
        self._previous = expected
        if not chunk:
            self.finished = True

    def verify_trailer(self, trailers: dict[str, str], signature: str | None) -> None:
        """Check the signature of the trailing headers (after the final chunk)."""
        if not self.finished:
            raise _incomplete("trailing headers before the final chunk")
        if signature is None:
            raise _incomplete("missing x-amz-trailer-signature")
        canonical = "".join(f"{name}:{trailers[name]}\n" for name in sorted(trailers))
        text = (f"{self._trailer_prefix}{self._previous}\n"
                f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        expected = hmac.digest(self._key, text.encode(), "sha256").hex()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise signature_mismatch(self._family, signature=signature)


def _incomplete(detail: str) -> AwsError:
    return AwsError(
        f"The request body is not a valid aws-chunked stream: {detail}",
        code="IncompleteBody",
        status=400,
    )


class _Reader:
    def __init__(self, stream: BodyStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _fill(self) -> bool:
        data = await self._stream.read(65536)
        if not data:
            return False
        self._buffer += data
        return True

    async def line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise _incomplete("chunk header too long")
            if not await self._fill():
                raise _incomplete("truncated chunk header")

    async def exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                raise _incomplete("truncated chunk")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data


class ChunkedBody:
    """Decodes an aws-chunked stream, verifying chunk signatures when a verifier is given.

    Iterate it for the payload; after the iteration ``trailers`` holds the trailing
    headers (lower-case names), if any.
    """

    def __init__(self, stream: BodyStream, verifier: ChunkSignatureVerifier | None = None,
                 *, signed_trailer: bool = False) -> None:
        self._reader = _Reader(stream)
        self._verifier = verifier
        self._signed_trailer = signed_trailer and verifier is not None
        self.trailers: dict[str, str] = {}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = self._reader
        while True:
            header = (await reader.line()).decode("ascii", "replace")
            size_text, _, extension = header.partition(";")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _incomplete("bad chunk size") from None
            if size < 0:
                raise _incomplete("bad chunk size")
            data = await reader.exactly(size) if size else b""
            if self._verifier is not None:
                name, _, signature = extension.partition("=")
                if name.strip() != "chunk-signature":
                    raise _incomplete("missing chunk-signature")
                self._verifier.verify(data, signature.strip())
            if size == 0:
                await self._read_trailers()
                return
            if await reader.line() != b"":
                raise _incomplete("chunk not followed by CRLF")
            yield data

    async def _read_trailers(self) -> None:
        signature: str | None = None
        while True:
            try:
                line = await self._reader.line()
            except AwsError:
                break  # no trailing CRLF after the final chunk: tolerated
            if not line:
                break
            name, _, value = line.decode("utf-8", "replace").partition(":")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                signature = value.strip()
            else:
                self.trailers[name] = value.strip()
        if self._signed_trailer and self.trailers:
            assert self._verifier is not None
            self._verifier.verify_trailer(self.trailers, signature)
