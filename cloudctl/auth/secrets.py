"""Encryption at rest of secret access keys (AES-256-GCM under a master key file).

Owns the master key file (32 random bytes, created once with mode 0600 in the
data directory, refused if other users can read it) and the sealed format
``v1:<base64url(nonce || ciphertext+tag)>``. Nothing here logs, and no exception
carries a plaintext, a sealed token or the key.
"""

from __future__ import annotations

import base64
import os
import secrets as _random
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_AAD = b"cloudctl/secret-access-key/v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12


class SecretBoxError(Exception):
    """A sealed value could not be opened, or the master key is unusable."""


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_random.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_random.token_bytes(_KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # atomic; loses cleanly to a concurrent creator
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def _load_key(path: Path) -> bytes:
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise SecretBoxError(f"master key file {path} must not be readable by other users (0600)")
    key = path.read_bytes()
    if len(key) != _KEY_BYTES:
        raise SecretBoxError(f"master key file {path} is not a {_KEY_BYTES}-byte key")
    return key


class SecretBox:
    """Seals and opens secrets with the master key at ``key_path`` (created if absent)."""

    def __init__(self, key_path: str | os.PathLike[str]) -> None:
        path = Path(key_path)
        if not path.exists():
            _create_key(path)
        self._aead = AESGCM(_load_key(path))
        self.key_path = path

    def __repr__(self) -> str:
        return f"SecretBox({str(self.key_path)!r})"

    def seal(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt ``plaintext``; ``context`` (e.g. the access key id) binds it to its owner."""
        nonce = _random.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _AAD + context.encode())
        return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, *, context: str = "") -> str:
        """Decrypt a value from ``seal`` (same ``context``); ``SecretBoxError`` if it fails."""
        version, sep, body = token.partition(":")
        if not sep or version != _VERSION:
            raise SecretBoxError("sealed secret has an unknown format")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
        except ValueError:
            raise SecretBoxError("sealed secret is not valid base64") from None
        if len(raw) < _NONCE_BYTES + 16:
            raise SecretBoxError("sealed secret is truncated")
        try:
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD + context.encode()
            )
        except InvalidTag:
            raise SecretBoxError(
                "sealed secret could not be opened (wrong master key, context or tampered)"
            ) from None
        return plain.decode()
