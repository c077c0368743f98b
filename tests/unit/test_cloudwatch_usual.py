"""PutMetricData's usual JSON document read in one pass (``usual.usual_params``): what it
takes must be exactly what the model's parse gives for the same document, each datum's
fields what ``ingest.plain_fields`` reads from that parse; anything else it leaves to
the parse (None), document unchanged, so the errors stay the parse's and the full
check's."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloudctl.protocol.codec import codec_for
from cloudctl.protocol.wire import WireRequest
from cloudctl.services.cloudwatch import ingest
from cloudctl.services.cloudwatch.usual import UsualData, usual_params
from tests.unit.cloudwatch_cases import unusual_data

NOW = datetime.now(UTC).replace(microsecond=0)
OLDEST, NEWEST = NOW - timedelta(days=14), NOW + timedelta(hours=2)
DIMS = [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "z"}]


def _wire(datum: Any) -> Any:
    """A datum as botocore's JSON serializer writes it (timestamps as epoch numbers)."""
    if isinstance(datum, dict):
        return {k: _wire(v) for k, v in datum.items()}
    if isinstance(datum, list):
        return [_wire(v) for v in datum]
    if isinstance(datum, datetime):
        return datum.timestamp()
    return datum


def _model(document: Any) -> Any:
    codec = codec_for("cloudwatch")
    return codec._document_params(codec.operation("PutMetricData"), document, codec._json)


USUAL: list[dict[str, Any]] = [
    {"MetricName": "M", "Value": 1.5},
    {"MetricName": "M", "Value": 0.0, "Unit": "Count"},
    {"MetricName": "M", "Value": -2.0, "Unit": "None", "Dimensions": []},
    {"MetricName": "M", "Value": 3.0, "Dimensions": [DIMS[0]]},
    {"MetricName": "M", "Value": 3.0, "Dimensions": DIMS},
    {"MetricName": "M", "Value": 7, "Unit": "Bytes"},  # an integer: made a float
    {"MetricName": "M" * 255, "Value": 2.0 ** 360, "Timestamp": NOW - timedelta(days=1)},
    {"MetricName": "M", "Value": 1.0, "Timestamp": int(NOW.timestamp())},
    {"MetricName": "M", "Value": 1.0, "Timestamp": NOW + timedelta(hours=1, seconds=0.25),
     "Dimensions": [{"Name": "H" * 255, "Value": "v" * 1024}]},
]


@pytest.mark.parametrize("datum", USUAL)
def test_a_usual_document_is_the_models_parse_and_its_fields(datum: dict[str, Any]) -> None:
    document = {"Namespace": "Test/usual", "MetricData": [_wire(datum)] * 3}
    expected = _model(json.loads(json.dumps(document)))
    params = usual_params(json.loads(json.dumps(document)))
    assert params == expected
    assert isinstance(params["MetricData"], UsualData)
    for item, fields in zip(expected["MetricData"], params["MetricData"].fields,
                            strict=True):
        plain = ingest.plain_fields(item, OLDEST, NEWEST)
        assert plain is not None
        assert fields == (plain[0], tuple(sorted(plain[1])), *plain[2:])


ODD_DOCUMENTS: list[Any] = [
    [],
    {"MetricData": [{"MetricName": "M", "Value": 1.0}]},
    {"Namespace": "", "MetricData": [{"MetricName": "M", "Value": 1.0}]},
    {"Namespace": "N" * 256, "MetricData": [{"MetricName": "M", "Value": 1.0}]},
    {"Namespace": 5, "MetricData": [{"MetricName": "M", "Value": 1.0}]},
    {"Namespace": "N", "MetricData": []},
    {"Namespace": "N"},
    {"Namespace": "N", "MetricData": {"MetricName": "M", "Value": 1.0}},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0}] * 1001},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0}],
     "StrictEntityValidation": None},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0}],
     "EntityMetricData": []},
    {"Namespace": "N", "MetricData": [None, {"MetricName": "M", "Value": 1.0}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0}, "M"]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Timestamp": None}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Dimensions": None}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Unit": None}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": True}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 2 ** 60}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": "1.0"}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0,
                                        "Timestamp": "2026-12-06T00:00:00Z"}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Timestamp": 1e20}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Timestamp": True}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0,
                                        "Dimensions": [DIMS[0], None]}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0,
                                        "Dimensions": [{**DIMS[0], "Extra": "x"}]}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0,
                                        "Dimensions": {"Name": "H", "Value": "v"}}]},
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Other": 1}]},
    # a usual datum before an unusual one: nothing of the first is converted either
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "Timestamp": 1.7e9},
                                      {"MetricName": "M", "Value": 1.0, "Unit": "Furlongs"}]},
]


@pytest.mark.parametrize("document", ODD_DOCUMENTS + [
    {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0}, _wire(odd)]}
    for odd in unusual_data(OLDEST, NEWEST, DIMS)
    # an integer value is usual here (USUAL); the timestamp range is the handler's
    if odd.get("Value").__class__ is not int and "Timestamp" not in odd])
def test_anything_else_is_left_to_the_models_parse_untouched(document: Any) -> None:
    before = copy.deepcopy(document)
    assert usual_params(document) is None
    assert document == before


def test_the_json_protocol_takes_the_usual_call_in_one_pass() -> None:
    codec = codec_for("cloudwatch")
    codec.accept("PutMetricData", usual_params)
    body = json.dumps({"Namespace": "N", "MetricData": [
        {"MetricName": "M", "Value": 1.0, "Dimensions": [DIMS[0]]}]}).encode()
    headers = {"X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
               "Content-Type": "application/x-amz-json-1.0"}
    parsed = codec.parse(WireRequest("POST", "/", "", headers, body))
    assert parsed.protocol == "json"
    assert isinstance(parsed.params["MetricData"], UsualData)
    odd = json.dumps({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1}],
                      "StrictEntityValidation": True}).encode()
    parsed = codec.parse(WireRequest("POST", "/", "", headers, odd))
    assert parsed.params == {"Namespace": "N", "StrictEntityValidation": True,
                             "MetricData": [{"MetricName": "M", "Value": 1.0}]}
    assert not isinstance(parsed.params["MetricData"], UsualData)


@pytest.mark.parametrize("stamp", [None, NOW - timedelta(hours=1), OLDEST - timedelta(seconds=1),
                                   NEWEST + timedelta(seconds=1)])
def test_its_entries_are_the_plain_checks(stamp: datetime | None) -> None:
    data = [{"MetricName": f"M{i % 3}", "Value": float(i), "Dimensions": DIMS[: i % 3]}
            for i in range(7)]
    if stamp is not None:
        data[4]["Timestamp"] = stamp
    document = {"Namespace": "Test/usual", "MetricData": data}
    usual = usual_params(json.loads(json.dumps(_wire(document))))
    assert usual is not None
    parsed = _model(json.loads(json.dumps(_wire(document))))
    got = ingest.fresh_entries(usual["MetricData"], "000000000001", "r", "Test/usual",
                               NOW, OLDEST, NEWEST)
    assert got == ingest.fresh_entries(parsed["MetricData"], "000000000001", "r",
                                       "Test/usual", NOW, OLDEST, NEWEST)
    assert (got is None) == (stamp is not None and not OLDEST <= stamp <= NEWEST)
