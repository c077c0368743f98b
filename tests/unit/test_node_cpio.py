"""The newc cpio writer used for the initramfs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nodectl.guestimage.cpio import CpioWriter


def _archive() -> bytes:
    w = CpioWriter()
    w.directory("bin")
    w.file("bin/busybox", b"\x7fELF" + b"x" * 13, 0o755)
    w.symlink("bin/sh", "busybox")
    w.char_device("dev/console", 5, 1)
    w.file("init", b"#!/bin/sh\n", 0o755)
    return w.getvalue()


def test_newc_headers_are_aligned() -> None:
    data = _archive()
    assert data.startswith(b"070701")
    assert len(data) % 4 == 0
    assert b"TRAILER!!!\0" in data


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed")
def test_cpio_tool_lists_entries() -> None:
    out = subprocess.run(["cpio", "-t", "-v"], input=_archive(), capture_output=True,
                         check=True).stdout.decode()
    assert "bin/sh -> busybox" in out
    assert "dev/console" in out and out.splitlines()[3].startswith("c")
    assert "init" in out
