"""Build and read EC2/Eucalyptus image bundles (what euca-bundle-image did).

``bundle_image`` streams an image file through tar -> gzip -> AES-128-CBC (random
key and IV) -> 10 MiB parts, and writes ``<name>.manifest.xml`` with the key and
IV wrapped for the cloud's and the user's RSA certificates, signed with the user's
key. ``unbundle`` reverses it with any of the two private keys, checking every
digest. The format itself (constants, manifest parsing, the decrypting reader)
lives in ``nodectl.bundle``, which the node uses to stage images.
Nothing here talks to the network; ``cloudctl.images.install`` uploads.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import secrets
import tarfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from nodectl.bundle import (
    BUNDLER_NAME,
    CIPHER,
    DIGEST_ALGORITHM,
    MANIFEST_VERSION,
    PART_SIZE,
    BundleError,
    BundleManifest,
    BundlePart,
    decrypt_key,
    parse_manifest,
    read_file_parts,
    unbundle_to,
)

__all__ = ["BundleError", "BundleResult", "Progress", "bundle_image", "unbundle"]

Progress = Callable[[str, int, int], None]  # (what, done, total)
KINDS = ("machine", "kernel", "ramdisk")


@dataclass(frozen=True)
class BundleResult:
    manifest: Path
    parts: tuple[Path, ...]
    manifest_data: BundleManifest


class _PartWriter:
    """Splits the encrypted stream into numbered part files, hashing each."""

    def __init__(self, out_dir: Path, prefix: str, part_size: int) -> None:
        self.out_dir, self.prefix, self.part_size = out_dir, prefix, part_size
        self.parts: list[tuple[Path, str]] = []
        self._file: IO[bytes] | None = None
        self._hash = hashlib.sha1()
        self._left = 0
        self.total = 0

    def _open(self) -> None:
        path = self.out_dir / f"{self.prefix}.part.{len(self.parts):02d}"
        self._file = open(path, "wb")
        self._hash = hashlib.sha1()
        self._left = self.part_size
        self.parts.append((path, ""))

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self.parts[-1] = (self.parts[-1][0], self._hash.hexdigest())
            self._file = None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._file is None or self._left == 0:
                self._close()
                self._open()
            assert self._file is not None
            n = min(self._left, len(view))
            self._file.write(view[:n])
            self._hash.update(view[:n])
            self._left -= n
            self.total += n
            view = view[n:]

    def finish(self) -> None:
        if not self.parts:
            self._open()
        self._close()


class _BundleSink:
    """The write end of tarfile: hash the tar stream, gzip, encrypt, split."""

    def __init__(self, key: bytes, iv: bytes, parts: _PartWriter) -> None:
        self.sha1 = hashlib.sha1()
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        self._padder = padding.PKCS7(128).padder()
        self._parts = parts

    def _emit(self, compressed: bytes) -> None:
        if compressed:
            self._parts.write(self._encryptor.update(self._padder.update(compressed)))

    def write(self, data: bytes) -> int:
        self.sha1.update(data)
        self._emit(self._gzip.compress(data))
        return len(data)

    def close(self) -> None:
        self._emit(self._gzip.flush())
        self._parts.write(self._encryptor.update(self._padder.finalize()) +
                          self._encryptor.finalize())
        self._parts.finish()


def _rsa_public(cert_pem: bytes) -> rsa.RSAPublicKey:
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise BundleError("bundle certificates must be RSA")
    return public


def _wrap(value: bytes, public: rsa.RSAPublicKey) -> str:
    # the format wraps the hex string of the key, not the raw bytes
    return public.encrypt(binascii.hexlify(value), asym_padding.PKCS1v15()).hex()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _manifest_xml(m: BundleManifest, key_pem: bytes) -> bytes:
    mc = ET.Element("machine_configuration")
    _sub(mc, "architecture", m.architecture)
    if m.kernel_id:
        _sub(mc, "kernel_id", m.kernel_id)
    if m.ramdisk_id:
        _sub(mc, "ramdisk_id", m.ramdisk_id)
    if m.block_device_mapping:
        bdm = _sub(mc, "block_device_mapping")
        for virtual, device in m.block_device_mapping:
            mapping = _sub(bdm, "mapping")
            _sub(mapping, "virtual", virtual)
            _sub(mapping, "device", device)
    image = ET.Element("image")
    _sub(image, "name", m.name)
    _sub(image, "user", m.user)
    _sub(image, "type", m.kind)
    _sub(image, "digest", m.image_digest, algorithm=DIGEST_ALGORITHM)
    _sub(image, "size", str(m.image_size))
    _sub(image, "bundled_size", str(m.bundled_size))
    _sub(image, "ec2_encrypted_key", m.ec2_encrypted_key, algorithm=CIPHER)
    _sub(image, "user_encrypted_key", m.user_encrypted_key, algorithm=CIPHER)
    _sub(image, "ec2_encrypted_iv", m.ec2_encrypted_iv)
    _sub(image, "user_encrypted_iv", m.user_encrypted_iv)
    parts = _sub(image, "parts", count=str(len(m.parts)))
    for part in m.parts:
        p = _sub(parts, "part", index=str(part.index))
        _sub(p, "filename", part.filename)
        _sub(p, "digest", part.digest, algorithm=DIGEST_ALGORITHM)
    signed = ET.tostring(mc) + ET.tostring(image)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BundleError("the user's signing key must be RSA")
    signature = key.sign(signed, asym_padding.PKCS1v15(), hashes.SHA1()).hex()
    root = ET.Element("manifest")
    _sub(root, "version", MANIFEST_VERSION)
    bundler = _sub(root, "bundler")
    _sub(bundler, "name", BUNDLER_NAME)
    _sub(bundler, "version", "1.0")
    _sub(bundler, "release", "0")
    head = ET.tostring(root).removesuffix(b"</manifest>")  # <manifest><version>..</bundler>
    sig = ET.Element("signature")
    sig.text = signature
    return head + signed + ET.tostring(sig) + b"</manifest>\n"


def bundle_image(path: Path, kind: str, cert: Path, key: Path, cloud_cert: Path,
                 out_dir: Path, progress: Progress | None = None, *,
                 name: str | None = None, user: str = "", architecture: str = "x86_64",
                 kernel_id: str = "", ramdisk_id: str = "",
                 part_size: int = PART_SIZE) -> BundleResult:
    """Bundle ``path`` into ``out_dir``: parts ``<name>.part.NN`` and ``<name>.manifest.xml``.

    ``cert``/``key`` are the user's RSA certificate and private key (the key signs
    the manifest); ``cloud_cert`` is the cloud's RSA bundle certificate. ``kind``
    is machine, kernel or ramdisk; Eucalyptus marks kernel and ramdisk bundles with
    ``kernel_id``/``ramdisk_id`` ``true``, which is done here too.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    name = name or path.name
    out_dir.mkdir(parents=True, exist_ok=True)
    aes_key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    size = path.stat().st_size
    writer = _PartWriter(out_dir, name, part_size)
    sink = _BundleSink(aes_key, iv, writer)
    done = 0
    if progress is not None:
        progress("bundle", 0, size)
    with open(path, "rb") as src, tarfile.open(fileobj=sink, mode="w|",  # type: ignore[call-overload]
                                               format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, int(path.stat().st_mtime)

        class _Counting:
            def read(self, n: int = -1) -> bytes:
                nonlocal done
                data = src.read(n)
                done += len(data)
                if progress is not None and data:
                    progress("bundle", done, size)
                return data

        tar.addfile(info, _Counting())
    sink.close()
    user_public = _rsa_public(cert.read_bytes())
    cloud_public = _rsa_public(cloud_cert.read_bytes())
    if kind == "kernel":
        kernel_id = "true"
    elif kind == "ramdisk":
        ramdisk_id = "true"
    manifest = BundleManifest(
        name=name, user=user, kind=kind, architecture=architecture,
        image_digest=sink.sha1.hexdigest(), image_size=size, bundled_size=writer.total,
        ec2_encrypted_key=_wrap(aes_key, cloud_public), ec2_encrypted_iv=_wrap(iv, cloud_public),
        user_encrypted_key=_wrap(aes_key, user_public), user_encrypted_iv=_wrap(iv, user_public),
        parts=tuple(BundlePart(i, p.name, d) for i, (p, d) in enumerate(writer.parts)),
        kernel_id=kernel_id, ramdisk_id=ramdisk_id,
        block_device_mapping=(("ami", "sda1"), ("root", "/dev/sda1")) if kind == "machine" else (),
    )
    manifest_path = out_dir / f"{name}.manifest.xml"
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_bytes(_manifest_xml(manifest, key.read_bytes()))
    os.replace(tmp, manifest_path)
    return BundleResult(manifest_path, tuple(p for p, _ in writer.parts),
                        parse_manifest(manifest_path.read_bytes()))


def unbundle(manifest: Path | bytes,
             parts_reader: Callable[[BundlePart], Iterable[bytes]] | None,
             private_key: Path, out: Path) -> Path:
    """Unbundle into the file ``out`` with the cloud's (or the user's) private key.

    ``manifest`` is a path (parts are read beside it unless ``parts_reader`` is
    given) or the manifest bytes. Raises ``BundleError`` on any digest mismatch or
    when the key cannot unwrap the bundle key; ``out`` is then not created.
    """
    if isinstance(manifest, Path):
        text = manifest.read_bytes()
        reader = parts_reader or read_file_parts(manifest.parent)
    else:
        if parts_reader is None:
            raise ValueError("parts_reader is required with manifest bytes")
        text, reader = manifest, parts_reader
    m = parse_manifest(text)
    key, iv = decrypt_key(m, private_key.read_bytes())
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with open(tmp, "wb") as dest:
            unbundle_to(m, reader, key, iv, dest)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
