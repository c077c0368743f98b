"""Per-module wall time of a pytest run (setup + call + teardown of every test).

``--durations`` lists single phases; the suite's time is mostly a long tail of modules
(session clouds, images, polls), so the run's summary also lists the slowest modules
with the sum of their phases. ``CLOUDCTL_MODULE_TIMES=N`` sets how many (default 25,
0 for none).
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

_TOTALS: dict[str, float] = defaultdict(float)
_COUNTS: dict[str, int] = defaultdict(int)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0]
    _TOTALS[module] += report.duration
    if report.when == "call":
        _COUNTS[module] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    limit = int(os.environ.get("CLOUDCTL_MODULE_TIMES", "25"))
    if limit <= 0 or not _TOTALS:
        return
    ranked = sorted(_TOTALS.items(), key=lambda kv: kv[1], reverse=True)
    terminalreporter.write_sep("=", f"slowest {min(limit, len(ranked))} modules "
                                    f"(setup + call + teardown, of {len(ranked)})")
    for module, seconds in ranked[:limit]:
        terminalreporter.write_line(f"{seconds:8.2f}s {_COUNTS[module]:4d} tests  {module}")
    terminalreporter.write_line(f"{sum(_TOTALS.values()):8.2f}s total of the phases")
