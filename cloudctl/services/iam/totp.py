"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) for virtual MFA devices.

30-second steps, HMAC-SHA-1, 6 digits: what every authenticator app shows for an
``otpauth://totp/`` URI. ``match_step`` finds which step (within a window around
now, shifted by the device's recorded drift) a code belongs to; the caller keeps
the highest step accepted so a code is never accepted twice. Codes are compared
in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time

STEP_SECONDS = 30
DIGITS = 6
SEED_BYTES = 20  # 160 bits, as RFC 4226 recommends (32 base32 characters)


def new_seed() -> str:
    """A fresh random seed as AWS shows it: base32 text without padding."""
    return base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode().rstrip("=")


def _key(seed: str) -> bytes:
    text = seed.strip().upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(seed: str, counter: int) -> str:
    """The RFC 4226 code of ``counter`` under ``seed`` (base32)."""
    digest = hmac.new(_key(seed), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def well_formed(code: object) -> bool:
    return isinstance(code, str) and len(code) == DIGITS and code.isascii() and code.isdigit()


def match_step(seed: str, code: str, center: int, before: int, after: int) -> int | None:
    """The step in ``center-before .. center+after`` whose code is ``code``, else None."""
    if not well_formed(code):
        return None
    found = None
    for step in range(center - before, center + after + 1):
        if hmac.compare_digest(hotp(seed, step), code) and found is None:
            found = step
    return found


def match_pair(seed: str, first: str, second: str, center: int,
               reach: int) -> int | None:
    """The step of ``second`` when ``first``/``second`` are the codes of two consecutive
    steps, ``second`` within ``reach`` steps of ``center``; else None."""
    if not (well_formed(first) and well_formed(second)):
        return None
    for step in range(center - reach, center + reach + 1):
        if hmac.compare_digest(hotp(seed, step), second) \
                and hmac.compare_digest(hotp(seed, step - 1), first):
            return step
    return None
