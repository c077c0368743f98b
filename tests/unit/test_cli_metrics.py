"""The sparkline ``cloudctl metrics show`` draws."""

from __future__ import annotations

from cloudctl.cli.metrics import sparkline


def test_sparkline_scales_between_lowest_and_highest() -> None:
    assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"
    assert sparkline([2.0, None, 2.0]) == "▅ ▅"  # flat, not zero: the middle; a gap is blank
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([]) == "" and sparkline([None]) == ""
    assert sparkline([5.0, 100.0], low=0.0, high=100.0) == "▁█"
