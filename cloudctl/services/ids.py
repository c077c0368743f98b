"""Identifiers in AWS and Eucalyptus formats (accounts, users, keys, resources)."""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloudctl.errors import AwsError

_UPPER_DIGITS = string.ascii_uppercase + "234567"
_HEX = "0123456789abcdef"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def uuid4_hex() -> str:
    """A random (version 4, RFC 4122) UUID's 32 hex digits, what ``uuid.uuid4().hex``
    gives, in ~40 % of its time (from ``os.urandom`` directly)."""
    h = os.urandom(16).hex()
    return f"{h[:12]}4{h[13:16]}{'89ab'[int(h[16], 16) & 3]}{h[17:]}"


def account_id() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(12))


_TABLES: dict[str, bytes] = {}


def _draw(alphabet: str, length: int) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` (ASCII, a power-of-two
    size up to 256): one random byte a character, mapped by ``bytes.translate`` (each
    of the 256 byte values names ``256 / len(alphabet)`` times each character)."""
    table = _TABLES.get(alphabet)
    if table is None:
        mask = len(alphabet) - 1
        if len(alphabet) & mask or len(alphabet) > 256 or not alphabet.isascii():
            raise ValueError("an id alphabet is ASCII of a power-of-two size up to 256")
        table = _TABLES[alphabet] = bytes(ord(alphabet[b & mask]) for b in range(256))
    return secrets.token_bytes(length).translate(table).decode("ascii")


def _upper(prefix: str, length: int) -> str:
    return prefix + _draw(_UPPER_DIGITS, length)


def user_id() -> str:
    return _upper("AIDA", 17)


def role_id() -> str:
    return _upper("AROA", 17)


def group_id() -> str:
    return _upper("AGPA", 17)


def policy_id() -> str:
    return _upper("ANPA", 17)


def access_key_id(temporary: bool = False) -> str:
    return _upper("ASIA" if temporary else "AKIA", 16)


def secret_access_key() -> str:
    return _draw(_SECRET_ALPHABET, 40)


def canonical_id() -> str:
    return secrets.token_hex(32)


def resource_id(prefix: str, length: int = 17) -> str:
    """An EC2-style id such as ``i-0123456789abcdef0`` or ``vol-...``."""
    return f"{prefix}-" + _draw(_HEX, length)


_RESOURCE_ID = re.compile(r"([a-z]+)-[0-9a-f]{8}(?:[0-9a-f]{9})?")


def is_resource_id(prefix: str, value: str) -> bool:
    """True for ``<prefix>-`` and 8 or 17 lower-case hex digits, nothing before or after
    (``fullmatch``: a trailing newline is not part of an id)."""
    match = _RESOURCE_ID.fullmatch(value)
    return match is not None and match.group(1) == prefix


@dataclass(frozen=True)
class IdKind:
    """A kind of EC2 resource id: its prefixes (the first is the one it is created with)
    and the AWS codes for a malformed and for a well-formed but unknown id. The kinds
    themselves are registered in ``cloudctl.services.ec2.shared.resources``."""

    prefixes: tuple[str, ...]
    malformed: str
    not_found: str

    def matches(self, value: str) -> bool:
        match = _RESOURCE_ID.fullmatch(value)
        return match is not None and match.group(1) in self.prefixes

    def check(self, value: Any) -> str:
        """``value`` as sent when well formed, else ``<malformed>`` naming it."""
        text = value if isinstance(value, str) else str(value or "")
        if not self.matches(text):
            raise AwsError(f"Invalid id: \"{text}\" (expecting \"{self.prefixes[0]}-...\")",
                           code=self.malformed)
        return text

    def check_all(self, values: Iterable[Any]) -> list[str]:
        return [self.check(v) for v in values]

