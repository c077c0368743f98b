"""The fused scalar parsers (``common.fused_scalar``, in the JSON and query compilers)
accept and refuse exactly what the separate type check and trait check do, with the
same error."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cloudctl.protocol import jsonlike, query
from cloudctl.protocol.codec import service_model
from cloudctl.protocol.common import ShapeError


def _unfused(kind: str, shape: Any, check: bool, parser: Any, **_: Any) -> Any:
    return parser


def _outcome(parser: Any, document: Any) -> Any:
    try:
        return ("ok", repr(parser(document)))
    except ShapeError as exc:
        return ("error", exc.kind, exc.detail, exc.wire_path())


def _datum(**fields: Any) -> dict[str, Any]:
    return {"Namespace": "App", "MetricData": [{"MetricName": "M", **fields}]}


DOCUMENTS = [
    _datum(Value=1.5, Unit="Count", Dimensions=[{"Name": "H", "Value": "h1"}]),
    _datum(Value=3),  # an integer for a double: converted
    _datum(Value=math.nan),
    _datum(Value=math.inf),
    _datum(Value="NaN"),
    _datum(Value="1.5"),  # a string for a double: refused
    _datum(Value=True),
    _datum(Value=1.0, Unit="Furlongs"),  # not in the enum
    _datum(Value=1.0, Unit=7),
    {"Namespace": "", "MetricData": [{"MetricName": "M", "Value": 1.0}]},  # under min
    {"Namespace": "N" * 256, "MetricData": [{"MetricName": "M", "Value": 1.0}]},  # over max
    {"Namespace": "N" * 255, "MetricData": [{"MetricName": "M", "Value": 1.0}]},  # at max
    _datum(Value=1.0, Dimensions=[{"Name": "H", "Value": "v" * 1025}]),
    _datum(Value=1.0, Dimensions=[{"Name": "H", "Value": ["v"]}]),
    _datum(Value=1.0, StorageResolution=1.0),
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_fused_parsers_answer_as_the_generic_ones(document: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shape = service_model("cloudwatch").operation_model("PutMetricData").input_shape
    fused = jsonlike.DocumentCompiler(cbor=False).parser(shape)
    monkeypatch.setattr(jsonlike, "fused_scalar", _unfused)
    generic = jsonlike.DocumentCompiler(cbor=False).parser(shape)
    assert _outcome(fused, document) == _outcome(generic, document)


def test_range_traits_of_numbers_still_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A double with min/max traits (none in CloudWatch's input: a made-up shape)."""
    from botocore.model import ShapeResolver

    resolver = ShapeResolver({"In": {"type": "structure", "members": {"X": {"shape": "D"}}},
                              "D": {"type": "double", "min": 0, "max": 10}})
    shape = resolver.get_shape_by_name("In")
    fused = jsonlike.DocumentCompiler(cbor=False).parser(shape)
    monkeypatch.setattr(jsonlike, "fused_scalar", _unfused)
    generic = jsonlike.DocumentCompiler(cbor=False).parser(shape)
    for value in (5.0, 0.0, 10.0, -0.5, 10.5, math.nan, 3, "Infinity"):
        assert _outcome(fused, {"X": value}) == _outcome(generic, {"X": value}), value
    assert _outcome(fused, {"X": 10.5})[0] == "error"


QUERY_TREES = [
    {"Namespace": "App", "MetricData": {"member": {"1": {
        "MetricName": "M", "Value": "1.5", "Unit": "Count",
        "Dimensions": {"member": {"1": {"Name": "H", "Value": "h1"}}}}}}},
    {"Namespace": "", "MetricData": {"member": {"1": {"MetricName": "M", "Value": "1"}}}},
    {"Namespace": "N" * 256, "MetricData": {"member": {"1": {"MetricName": "M"}}}},
    {"Namespace": "N" * 255, "MetricData": {"member": {"1": {"MetricName": "M"}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M", "Unit": "Furlongs"}}}},
    {"Namespace": {"": "App", "x": "y"}, "MetricData": {"member": {"1": {"MetricName": "M"}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": {"a": "b"}}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M", "Value": "x"}}}},
]


@pytest.mark.parametrize("tree", QUERY_TREES)
def test_fused_query_parsers_answer_as_the_generic_ones(tree: dict[str, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shape = service_model("cloudwatch").operation_model("PutMetricData").input_shape
    fused = query.QueryInputCompiler(ec2=False, check_enums=True).compile(shape)
    monkeypatch.setattr(query, "fused_scalar", _unfused)
    generic = query.QueryInputCompiler(ec2=False, check_enums=True).compile(shape)
    assert _outcome(fused, tree) == _outcome(generic, tree)
