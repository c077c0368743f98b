"""A writer for the cpio "newc" format the Linux initramfs uses.

Owns only the archive encoding; it writes entries from memory (files, dirs,
symlinks, device nodes) so building an initramfs needs neither root nor mknod.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field

__all__ = ["CpioWriter"]

_TRAILER = "TRAILER!!!"


def _pad4(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


@dataclass
class CpioWriter:
    """Accumulates newc entries; ``getvalue()`` returns the archive bytes."""

    _chunks: list[bytes] = field(default_factory=list)
    _ino: int = 1

    def _entry(self, name: str, mode: int, data: bytes = b"",
               rdev: tuple[int, int] = (0, 0), nlink: int = 1) -> None:
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, nlink, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(encoded), 0)
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        self._ino += 1
        self._chunks.append(header + encoded + _pad4(len(header) + len(encoded)))
        self._chunks.append(data + _pad4(len(data)))

    def directory(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def getvalue(self) -> bytes:
        saved = list(self._chunks)
        self._entry(_TRAILER, 0)
        out = b"".join(self._chunks)
        self._chunks = saved
        return out
