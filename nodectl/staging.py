"""Staging image artifacts into the node's image cache (``ImageCache.base_path``).

Owns fetching one artifact to ``base/<image-id>``: a ``file://`` copy, a streamed
``http(s)://`` download (a presigned S3 GET), or a bundle (manifest, then every
part, each digest checked, decrypted with the node's bundle key, reassembled).
Every URL fetched comes from the cloud's ``Artifact``: bundle parts are read beside
the manifest URL the cloud gave, and a manifest naming URLs of its own
(``<get-url>``: tenant data) is refused before anything is fetched.
The result appears atomically (temp name, then rename) and read-only; a cached
image is never fetched again. Synchronous: callers run it in a thread.
It never writes outside the cache's ``base`` directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nodectl.bundle import BundleError, BundlePart, decrypt_key, parse_manifest, unbundle_to
from nodectl.client import Artifact
from nodectl.imagecache import ImageCache

__all__ = ["StagingError", "fetch_bytes", "stage_artifact"]

_CHUNK = 1024 * 1024
TIMEOUT = 60.0


class StagingError(RuntimeError):
    """An artifact could not be staged; ``retryable`` is False for integrity failures."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def _open(url: str, ssl_context: ssl.SSLContext | None) -> IO[bytes]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        return open(urllib.request.url2pathname(parsed.path), "rb")
    if parsed.scheme in ("http", "https"):
        try:
            resp: IO[bytes] = urllib.request.urlopen(url, timeout=TIMEOUT, context=ssl_context)
        except OSError as exc:
            raise StagingError(f"GET {_safe(url)}: {exc}") from exc
        return resp
    raise StagingError(f"unsupported URL scheme {parsed.scheme!r}", retryable=False)


def _safe(url: str) -> str:
    """The URL without its query (presigned URLs carry credentials)."""
    return urllib.parse.urlsplit(url)._replace(query="").geturl()


def _chunks(url: str, ssl_context: ssl.SSLContext | None) -> Iterator[bytes]:
    try:
        with _open(url, ssl_context) as src:
            while chunk := src.read(_CHUNK):
                yield chunk
    except FileNotFoundError as exc:
        raise StagingError(f"{_safe(url)}: no such file", retryable=False) from exc
    except OSError as exc:
        raise StagingError(f"reading {_safe(url)}: {exc}") from exc


def fetch_bytes(url: str, limit: int = 16 * 1024 * 1024,
                ssl_context: ssl.SSLContext | None = None) -> bytes:
    """A small document (a manifest) whole."""
    data = bytearray()
    for chunk in _chunks(url, ssl_context):
        data += chunk
        if len(data) > limit:
            raise StagingError(f"{_safe(url)} is larger than {limit} bytes", retryable=False)
    return bytes(data)


def _part_url(manifest_url: str, part: BundlePart) -> str:
    """Where a part is: beside the manifest the cloud named, never a URL of the manifest.

    A manifest is tenant data: a ``<get-url>`` in it would make the node fetch any URL
    or open any file as root, so a manifest carrying one is refused outright.
    """
    if part.get_url:
        raise StagingError(f"the bundle manifest names a URL for part {part.index}; nodes "
                           "fetch only what the cloud gives them", retryable=False)
    if "/" in part.filename or part.filename in ("", ".", ".."):
        raise StagingError(f"bad part file name {part.filename!r}", retryable=False)
    parsed = urllib.parse.urlsplit(manifest_url)
    base = parsed._replace(query="", fragment="").geturl()
    return urllib.parse.urljoin(base, urllib.parse.quote(part.filename))


def stage_artifact(cache: ImageCache, artifact: Artifact, *, bundle_key: bytes | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> Path:
    """``base/<image-id>`` for the artifact, fetched on first use; returns its path."""
    dest = cache.base_path(artifact.image_id)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}.{id(artifact)}")
    try:
        with open(tmp, "wb") as out:
            if artifact.bundle_manifest_url:
                _unbundle(artifact, bundle_key, out, ssl_context)
            elif artifact.url:
                digest = hashlib.sha256()
                parsed = urllib.parse.urlsplit(artifact.url)
                if parsed.scheme == "file" and not artifact.sha256:
                    out.close()
                    _copy_file(urllib.request.url2pathname(parsed.path), tmp)
                else:
                    for chunk in _chunks(artifact.url, ssl_context):
                        digest.update(chunk)
                        out.write(chunk)
                    if artifact.sha256 and digest.hexdigest() != artifact.sha256.lower():
                        raise StagingError(f"{artifact.image_id}: sha256 mismatch",
                                           retryable=False)
            else:
                raise StagingError(f"{artifact.image_id}: artifact has no URL", retryable=False)
        tmp.chmod(0o400)
        tmp.replace(dest)
    except BundleError as exc:
        raise StagingError(f"{artifact.image_id}: {exc}", retryable=False) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _copy_file(source: str, tmp: Path) -> None:
    if not os.path.isfile(source):
        raise StagingError(f"{source}: no such file", retryable=False)
    try:
        subprocess.run(["cp", "--sparse=always", "--reflink=auto", source, str(tmp)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        shutil.copyfile(source, tmp)


def _unbundle(artifact: Artifact, bundle_key: bytes | None, out: IO[bytes],
              ssl_context: ssl.SSLContext | None) -> None:
    if bundle_key is None:
        raise StagingError(f"{artifact.image_id} is bundled but this node has no bundle key",
                           retryable=False)
    manifest = parse_manifest(fetch_bytes(artifact.bundle_manifest_url, ssl_context=ssl_context))
    urls = {part.index: _part_url(artifact.bundle_manifest_url, part) for part in manifest.parts}
    key, iv = decrypt_key(manifest, bundle_key)

    def read_part(part: BundlePart) -> Iterator[bytes]:
        return _chunks(urls[part.index], ssl_context)

    unbundle_to(manifest, read_part, key, iv, out)
    if artifact.sha256:
        digest = hashlib.sha256()
        out.flush()
        with open(out.name, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != artifact.sha256.lower():
            raise StagingError(f"{artifact.image_id}: sha256 mismatch", retryable=False)
