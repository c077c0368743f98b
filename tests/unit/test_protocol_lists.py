"""Lists of doubles and timestamps are written whole (GetMetricData's pages): the same
bytes, in JSON, CBOR and query XML, as the item-by-item writers give."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import cbor2

from cloudctl.protocol import codec_for
from cloudctl.protocol.codec import ParsedRequest
from cloudctl.protocol.common import format_epoch, format_iso8601, to_utc

BASE = datetime(2026, 12, 1, tzinfo=UTC)
#: the values a provider may hand: ints, non-finite floats, fractions of a second,
#: other zones, naive datetimes, epoch numbers, repeats (the timestamp memo)
VALUES: list[Any] = [1.5, 2, -0.0, 1e-7, 12345678.123456789, math.inf, -math.inf, 3.25]
STAMPS: list[Any] = [BASE, BASE + timedelta(seconds=60), BASE + timedelta(microseconds=1500),
                     BASE.astimezone(timezone(timedelta(hours=5))), datetime(2026, 1, 2, 3),
                     1764000000, 1764000000.25, BASE]


def _answer(values: list[Any], stamps: list[Any]) -> dict[str, Any]:
    return {"MetricDataResults": [
        {"Id": "a", "Label": "A", "Timestamps": stamps, "Values": values,
         "StatusCode": "Complete"},
        {"Id": "b", "Label": "B", "Timestamps": stamps[:3], "Values": values[:3],
         "StatusCode": "Complete"},
        {"Id": "c", "Label": "C", "Timestamps": [], "Values": [], "StatusCode": "Complete"}],
        "Messages": []}


def _body(protocol: str, answer: dict[str, Any]) -> bytes:
    codec = codec_for("cloudwatch")
    op = codec.operation("GetMetricData")
    body = codec.serialize(ParsedRequest(op, {}, protocol), answer, "rid").body
    assert isinstance(body, bytes)
    return body


def _json_float(value: Any) -> Any:
    number = float(value)
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def test_json_lists_match_item_by_item_encoding() -> None:
    for _ in range(2):  # the second page is served from the timestamp memo
        body = _body("json", _answer(VALUES, STAMPS))
        expected = _answer([_json_float(v) for v in VALUES], [format_epoch(t) for t in STAMPS])
        expected["MetricDataResults"][1]["Values"] = expected["MetricDataResults"][0][
            "Values"][:3]
        expected["MetricDataResults"][1]["Timestamps"] = expected["MetricDataResults"][0][
            "Timestamps"][:3]
        assert body == json.dumps(expected, separators=(",", ":")).encode()
    # None items are dropped, as the item-by-item encoder did
    body = _body("json", _answer([1.0, None, 2.0], [BASE, None, BASE]))
    result = json.loads(body)["MetricDataResults"][0]
    assert result["Values"] == [1.0, 2.0]
    assert result["Timestamps"] == [format_epoch(BASE)] * 2


def test_cbor_lists_match_item_by_item_encoding() -> None:
    body = _body("smithy-rpc-v2-cbor", _answer(VALUES, STAMPS))
    expected = _answer([float(v) for v in VALUES], [to_utc(t) for t in STAMPS])
    expected["MetricDataResults"][1]["Values"] = [float(v) for v in VALUES[:3]]
    expected["MetricDataResults"][1]["Timestamps"] = [to_utc(t) for t in STAMPS[:3]]
    assert body == cbor2.dumps(expected, datetime_as_timestamp=True)


def test_query_lists_match_item_by_item_writing() -> None:
    for _ in range(2):
        text = _body("query", _answer(VALUES, STAMPS)).decode()
        values = "".join(f"<member>{float(v)!r}</member>" for v in VALUES)
        stamps = "".join(f"<member>{format_iso8601(t)}</member>" for t in STAMPS)
        assert f"<Timestamps>{stamps}</Timestamps><Values>{values}</Values>" in text
        assert "<Timestamps/><Values/>" in text
