"""The EC2/Eucalyptus image bundle format: manifest parsing and the decrypting reader.

A bundle is an image file in a tar archive, gzipped, encrypted with AES-128-CBC
(PKCS#7 padding) under a random key and IV, and split into parts (10 MiB). The
manifest (``<name>.manifest.xml``, version 2007-10-10) lists the parts with their
SHA-1 digests, the SHA-1 of the tar stream (``<image><digest>``), and the key and
IV, each a hex string RSA-encrypted (PKCS#1 v1.5) with the cloud's certificate
(``ec2_encrypted_*``) and with the user's (``user_encrypted_*``), hex-encoded. The
user signs ``<machine_configuration>...</machine_configuration><image>...</image>``
as they appear in the manifest text (RSA, SHA-1, hex).

This module owns only reading: ``parse_manifest``, ``decrypt_key``,
``verify_signature`` and ``unbundle_to`` (stream parts -> verify each part's digest
-> decrypt -> gunzip -> untar -> the image file, checking the tar digest). The
node uses it to stage bundled images; ``cloudctl.images`` builds bundles with the
constants defined here. It never writes outside the destination it is given.
A ``<get-url>`` of a part is parsed only so that callers can refuse it: a manifest
is tenant data, and nodes fetch parts beside the manifest the cloud named.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import tarfile
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "BUNDLER_NAME",
    "CIPHER",
    "DIGEST_ALGORITHM",
    "MANIFEST_VERSION",
    "PART_SIZE",
    "BundleError",
    "BundleManifest",
    "BundlePart",
    "decrypt_key",
    "parse_manifest",
    "signed_text",
    "unbundle_to",
    "verify_signature",
]

MANIFEST_VERSION = "2007-10-10"
BUNDLER_NAME = "cloudctl"
CIPHER = "AES-128-CBC"
DIGEST_ALGORITHM = "SHA1"
PART_SIZE = 10 * 1024 * 1024
_CHUNK = 1024 * 1024


class BundleError(ValueError):
    """A bundle is malformed, tampered with, or cannot be decrypted with the key given."""


@dataclass(frozen=True)
class BundlePart:
    index: int
    filename: str
    digest: str  # hex SHA-1 of the part file
    get_url: str = ""


@dataclass(frozen=True)
class BundleManifest:
    """What a manifest says (the encrypted key material still encrypted)."""

    name: str
    user: str
    kind: str  # machine | kernel | ramdisk
    architecture: str
    image_digest: str  # hex SHA-1 of the tar stream
    image_size: int
    bundled_size: int
    ec2_encrypted_key: str
    ec2_encrypted_iv: str
    user_encrypted_key: str
    user_encrypted_iv: str
    parts: tuple[BundlePart, ...]
    signature: str = ""
    kernel_id: str = ""
    ramdisk_id: str = ""
    block_device_mapping: tuple[tuple[str, str], ...] = ()  # (virtual, device)


def _text(el: ET.Element | None, path: str, required: bool = True) -> str:
    found = el.find(path) if el is not None else None
    if found is None or found.text is None:
        if required:
            raise BundleError(f"manifest lacks <{path}>")
        return ""
    return found.text.strip()


def _refuse_dtd(*_args: Any) -> Any:
    raise BundleError("manifest carries a DTD or entity declaration")


def _parse_without_dtd(text: str | bytes) -> ET.Element:
    """XML without any DOCTYPE or entity declaration (expat would expand entities).

    A first expat pass, whatever the document's encoding, stops at the first
    declaration; only a document without one is built into elements."""
    scan = expat.ParserCreate()
    scan.StartDoctypeDeclHandler = _refuse_dtd
    scan.EntityDeclHandler = _refuse_dtd
    scan.ExternalEntityRefHandler = _refuse_dtd
    try:
        scan.Parse(text, True)
        return ET.fromstring(text)
    except (expat.ExpatError, ET.ParseError) as exc:
        raise BundleError(f"manifest is not XML: {exc}") from exc


def _number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BundleError(f"manifest {what} is not a number: {text[:32]!r}") from None


def parse_manifest(text: str | bytes) -> BundleManifest:
    """Parse a bundle manifest; raises ``BundleError`` when it is not one."""
    root = _parse_without_dtd(text)
    if root.tag != "manifest":
        raise BundleError(f"not a bundle manifest (root <{root.tag}>)")
    mc = root.find("machine_configuration")
    image = root.find("image")
    if image is None:
        raise BundleError("manifest lacks <image>")
    for name in ("ec2_encrypted_key", "user_encrypted_key"):
        el = image.find(name)
        if el is not None and el.get("algorithm", CIPHER).upper() != CIPHER:
            raise BundleError(f"unsupported cipher {el.get('algorithm')}")
    parts_el = image.find("parts")
    if parts_el is None:
        raise BundleError("manifest lacks <parts>")
    parts: list[BundlePart] = []
    for part in parts_el.findall("part"):
        digest = part.find("digest")
        if digest is not None and digest.get("algorithm", DIGEST_ALGORITHM).upper() != "SHA1":
            raise BundleError(f"unsupported part digest {digest.get('algorithm')}")
        parts.append(BundlePart(index=_number(part.get("index", "-1"), "part index"),
                                filename=_text(part, "filename"),
                                digest=_text(part, "digest").lower(),
                                get_url=_text(part, "get-url", required=False)))
    parts.sort(key=lambda p: p.index)
    count = _number(parts_el.get("count", str(len(parts))), "part count")
    if count != len(parts) or [p.index for p in parts] != list(range(len(parts))):
        raise BundleError(f"manifest parts are not 0..{count - 1}")
    for p in parts:
        if "/" in p.filename or p.filename in ("", ".", ".."):
            raise BundleError(f"bad part file name {p.filename!r}")
    bdm = tuple((_text(m, "virtual"), _text(m, "device"))
                for m in (mc.findall("block_device_mapping/mapping") if mc is not None else []))
    return BundleManifest(
        name=_text(image, "name"), user=_text(image, "user", required=False),
        kind=_text(image, "type", required=False) or "machine",
        architecture=_text(mc, "architecture", required=False) or "x86_64",
        image_digest=_text(image, "digest").lower(),
        image_size=_number(_text(image, "size"), "image size"),
        bundled_size=_number(_text(image, "bundled_size", required=False) or "0", "bundled size"),
        ec2_encrypted_key=_text(image, "ec2_encrypted_key", required=False),
        ec2_encrypted_iv=_text(image, "ec2_encrypted_iv", required=False),
        user_encrypted_key=_text(image, "user_encrypted_key", required=False),
        user_encrypted_iv=_text(image, "user_encrypted_iv", required=False),
        parts=tuple(parts), signature=_text(root, "signature", required=False),
        kernel_id=_text(mc, "kernel_id", required=False),
        ramdisk_id=_text(mc, "ramdisk_id", required=False),
        block_device_mapping=bdm,
    )


def _load_private_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BundleError("bundle keys must be RSA")
    return key


def _unwrap(hex_value: str, key: rsa.RSAPrivateKey) -> bytes:
    try:
        plain = key.decrypt(binascii.unhexlify(hex_value), asym_padding.PKCS1v15())
        value = binascii.unhexlify(plain.strip())
    except (ValueError, binascii.Error) as exc:
        raise BundleError("cannot decrypt the bundle key with this private key") from exc
    if len(value) != 16:
        raise BundleError("cannot decrypt the bundle key with this private key")
    return value


def decrypt_key(manifest: BundleManifest, private_key_pem: bytes) -> tuple[bytes, bytes]:
    """The AES key and IV, unwrapped with the cloud's (or else the user's) private key."""
    key = _load_private_key(private_key_pem)
    last: BundleError | None = None
    for wrapped_key, wrapped_iv in ((manifest.ec2_encrypted_key, manifest.ec2_encrypted_iv),
                                    (manifest.user_encrypted_key, manifest.user_encrypted_iv)):
        if not wrapped_key or not wrapped_iv:
            continue
        try:
            return _unwrap(wrapped_key, key), _unwrap(wrapped_iv, key)
        except BundleError as exc:
            last = exc
    raise last or BundleError("manifest carries no encrypted key")


_SIGNED = re.compile(rb"<machine_configuration>.*?</machine_configuration>|<machine_configuration/>",
                     re.DOTALL)
_IMAGE = re.compile(rb"<image>.*</image>", re.DOTALL)


def signed_text(manifest_text: bytes) -> bytes:
    """The bytes the user signed: machine_configuration then image, as written."""
    mc, image = _SIGNED.search(manifest_text), _IMAGE.search(manifest_text)
    if image is None:
        raise BundleError("manifest lacks <image>")
    return (mc.group(0) if mc else b"") + image.group(0)


def verify_signature(manifest_text: bytes, cert_pem: bytes) -> None:
    """Raise ``BundleError`` unless the manifest is signed by ``cert_pem``'s key."""
    sig = parse_manifest(manifest_text).signature
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise BundleError("signing certificate is not RSA")
    try:
        public.verify(binascii.unhexlify(sig), signed_text(manifest_text),
                      asym_padding.PKCS1v15(), hashes.SHA1())
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise BundleError("manifest signature does not verify") from exc


