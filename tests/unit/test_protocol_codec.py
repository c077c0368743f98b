"""Behaviour of the codecs that real clients depend on, checked request by request."""

from __future__ import annotations

import json
import timeit
from datetime import UTC, datetime

import cbor2
import pytest

from cloudctl.errors import AwsError, InvalidAction
from cloudctl.protocol import WireRequest, codec_for, detect_protocol

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def form(body: str) -> WireRequest:
    return WireRequest("POST", "/", "", FORM, body.encode())


def error_of(service: str, req: WireRequest) -> AwsError:
    with pytest.raises(AwsError) as info:
        codec_for(service).parse(req)
    return info.value


def test_euca2ools_ec2_version_is_parsed_with_the_current_model() -> None:
    parsed = codec_for("ec2").parse(
        WireRequest("GET", "/services/compute", "Action=DescribeInstances&Version=2015-10-01"
                    "&InstanceId.1=i-1&InstanceId.2=i-2&Filter.1.Name=tag:Name&Filter.1.Value.1=x", {})
    )  # fmt: skip
    assert parsed.operation.name == "DescribeInstances"
    assert parsed.protocol == "ec2"
    assert parsed.params == {
        "InstanceIds": ["i-1", "i-2"],
        "Filters": [{"Name": "tag:Name", "Values": ["x"]}],
    }


def test_ec2_answers_in_the_2016_namespace_with_item_lists() -> None:
    codec = codec_for("ec2")
    parsed = codec.parse(form("Action=DescribeRegions&Version=2016-11-15"))
    body = codec.serialize(parsed, {"Regions": [{"RegionName": "a&b"}]}, "r1").body
    assert isinstance(body, bytes)
    assert b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"' in body
    assert b"<requestId>r1</requestId><regionInfo><item><regionName>a&amp;b</regionName>" in body


def test_ec2_validation_errors() -> None:
    err = error_of("ec2", form("Action=DeleteVpc&Version=2016-11-15"))
    assert (err.code, err.status) == ("MissingParameter", 400)
    assert err.message == "The request must contain the parameter VpcId"
    err = error_of("ec2", form("Action=DescribeInstances&MaxResults=ten"))
    assert err.code == "InvalidParameterValue"
    err = error_of("ec2", form("Action=RunInstancez"))
    assert isinstance(err, InvalidAction)
    assert err.message == "The action RunInstancez is not valid for this web service."


def test_query_validation_errors() -> None:
    err = error_of("iam", form("Action=CreateUser&Version=2010-05-08"))
    assert err.code == "ValidationError"
    assert "Value null at 'userName'" in err.message
    err = error_of("iam", form("Action=ListUsers&MaxItems=0"))
    assert err.code == "ValidationError"
    assert "greater than or equal to 1" in err.message
    err = error_of("iam", WireRequest("GET", "/", "Action=ListUsers&Marker=%zz", {}))
    assert err.code == "MalformedQueryString"


def test_json_and_cbor_validation_errors() -> None:
    headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem"}
    err = error_of("dynamodb", WireRequest("POST", "/", "", headers, b'{"TableName": 5}'))
    assert err.code == "SerializationException"
    err = error_of("dynamodb", WireRequest("POST", "/", "", headers, b'{"TableName": "t"}'))
    assert err.code == "ValidationException"
    err = error_of("dynamodb", WireRequest("POST", "/", "", headers, b"{not json"))
    assert err.code == "SerializationException"
    cbor_headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
    path = "/service/GraniteServiceVersion20100801/operation/PutMetricData"
    err = error_of("cloudwatch", WireRequest("POST", path, "", cbor_headers, cbor2.dumps({})))
    assert err.code == "ValidationException"
    err = error_of("cloudwatch", WireRequest("POST", path[:-4] + "Nope", "", cbor_headers, b"\xa0"))
    assert isinstance(err, InvalidAction)


def test_cloudwatch_answers_in_the_protocol_it_was_asked_in() -> None:
    codec = codec_for("cloudwatch")
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    result = {"MetricAlarms": [{"AlarmName": "a", "StateUpdatedTimestamp": when}]}
    query = codec.parse(form("Action=DescribeAlarms&Version=2010-08-01"))
    assert query.protocol == "query"
    assert (
        b"<StateUpdatedTimestamp>2024-05-01T12:00:00.000Z<"
        in codec.serialize(query, result, "r").body
    )  # type: ignore[operator]
    js = codec.parse(
        WireRequest("POST", "/", "", {"X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms",
                    "Content-Type": "application/x-amz-json-1.0"}, b"{}")
    )  # fmt: skip
    assert js.protocol == "json"
    body = codec.serialize(js, result, "r").body
    assert json.loads(body)["MetricAlarms"][0]["StateUpdatedTimestamp"] == when.timestamp()  # type: ignore[arg-type]
    cb = codec.parse(
        WireRequest("POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", "",
                    {"smithy-protocol": "rpc-v2-cbor"}, b"")
    )  # fmt: skip
    response = codec.serialize(cb, result, "r")
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert cbor2.loads(response.body)["MetricAlarms"][0]["StateUpdatedTimestamp"] == when  # type: ignore[arg-type]
    err = codec.serialize_error(AwsError("x", code="ResourceNotFound"), "r", "json")
    assert err.headers["x-amzn-query-error"] == "ResourceNotFound;Sender"


