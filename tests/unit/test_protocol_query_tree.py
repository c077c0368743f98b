"""The query protocol's key tree (``query.build_tree``: parents found by prefix, key
splits remembered) is the tree of the plain walk from the root for every key: same
nesting, same scalars, a scalar that is also a prefix under ``""`` whichever came
first."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cloudctl.protocol import query
from cloudctl.protocol.query import build_tree


def _walked(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Each key walked from the root (the tree before the prefix reuse)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        *parents, last = key.split(".")
        node = root
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                fresh: dict[str, Any] = {"": child} if child is not None else {}
                node[part] = fresh
                child = fresh
            node = child
        if isinstance(node.get(last), dict):
            node[last][""] = value
        else:
            node[last] = value
    return root


CASES: list[list[tuple[str, str]]] = [
    [("Action", "PutMetricData"), ("MetricData.member.1.MetricName", "M"),
     ("MetricData.member.1.Dimensions.member.1.Name", "H"),
     ("MetricData.member.1.Dimensions.member.1.Value", "h"),
     ("MetricData.member.1.Value", "1"), ("MetricData.member.2.MetricName", "N")],
    [("a", "x"), ("a.b", "y"), ("a.b.c", "z"), ("a.b", "w")],  # scalars then prefixes
    [("a.b.c", "z"), ("a.b", "y"), ("a", "x")],  # prefixes then scalars
    [("a.b.c", "1"), ("a.b.d", "2"), ("a.b", "3"), ("a.b.e", "4"), ("a.b.c.f", "5")],
    [("a..b", "1"), (".a", "2"), ("a.", "3"), ("", "4"), (".", "5"), ("a..c", "6")],
    [("x.1", "a"), ("y.1", "b"), ("x.2", "c"), ("x.1", "d")],
]


@pytest.mark.parametrize("remembered", [3, 8192])
def test_the_tree_is_the_walks_tree(remembered: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever splits are remembered (a table cleared every 3 keys, or all of them) and
    whichever requests came before."""
    monkeypatch.setattr(query, "_SPLITS", {})
    monkeypatch.setattr(query, "_SPLITS_MAX", remembered)
    rng = random.Random(13)
    cases = list(CASES)
    for _ in range(300):  # keys over a few names, in random order, some repeated
        keys = [".".join(rng.choice("ab1") for _ in range(rng.randint(1, 4)))
                for _ in range(rng.randint(1, 12))]
        cases.append([(key, str(n)) for n, key in enumerate(keys)])
    for pairs in cases:
        assert build_tree(pairs) == _walked(pairs), pairs
        assert build_tree(pairs) == _walked(pairs), pairs  # its splits remembered
    assert len(query._SPLITS) <= remembered


def test_a_parameter_named_twice_is_refused_by_name() -> None:
    """The query's and the form body's names are checked at once (one dict); a name
    given twice, in either or across both, is refused naming the first repeated."""
    from cloudctl.errors import MalformedQueryString
    from cloudctl.protocol import WireRequest
    from cloudctl.protocol.form import query_parameters

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert query_parameters(WireRequest("POST", "/", "A=1", form, b"B=2&C=3")) == [
        ("A", "1"), ("B", "2"), ("C", "3")]
    for raw_query, body, name in (("", b"B=1&C=2&B=3&C=4", "B"), ("C=1", b"B=2&C=3", "C"),
                                  ("A=1&A=2", b"", "A")):
        with pytest.raises(MalformedQueryString, match=f"parameter {name} appears"):
            query_parameters(WireRequest("POST", "/", raw_query, form, body))
