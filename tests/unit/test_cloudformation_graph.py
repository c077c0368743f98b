"""A template's dependency graph: resources that name none of the others need no
search for a cycle (the sorter is not built: its search was most of a stack of 100's
graph, built three times a creation); with edges, dependencies and cycles as before."""

from __future__ import annotations

import graphlib
from typing import Any

import pytest

from cloudctl.errors import AwsError
from cloudctl.services.cloudformation import processing


def _bucket(**extra: Any) -> dict[str, Any]:
    return {"Type": "AWS::S3::Bucket", **extra}


def test_independent_resources_build_no_sorter(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []

    class Counted(graphlib.TopologicalSorter):  # type: ignore[type-arg]
        def __init__(self, graph: Any = None) -> None:
            built.append(graph)
            super().__init__(graph)
    monkeypatch.setattr(graphlib, "TopologicalSorter", Counted)
    template = {"Resources": {f"B{i}": _bucket() for i in range(5)}}
    assert processing.graph(template, set(template["Resources"])) == {
        f"B{i}": set() for i in range(5)}
    assert built == []
    template["Resources"]["B1"] = _bucket(DependsOn="B0")
    assert processing.graph(template, set(template["Resources"]))["B1"] == {"B0"}
    assert len(built) == 1


def test_a_cycle_is_still_reported() -> None:
    template = {"Resources": {"A": _bucket(DependsOn="B"), "B": _bucket(DependsOn="A"),
                              "C": _bucket()}}
    with pytest.raises(AwsError) as caught:
        processing.graph(template, set(template["Resources"]))
    assert "Circular dependency between resources: [A, B]" in str(caught.value)