def test_s3_routing_and_locations() -> None:
    s3 = codec_for("s3")

    def parse(method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
              body: bytes = b"") -> tuple[str, dict[str, object]]:  # fmt: skip
        parsed = s3.parse(WireRequest(method, path, query, headers or {}, body))
        return parsed.operation.name, parsed.params

    assert parse("GET", "/")[0] == "ListBuckets"
    assert parse("GET", "/b/")[0] == "ListObjects"
    assert parse("GET", "/b", "list-type=2&max-keys=5") == (
        "ListObjectsV2",
        {"Bucket": "b", "MaxKeys": 5},
    )
    assert parse("GET", "/b/a%20dir/k%2Bey")[1] == {"Bucket": "b", "Key": "a dir/k+ey"}
    assert parse("GET", "/b/k", "uploadId=u1")[0] == "ListParts"
    assert parse("PUT", "/b/k", "partNumber=2&uploadId=u1")[0] == "UploadPart"
    assert parse("PUT", "/b/k", "", {"x-amz-copy-source": "/o/k"})[0] == "CopyObject"
    name, params = parse(
        "PUT", "/b/k", "", {"X-Amz-Meta-Color": "red", "Content-Length": "3"}, b"abc"
    )
    assert name == "PutObject"
    assert params["Metadata"] == {"color": "red"}
    assert params["Body"] == b"abc"
    assert params["ContentLength"] == 3
    when = parse("GET", "/b/k", "", {"If-Modified-Since": "Wed, 01 May 2024 12:00:00 GMT"})[1]
    assert when["IfModifiedSince"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    tagging = b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>'
    assert parse("PUT", "/b", "tagging", {}, tagging)[1]["Tagging"] == {
        "TagSet": [{"Key": "a", "Value": "b"}]
    }


def test_s3_streaming_body_is_passed_through() -> None:
    class Stream:
        async def read(self, n: int = -1) -> bytes:
            return b""

    stream = Stream()
    req = WireRequest("PUT", "/b/k", "", {}, b"", stream=stream)
    assert codec_for("s3").parse(req).params["Body"] is stream


def test_s3_errors() -> None:
    s3 = codec_for("s3")
    err = error_of("s3", WireRequest("PUT", "/b", "tagging", {}, b"<Tagging><TagSet>"))
    assert err.code == "MalformedXML"
    err = error_of("s3", WireRequest("GET", "/b", "max-keys=many", {}))
    assert err.code == "InvalidArgument"
    response = s3.serialize_error(
        AwsError("no", code="NoSuchKey", status=404, Key="k"), "r", method="HEAD"
    )
    assert (response.status, response.body) == (404, b"")
    response = s3.serialize_error(AwsError("no", code="NoSuchKey", status=404, Key="k<"), "r")
    assert b"<Key>k&lt;</Key>" in response.body  # type: ignore[operator]


def test_s3_response_headers_and_streaming_body() -> None:
    s3 = codec_for("s3")
    parsed = s3.parse(WireRequest("GET", "/b/k", "", {}))

    async def chunks() -> object:
        yield b"x"

    body = chunks()
    response = s3.serialize(parsed, {"Body": body, "ContentLength": 1, "Metadata": {"a": "b"},
                                     "LastModified": datetime(2024, 5, 1, tzinfo=UTC)}, "r")  # fmt: skip
    assert response.body is body
    assert response.headers["x-amz-meta-a"] == "b"
    assert response.headers["Last-Modified"] == "Wed, 01 May 2024 00:00:00 GMT"
    assert response.headers["Content-Length"] == "1"


def test_detect_protocol_before_the_service_is_known() -> None:
    assert detect_protocol(WireRequest("GET", "/", "Action=X", {})) == "query"
    assert detect_protocol(WireRequest("POST", "/", "", {"X-Amz-Target": "a.b"})) == "json"
    assert (
        detect_protocol(WireRequest("POST", "/service/S/operation/O", "", {}))
        == "smithy-rpc-v2-cbor"
    )
    assert detect_protocol(WireRequest("GET", "/bucket", "", {})) == "rest-xml"
    assert detect_protocol(WireRequest("GET", "/", "Action=X", {}), "ec2") == "ec2"


def test_hot_path_takes_tens_of_microseconds() -> None:
    sts = codec_for("sts")
    req = form("Action=GetCallerIdentity&Version=2011-06-15")
    result = {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root"}

    def once() -> None:
        sts.serialize(sts.parse(req), result, "rid")

    once()
    per_call = min(timeit.repeat(once, number=500, repeat=3)) / 500
    assert per_call < 250e-6, f"{per_call * 1e6:.1f} us"


def test_json_bodies_and_answers_as_json_reads_and_writes_them() -> None:
    """An empty or blank JSON body is the empty input; a JSON answer is written by one
    compact encoder made once, exactly as ``json.dumps`` with the same separators."""
    from cloudctl.protocol import codec as codec_module

    headers = {"X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms",
               "Content-Type": "application/x-amz-json-1.0"}
    codec = codec_for("cloudwatch")
    for body in (b"", b"  \n\t", b"{}", b" {} "):
        assert codec.parse(WireRequest("POST", "/", "", headers, body)).params == {}
    for document in ({}, {"a": [1.5, float("nan"), -0.0, 10 ** 30, "é\u2028\"\\"],
                          "b": {"c": None, "d": True}}):
        assert codec_module._compact_json(document) == json.dumps(document,
                                                                  separators=(",", ":"))
    js = codec.parse(WireRequest("POST", "/", "", headers, b"{}"))
    assert codec.serialize(js, {"MetricAlarms": []}, "r").body == b'{"MetricAlarms":[]}'