class _PlainStream:
    """A read-only file over decrypted, gunzipped tar bytes, hashing what passes."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = bytearray()
        self.sha1 = hashlib.sha1()
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        n = len(self._buf) if size < 0 else min(size, len(self._buf))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.sha1.update(out)
        self.total += len(out)
        return out

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _plain_chunks(manifest: BundleManifest, read_part: Callable[[BundlePart], Iterable[bytes]],
                  key: bytes, iv: bytes) -> Iterator[bytes]:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    gunzip = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    for part in manifest.parts:
        digest = hashlib.sha1()
        pending: list[bytes] = []
        for chunk in read_part(part):
            digest.update(chunk)
            pending.append(chunk)
            if sum(len(c) for c in pending) >= _CHUNK:
                yield from _decode(b"".join(pending), decryptor, unpadder, gunzip, part)
                pending = []
        if pending:
            yield from _decode(b"".join(pending), decryptor, unpadder, gunzip, part)
        # a part is checked once it has been read whole; nothing after a bad part is used
        if digest.hexdigest() != part.digest:
            raise BundleError(f"digest mismatch in part {part.index} ({part.filename})")
    try:
        tail = unpadder.update(decryptor.finalize()) + unpadder.finalize()
        yield gunzip.decompress(tail) + gunzip.flush()
    except (ValueError, zlib.error) as exc:
        raise BundleError("bundle does not decrypt with this key") from exc
    if not gunzip.eof:
        raise BundleError("bundle is truncated (gzip stream incomplete)")


def _decode(data: bytes, decryptor: Any, unpadder: Any, gunzip: Any,
            part: BundlePart) -> Iterator[bytes]:
    try:
        yield gunzip.decompress(unpadder.update(decryptor.update(data)))
    except zlib.error as exc:
        raise BundleError(f"bundle does not decrypt with this key (part {part.index})") from exc


def unbundle_to(manifest: BundleManifest, read_part: Callable[[BundlePart], Iterable[bytes]],
                key: bytes, iv: bytes, dest: IO[bytes]) -> int:
    """Write the bundled image file into ``dest``; returns its size.

    ``read_part`` yields the bytes of one part. Each part's SHA-1, the tar stream's
    SHA-1 and the image size are checked; any mismatch raises ``BundleError`` (the
    caller discards ``dest``).
    """
    stream = _PlainStream(_plain_chunks(manifest, read_part, key, iv))
    written = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            member = next(iter(tar), None)
            if member is None or not member.isfile():
                raise BundleError("bundle holds no image file")
            src = tar.extractfile(member)
            if src is None:
                raise BundleError("bundle holds no image file")
            while chunk := src.read(_CHUNK):
                dest.write(chunk)
                written += len(chunk)
    except tarfile.TarError as exc:
        raise BundleError(f"bundle is not a tar stream: {exc}") from exc
    stream.drain()
    if stream.sha1.hexdigest() != manifest.image_digest:
        raise BundleError("image digest mismatch")
    if written != manifest.image_size:
        raise BundleError(f"image size {written} != manifest size {manifest.image_size}")
    return written


def read_file_parts(directory: Path) -> Callable[[BundlePart], Iterator[bytes]]:
    """A part reader for a bundle in a local directory."""

    def read(part: BundlePart) -> Iterator[bytes]:
        with open(directory / part.filename, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    return read
