"""Server-side encryption with keys the cloud manages (SSE-S3, ``AES256``).

Owns the at-rest format of encrypted objects and the choice of whether a write is
encrypted (the request's ``x-amz-server-side-encryption`` or the bucket's default
encryption configuration). ``aws:kms`` and customer keys (SSE-C) answer
NotImplemented: this cloud offers no KMS, and pretending would store plaintext.

Format: every object (or multipart upload) gets a random 256-bit data key and a
random 64-bit nonce, sealed with the cloud's master key (``cloud.secrets``) into the
row's ``sse_key`` column (never stored beside the data). Bytes are AES-256-CTR; a
blob is a list of segments (one for a PUT or copy, one per part of a multipart
upload, in part order), segment ``n`` using the counter block ``nonce || n || block``.
CTR keeps the ciphertext the size of the plaintext and lets a ranged GET start
decrypting at any byte. Integrity of the data rests on the stored MD5 (the ETag,
of the plaintext, as AWS answers it) like unencrypted objects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cloudctl.auth.secrets import SecretBox
from cloudctl.services.s3.errors import invalid_argument, not_implemented, s3_error
from storagectl.objects import BlobReader

AES256 = "AES256"
_CONTEXT = "s3-sse-data-key"
_THREAD_MIN = 256 << 10


def requested(params: dict[str, Any], bucket_encryption: str | None) -> bool:
    """Whether a write must be encrypted; NotImplemented for KMS and customer keys."""
    if params.get("SSECustomerAlgorithm") or params.get("SSECustomerKey"):
        raise not_implemented("Server-side encryption with customer-provided keys (SSE-C)")
    value = params.get("ServerSideEncryption")
    if value is None and bucket_encryption:
        value = default_algorithm(bucket_encryption)
    if value is None:
        return False
    if value == AES256:
        return True
    if str(value).startswith("aws:kms"):
        raise not_implemented("Server-side encryption with KMS keys (aws:kms; this cloud "
                              "offers no KMS, use AES256)")
    raise invalid_argument("The encryption method specified is not supported",
                           "x-amz-server-side-encryption", str(value))


def default_algorithm(config_text: str) -> str | None:
    rules = json.loads(config_text).get("Rules") or []
    for rule in rules:
        algorithm = (rule.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")
        if algorithm:
            return str(algorithm)
    return None


def check_configuration(config: dict[str, Any]) -> None:
    """Validate a PutBucketEncryption document (AES256 only)."""
    rules = config.get("Rules") or []
    if len(rules) != 1:
        raise s3_error("MalformedXML", "The XML you provided was not well-formed or did not "
                       "validate against our published schema")
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = str(default.get("SSEAlgorithm") or "")
    if algorithm.startswith("aws:kms"):
        raise not_implemented("Server-side encryption with KMS keys (aws:kms; this cloud "
                              "offers no KMS, use AES256)")
    if algorithm != AES256:
        raise s3_error("MalformedXML", "The XML you provided was not well-formed or did not "
                       "validate against our published schema")
    if default.get("KMSMasterKeyID"):
        raise invalid_argument("a KMSMasterKeyID is not applicable if the default sse "
                               "algorithm is not aws:kms", "ApplyServerSideEncryptionByDefault")


@dataclass(frozen=True)
class DataKey:
    """The plaintext data key and nonce of one object or upload."""

    key: bytes
    nonce: bytes

    @classmethod
    def new(cls) -> DataKey:
        return cls(secrets.token_bytes(32), secrets.token_bytes(8))

    def seal(self, box: SecretBox) -> str:
        return box.seal(base64.b64encode(self.key + self.nonce).decode(), context=_CONTEXT)

    @classmethod
    def open(cls, box: SecretBox, sealed: str) -> DataKey:
        raw = base64.b64decode(box.open(sealed, context=_CONTEXT))
        return cls(raw[:32], raw[32:40])

    def _cipher(self, segment: int, offset: int) -> Any:
        block = offset // 16
        counter = (int.from_bytes(self.nonce, "big") << 64) | (segment << 32)
        iv = ((counter + block) % (1 << 128)).to_bytes(16, "big")
        return Cipher(algorithms.AES(self.key), modes.CTR(iv))

    def transform(self, segment: int, offset: int, data: bytes) -> bytes:
        """Encrypt or decrypt ``data`` found at ``offset`` of ``segment`` (CTR: the same)."""
        skip = offset % 16
        ctx = self._cipher(segment, offset).encryptor()
        if skip:
            ctx.update(bytes(skip))
        out: bytes = ctx.update(data) + ctx.finalize()
        return out


def record(box: SecretBox, key: DataKey, segments: Sequence[tuple[int, int]]) -> str:
    """The ``sse_key`` column: sealed key and (start offset, segment number) list."""
    return json.dumps({"k": key.seal(box), "s": [list(s) for s in segments]},
                      separators=(",", ":"))


def load(box: SecretBox, text: str) -> tuple[DataKey, list[tuple[int, int]]]:
    data = json.loads(text)
    return DataKey.open(box, data["k"]), [(int(a), int(b)) for a, b in data["s"]]


class Encrypting:
    """Encrypts a plaintext stream as one segment, computing the plaintext MD5."""

    def __init__(self, key: DataKey, segment: int = 0) -> None:
        self.key = key
        self.segment = segment
        self.md5 = hashlib.md5()
        self._encryptor = key._cipher(segment, 0).encryptor()

    def _step(self, chunk: bytes) -> bytes:
        self.md5.update(chunk)
        out: bytes = self._encryptor.update(chunk)
        return out

    async def wrap(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if len(chunk) >= _THREAD_MIN:
                yield await asyncio.to_thread(self._step, chunk)
            else:
                yield self._step(chunk)


class DecryptingReader(BlobReader):
    """A ranged reader of an encrypted blob, yielding plaintext."""

    def __init__(self, inner: BlobReader, key: DataKey,
                 segments: Sequence[tuple[int, int]]) -> None:
        super().__init__(inner.blob_size, inner.start, inner.end)
        self._inner = inner
        self._key = key
        self._segments = sorted(segments)
        self._pos = inner.start

    def _decrypt(self, pos: int, data: bytes) -> bytes:
        out = bytearray()
        view = memoryview(data)
        while view:
            index = max(i for i, (start, _) in enumerate(self._segments) if start <= pos)
            start, number = self._segments[index]
            limit = (self._segments[index + 1][0] if index + 1 < len(self._segments)
                     else pos + len(view))
            take = min(len(view), limit - pos)
            out += self._key.transform(number, pos - start, bytes(view[:take]))
            view = view[take:]
            pos += take
        return bytes(out)

    async def __anext__(self) -> bytes:
        data = await self._inner.__anext__()
        pos = self._pos
        self._pos += len(data)
        if len(data) >= _THREAD_MIN:
            return await asyncio.to_thread(self._decrypt, pos, data)
        return self._decrypt(pos, data)

    async def aclose(self) -> None:
        await self._inner.aclose()
