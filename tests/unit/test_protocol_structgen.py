"""The generated structure parsers (``protocol.structgen``) and the lists parsed in one
loop answer exactly as the table-driven ``parse_members`` with the unfused scalar
parsers: the same params (members in the same order) or the same error (kind, detail,
member path), in JSON, CBOR, query and EC2, for shallow, nested and recursive shapes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cloudctl.protocol import jsonlike, query, structgen
from cloudctl.protocol.codec import service_model
from cloudctl.protocol.common import ShapeError


def _unfused(kind: str, shape: Any, check: bool, parser: Any, **_: Any) -> Any:
    return parser


def _outcome(parser: Any, document: Any) -> Any:
    try:
        return ("ok", _ordered(parser(document)))
    except ShapeError as exc:
        return ("error", exc.kind, exc.detail, exc.wire_path(), exc.member_path())


def _ordered(value: Any) -> Any:
    """``value`` with every dict as its list of items (the members' order counts)."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return repr(value)


def _datum(**fields: Any) -> dict[str, Any]:
    return {"Namespace": "App", "MetricData": [{"MetricName": "M", **fields}]}


JSON_DOCUMENTS: list[Any] = [
    _datum(Value=1.5, Unit="Count", Dimensions=[{"Name": "H", "Value": "h1"}]),
    {"MetricData": [{"Value": 1.0, "MetricName": "M"}], "Namespace": "App"},  # other order
    _datum(Value=3), _datum(Value=math.nan), _datum(Value=math.inf), _datum(Value="NaN"),
    _datum(Value="1.5"), _datum(Value=True), _datum(Value=None), _datum(Unit="Furlongs"),
    _datum(Unit=7), _datum(Unknown=1, Value=2.0), _datum(Dimensions=None),
    _datum(Dimensions=[{"Name": "H", "Value": "v" * 1025}]),
    _datum(Dimensions=[{"Name": "H", "Value": ["v"]}]),
    _datum(Dimensions=[{"Name": "H"}]),  # a required member missing
    _datum(Dimensions=[None, {"Name": "H", "Value": "v"}]),  # null items are skipped
    _datum(Dimensions=[{"Name": "A", "Value": "a"}] * 31),  # over the list's max
    _datum(Dimensions=[{"Name": "A", "Value": "a"}, {"Name": "B", "Value": 3}]),
    _datum(Dimensions={"Name": "H"}), _datum(Dimensions="x"),
    _datum(StorageResolution=1.0), _datum(StorageResolution=1), _datum(Timestamp="x"),
    _datum(Values=[1.0, 2, "3"]), _datum(Values=[1.0, None, 2.0]),
    _datum(StatisticValues={"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0}),
    {"Namespace": "", "MetricData": [{"MetricName": "M"}]},
    {"Namespace": "N" * 256, "MetricData": [{"MetricName": "M"}]},
    {"Namespace": "N" * 255, "MetricData": []},
    {"MetricData": [{"MetricName": "M"}]}, {}, [], "x", None,
    {"Namespace": "App", "MetricData": [{"MetricName": "M"}, "x"]},
    {"Namespace": "App", "MetricData": [[]]},
]

DYNAMO_DOCUMENTS: list[Any] = [  # AttributeValue is recursive (M and L hold more of it)
    {"TableName": "t", "Item": {"a": {"S": "x"}, "b": {"M": {"c": {"L": [{"N": "1"}]}}}}},
    {"TableName": "t", "Item": {"a": {"M": {"c": {"L": [{"N": 1}]}}}}},
    {"TableName": "t", "Item": {"a": {"M": {"c": {"L": ["x"]}}}}},
    {"Item": {"a": {"S": "x"}}},
]


def _compare(shape: Any, documents: list[Any], make: Any, module: Any,
             monkeypatch: pytest.MonkeyPatch) -> None:
    made = make().parser(shape) if hasattr(make(), "parser") else make().compile(shape)
    with monkeypatch.context() as patch:
        patch.setattr(module, "fused_scalar", _unfused)
        patch.setattr(structgen, "MAX_CHAIN", -1)
        generic = make().parser(shape) if hasattr(make(), "parser") else \
            make().compile(shape)
    for document in documents:
        assert _outcome(made, document) == _outcome(generic, document), document


@pytest.mark.parametrize("cbor", [False, True])
def test_json_and_cbor_parsers_answer_as_the_table(cbor: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def make() -> jsonlike.DocumentCompiler:
        return jsonlike.DocumentCompiler(cbor=cbor)

    shape = service_model("cloudwatch").operation_model("PutMetricData").input_shape
    _compare(shape, JSON_DOCUMENTS, make, jsonlike, monkeypatch)
    shape = service_model("dynamodb").operation_model("PutItem").input_shape
    _compare(shape, DYNAMO_DOCUMENTS, make, jsonlike, monkeypatch)


QUERY_TREES: list[Any] = [
    {"Namespace": "App", "MetricData": {"member": {"1": {
        "MetricName": "M", "Value": "1.5", "Unit": "Count",
        "Dimensions": {"member": {"1": {"Name": "H", "Value": "h1"}}}}}}},
    {"MetricData": {"member": {"2": {"MetricName": "B"}, "1": {"MetricName": "A"}}},
     "Namespace": "App"},  # items out of order
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M"},
                                                   "3": {"MetricName": "N"}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M"}, "x": {}}}},
    {"Namespace": "", "MetricData": {"member": {"1": {"MetricName": "M", "Value": "1"}}}},
    {"Namespace": "N" * 256, "MetricData": {"member": {"1": {"MetricName": "M"}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M", "Unit": "Furlongs"}}}},
    {"Namespace": {"": "App", "x": "y"}, "MetricData": {"member": {"1": {"MetricName": "M"}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": {"a": "b"}}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M", "Value": "x"}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": {"Value": "1"}}}},
    *({"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M", "Value": text}}}}
      for text in (" 1.5 ", "nan", "-inf", "1_0", "1e400", "0x1", "", {"": "2.5"},
                   {"": "2.5", "x": "y"})),
    {"Namespace": "App", "MetricData": {"member": {"1": {"MetricName": "M", "Dimensions": {
        "member": {"1": {"Name": "H"}}}}}}},
    {"Namespace": "App", "MetricData": {"member": {"1": "x"}}},
    {"Namespace": "App", "MetricData": {"member": {"1": ""}}},
    {"Namespace": "App", "MetricData": ""}, {"Namespace": "App", "MetricData": {"x": "y"}},
    {"Namespace": "App", "MetricData": {"member": {str(n): {"MetricName": "M"}
                                                   for n in range(1, 1002)}}},
    {"Namespace": "App"}, {}, "", "x",
]


def test_query_parsers_answer_as_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    shape = service_model("cloudwatch").operation_model("PutMetricData").input_shape
    _compare(shape, QUERY_TREES, lambda: query.QueryInputCompiler(ec2=False, check_enums=True),
             query, monkeypatch)


EC2_TREES: list[Any] = [
    {"ImageId": "ami-1", "MinCount": "1", "MaxCount": "1", "InstanceType": "t2.micro",
     "TagSpecification": {"1": {"ResourceType": "instance", "Tag": {"1": {"Key": "k",
                                                                          "Value": "v"}}}}},
    {"ImageId": "ami-1", "MinCount": "x", "MaxCount": "1"},
    {"ImageId": "ami-1", "MaxCount": "1"},
    {"ImageId": "ami-1", "MinCount": "1", "MaxCount": "1", "InstanceType": "nope"},
]


def test_ec2_parsers_answer_as_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    shape = service_model("ec2").operation_model("RunInstances").input_shape
    _compare(shape, EC2_TREES, lambda: query.QueryInputCompiler(ec2=True, check_enums=False),
             query, monkeypatch)


def test_small_structures_get_a_generated_parser() -> None:
    shape = service_model("cloudwatch").operation_model("PutMetricData").input_shape
    datum = shape.members["MetricData"].member
    for parser in (jsonlike.DocumentCompiler(cbor=False).parser(datum),
                   query.QueryInputCompiler(ec2=False, check_enums=True).compile(datum)):
        assert parser.__code__.co_filename.startswith("<structure parser")


def test_a_failing_list_item_is_named_by_its_index() -> None:
    """A list is parsed in one loop; an item that fails is named as the item-by-item
    loop names it (parsed again on the failure)."""
    shape = service_model("cloudwatch").operation_model("PutMetricData").input_shape
    document = {"Namespace": "App", "MetricData": [
        {"MetricName": "M"}, {"MetricName": "M", "Dimensions": [
            {"Name": "A", "Value": "a"}, {"Name": "B", "Value": 3}]}]}
    parser = jsonlike.DocumentCompiler(cbor=False).parser(shape)
    assert _outcome(parser, document)[3] == "MetricData.2.Dimensions.2.Value"
    tree = {"Namespace": "App", "MetricData": {"member": {
        "1": {"MetricName": "M"}, "2": {"MetricName": "M", "Value": "x"}}}}
    parser = query.QueryInputCompiler(ec2=False, check_enums=True).compile(shape)
    assert _outcome(parser, tree)[3] == "MetricData.2.Value"
