"""JSON request bodies decoded by orjson, with the standard library's parse where orjson
refuses: every request gets the answer it got from ``json.loads`` alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudctl.errors import AwsError
from cloudctl.protocol import WireRequest, codec, codec_for

HEADERS = {"Content-Type": "application/x-amz-json-1.0"}
PUT = "GraniteServiceVersion20100801.PutMetricData"
DESCRIBE = "GraniteServiceVersion20100801.DescribeAlarms"


def _put(value: str, name: str = '"m"') -> bytes:
    return (b'{"Namespace": "ns", "MetricData": [{"MetricName": ' + name.encode()
            + b', "Value": ' + value.encode() + b', "Unit": "Count"}]}')


# (target, body): the documents orjson refuses and json takes (or refuses as well),
# and a few it takes; each is answered as json.loads alone answered it
BODIES: list[tuple[str, bytes]] = [
    (PUT, _put("1.5")),
    (PUT, _put("NaN")),
    (PUT, _put("Infinity")),
    (PUT, _put("-Infinity")),
    (PUT, _put("1e400")),
    (PUT, _put("-1e400")),
    (PUT, _put(str(2**63))),
    (PUT, _put(str(2**64))),
    (PUT, _put(str(2**70))),
    (PUT, _put(str(2**1100))),
    (PUT, _put("1", '"\\ud800"')),
    (PUT, _put("1", '"\\udc00x"')),
    (PUT, _put("1", '"\\ud83d\\ude00"')),
    (PUT, _put("0.1000000000000000055511151231257827")),
    (PUT, _put("123456789012345678901234567890e-10")),
    (PUT, b'{"Namespace": "a", "Namespace": "b", "MetricData": []}'),
    (PUT, "\ufeff".encode() + _put("2")),
    (PUT, _put("2").decode().encode("utf-16")),
    (PUT, _put("2").decode().encode("utf-32-le")),
    (PUT, _put("1", '"\xe9"').decode("latin-1").encode("latin-1")),  # not UTF-8
    (PUT, _put("1", '"a\x01"')),  # a raw control character
    *((PUT, b'{"Namespace": "ns", "MetricData": [], "X": ' + b"[" * depth + b"]" * depth + b"}")
      for depth in (codec.ORJSON_OPENERS - 2, 900, 990, 1000, 1024, 1100, 5000)),
    (PUT, b'{"Namespace": "ns", "MetricData": [' + b", ".join([b'{"MetricName": "m", "Value": 1}'] * 600) + b"]}"),
    (PUT, b'{"Namespace": "ns", "MetricData": [] } x'),
    (PUT, b"{not json"),
    (DESCRIBE, b'{"AlarmNames": ["\\ud800", "NaN"], "MaxRecords": 2}'),
    (DESCRIBE, b'{"AlarmNames": ["a"], "MaxRecords": NaN}'),
    (DESCRIBE, b'{"AlarmNames": ["a"], "MaxRecords": ' + str(2**65).encode() + b"}"),
    (DESCRIBE, b'{"AlarmNames": ["a"], "MaxRecords": 1e400}'),
]


def _answer(target: str, body: bytes) -> Any:
    """The parsed input, or the error's code and message; floats by repr (NaN != NaN)."""
    request = WireRequest("POST", "/", "", {**HEADERS, "X-Amz-Target": target}, body)
    try:
        params = codec_for("cloudwatch").parse(request).params
    except AwsError as exc:
        return ("error", exc.code, exc.message)
    return repr(params)


@pytest.mark.parametrize(("target", "body"), BODIES, ids=[str(i) for i in range(len(BODIES))])
def test_a_body_gets_the_answer_json_alone_gave(target: str, body: bytes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _answer(target, body)
    monkeypatch.setattr(codec, "decode_json", json.loads)
    assert answer == _answer(target, body)


def test_orjson_decodes_and_json_parses_only_what_orjson_refuses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[Any] = []
    loads = json.loads

    def counted(body: Any) -> Any:
        parsed.append(body)
        return loads(body)

    monkeypatch.setattr(codec.json, "loads", counted)
    assert "Namespace" in _answer(PUT, _put("1.5"))
    assert parsed == []  # orjson's
    assert "nan" in _answer(PUT, _put("NaN"))
    assert parsed == [_put("NaN")]  # refused by orjson, taken by json
    assert _answer(PUT, b"{not json")[1] == "SerializationException"
    assert len(parsed) == 2
    deep = b'{"Namespace": "ns", "MetricData": [], "X": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert _answer(PUT, deep)[1] == "SerializationException"  # json's refusal, as before
    assert len(parsed) == 3
