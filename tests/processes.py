"""How many processes a pytest run starts, and what they cost: cloud starts (``cloudctl
up`` until its health check answers, ``LiveCloud.start``), ``cloudctl init`` and other
``cloudctl`` commands, AWS CLI runs, anything else.

The run's summary lists them (count, wall seconds until each exited, or for a cloud
until it served), so a CI log says where process starts go instead of a guess.
``CLOUDCTL_PROCESS_COUNTS=0`` turns the summary off. The count wraps
``subprocess.Popen`` in the pytest process only (the clouds' own children are not in
it); a ``Popen`` bound before the wrap (``from subprocess import Popen``) escapes it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

COUNTS: dict[str, int] = defaultdict(int)
SECONDS: dict[str, float] = defaultdict(float)


def kind(argv: Sequence[str]) -> str:
    """``cloudctl up``, ``cloudctl init``, ``cloudctl`` (any other command), ``aws`` or
    the program's name; a program run in a namespace (``ip netns exec NS PROGRAM...``)
    is ``ip netns exec`` and the kind of the program: a server living for a whole module
    (PostgreSQL, a backend) is not counted as time of ``ip`` commands, which take
    milliseconds each."""
    args = [str(a) for a in argv]
    if len(args) > 4 and os.path.basename(args[0]) == "ip" and args[1:3] == ["netns", "exec"]:
        inner = kind(args[4:])
        return inner if inner.startswith("cloudctl") else f"ip netns exec {inner}"
    if "awscli" in args or (args and os.path.basename(args[0]) == "aws"):
        return "aws"
    if "cloudctl" in args and args.index("cloudctl") > 0 and \
            args[args.index("cloudctl") - 1] == "-m":
        rest = args[args.index("cloudctl") + 1:]
        words = [a for i, a in enumerate(rest) if not a.startswith("-")
                 and (i == 0 or not rest[i - 1].startswith("--") or "=" in rest[i - 1])]
        if words and words[0] in ("up", "init"):
            return f"cloudctl {words[0]}"
        return "cloudctl"
    return os.path.basename(args[0]) if args else "?"


class _CountedPopen(subprocess.Popen):  # type: ignore[type-arg]
    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        self._kind = kind([os.fsdecode(a) for a in argv])
        self._began = time.monotonic()
        COUNTS[self._kind] += 1
        super().__init__(args, *rest, **kwargs)

    def _done(self) -> None:
        if self.returncode is not None and self._began:
            if self._kind != "cloudctl up":
                SECONDS[self._kind] += time.monotonic() - self._began
            self._began = 0.0

    def wait(self, timeout: float | None = None) -> int:
        code = super().wait(timeout)
        self._done()
        return code

    def poll(self) -> int | None:
        code = super().poll()
        self._done()
        return code


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CLOUDCTL_PROCESS_COUNTS", "1") != "0":
        subprocess.Popen = _CountedPopen  # type: ignore[misc]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("CLOUDCTL_PROCESS_COUNTS", "1") == "0" or not COUNTS:
        return
    from tests.support import STARTS

    terminalreporter.write_sep("=", "processes started by the test process")
    terminalreporter.write_line(f"{len(STARTS):6d} {'LiveCloud.start (to healthy)':<28} "
                                f"{sum(STARTS):9.1f}s")
    for what, count in sorted(COUNTS.items(), key=lambda kv: (-SECONDS[kv[0]], kv[0])):
        spent = "(its life)" if what == "cloudctl up" else f"{SECONDS[what]:9.1f}s"
        terminalreporter.write_line(f"{count:6d} {what:<28} {spent:>10}")
