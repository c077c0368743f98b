"""The tracemalloc dump of an API process: off by default, a report per SIGUSR2."""

from __future__ import annotations

import asyncio
import os
import signal
import tracemalloc
from pathlib import Path

import pytest

from cloudctl.server import memdebug


def test_off_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memdebug.ENV, raising=False)

    async def main() -> bool:
        return memdebug.install(asyncio.get_running_loop())

    assert asyncio.run(main()) is False


def test_sigusr2_appends_top_allocations_and_growth(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv(memdebug.ENV, str(tmp_path / "tm"))
    kept: list[bytes] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert memdebug.install(loop)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            await asyncio.sleep(0.2)
            kept.extend(b"y" * 100_000 for _ in range(20))  # ~2 MB that stays
            os.kill(os.getpid(), signal.SIGUSR2)
            await asyncio.sleep(0.2)
        finally:
            loop.remove_signal_handler(signal.SIGUSR2)
            tracemalloc.stop()

    asyncio.run(main())
    report = (tmp_path / f"tm.{os.getpid()}").read_text()
    assert report.count("=== ") == 2
    growth = report.split("--- growth since the previous dump")[1]
    first = growth.split("most recent call first:")[1].split("KiB, ")[0]
    assert "test_memdebug.py" in first.splitlines()[1], growth[:800]
