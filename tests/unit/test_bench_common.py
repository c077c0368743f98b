"""The benches' shared round helpers (bench.common): alternation and medians."""

from __future__ import annotations

from bench.common import alternate, median_of, runs_of


def test_alternate_swaps_which_path_goes_first_every_round() -> None:
    order: list[str] = []
    seen: list[int] = []
    loads = alternate(4, lambda: order.append("a"), lambda: order.append("b"),
                      after_round=seen.append, settle=0)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert seen == [0, 1, 2, 3] and len(loads) == 4
    assert all(float(x) >= 0 for x in loads)


def test_median_and_runs_of_a_field() -> None:
    rows = [{"first": 3.0}, {"first": 1.0}, {"first": 2.5}]
    assert median_of(rows, "first") == 2.5
    assert runs_of(rows, "first") == "3.00, 1.00, 2.50"
