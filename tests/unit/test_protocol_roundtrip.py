"""Round trips through botocore for every protocol, across many operations of many services.

Requests: random valid input -> botocore's serializer -> our ``parse`` -> must equal
the input. Responses: random valid output -> our ``serialize`` -> botocore's parser
-> must equal the output. Errors: our envelope -> botocore's parser -> same code.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

import botocore.parsers
import pytest
from botocore.awsrequest import HeadersDict
from botocore.model import OperationModel

from cloudctl.errors import AwsError
from cloudctl.protocol import codec_for
from tests.fuzzgen import _ops, protocols, random_value, serialize

CBOR = "smithy-rpc-v2-cbor"
CASES = [
    (service, protocol)
    for service in [
        "ec2", "iam", "sts", "s3", "elb", "elbv2", "autoscaling", "cloudwatch",
        "cloudformation", "dynamodb", "logs", "sqs", "sns", "kms", "route53",
    ]
    for protocol in protocols(service)
]  # fmt: skip


def norm(value: Any) -> Any:
    """Comparable form: empty containers dropped, floats rounded, timestamps as epochs."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "ResponseMetadata" or item is None or item == b"":
                continue
            item = norm(item)
            if item in ({}, []):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        items = [norm(item) for item in value]
        return [item for item in items if item not in ({}, [])]
    if isinstance(value, float):
        return float(f"{value:.5g}") if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _same_route(a: OperationModel, b: OperationModel) -> bool:
    return a.http.get("method") == b.http.get("method") and a.http.get("requestUri") == b.http.get(
        "requestUri"
    )


@pytest.mark.parametrize(("service", "protocol"), CASES)
def test_request_round_trip(service: str, protocol: str) -> None:
    codec = codec_for(service)
    rng = random.Random(f"req:{service}:{protocol}")
    failures, checked = [], 0
    for op in _ops(service):
        for _attempt in range(2):
            shape = op.input_shape
            params = random_value(shape, rng) if shape is not None else {}
            try:
                case = serialize(service, protocol, op, params)
            except Exception:  # botocore refuses a few generated inputs (host labels)
                continue
            try:
                parsed = codec.parse(case.to_wire())
            except AwsError as exc:
                failures.append(f"{op.name}: {exc!r} for {params}")
                break
            checked += 1
            if parsed.operation.name != op.name:
                if not _same_route(parsed.operation, op):
                    failures.append(f"{op.name}: routed to {parsed.operation.name}")
                continue
            assert parsed.protocol == protocol
            if norm(parsed.params) != norm(params):
                failures.append(f"{op.name}:\n  sent {norm(params)}\n  got  {norm(parsed.params)}")
    assert checked >= 20
    assert not failures, f"{len(failures)} of {checked}:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize(("service", "protocol"), CASES)
def test_response_round_trip(service: str, protocol: str) -> None:
    codec = codec_for(service)
    parser = botocore.parsers.create_parser(protocol)
    rng = random.Random(f"resp:{service}:{protocol}")
    failures, checked = [], 0
    for op in _ops(service):
        shape = op.output_shape
        request = random_value(op.input_shape, rng) if op.input_shape is not None else {}
        try:
            parsed_request = codec.parse(serialize(service, protocol, op, request).to_wire())
        except Exception:
            continue
        if parsed_request.operation.name != op.name:
            continue
        result = random_value(shape, rng) if shape is not None else {}
        payload = shape.serialization.get("payload") if shape is not None else None
        if payload and shape.members[payload].type_name == "blob":
            result[payload] = b"raw payload bytes"  # botocore decodes non-streamed bodies
        response = codec.serialize(parsed_request, result, "rid-42")
        body = response.body
        assert isinstance(body, bytes)
        headers = HeadersDict(response.headers)
        http = {"body": body, "headers": headers, "status_code": response.status}
        got = parser.parse(http, shape)
        if op.name == "GetBucketLocation" and body:
            # AWS answers <LocationConstraint>region</LocationConstraint>; botocore's client
            # reads it with a handler (parse_get_bucket_location), not the plain parser
            import xml.etree.ElementTree as ET

            got = {"LocationConstraint": ET.fromstring(body).text}
        if payload and isinstance(got.get(payload), str) and isinstance(result.get(payload), bytes):
            got[payload] = got[payload].encode()  # botocore decodes non-streamed bodies
        checked += 1
        if op.http.get("method") == "HEAD":
            result = {
                k: v for k, v in result.items() if shape.members[k].serialization.get("location")
            }
        if norm(got) != norm(result):
            failures.append(
                f"{op.name}:\n  sent {norm(result)}\n  got  {norm(got)}\n  {body[:300]!r}"
            )
        meta = got.get("ResponseMetadata", {})
        # botocore's CBOR parser reads no metadata when the operation has no output
        has_meta = protocol != "rest-xml" and (shape is not None or protocol != CBOR)
        if has_meta and meta.get("RequestId") != "rid-42":
            failures.append(f"{op.name}: request id {meta}")
    assert checked >= min(20, len(_ops(service)) - 2)
    assert not failures, f"{len(failures)} of {checked}:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize(("service", "protocol"), CASES)
def test_error_envelopes_parse_in_botocore(service: str, protocol: str) -> None:
    codec = codec_for(service)
    parser = botocore.parsers.create_parser(protocol)
    for error in [
        AwsError('Bad <thing> & "more"', code="InvalidParameterValue"),
        AwsError("Gone", code="NoSuchBucket", status=404, BucketName="b1"),
        AwsError("Boom", code="InternalError", status=500, sender_fault=False),
        AwsError("Slow down", code="Throttling", status=503, headers={"Retry-After": "1"}),
    ]:
        response = codec.serialize_error(error, "rid-7", protocol)
        assert response.status == error.status
        assert isinstance(response.body, bytes)
        headers = HeadersDict(response.headers)
        http = {"body": response.body, "headers": headers, "status_code": error.status}
        parsed = parser.parse(http, None)
        assert parsed["Error"]["Code"] == error.code, parsed
        assert parsed["Error"]["Message"] == error.message
        if protocol != "rest-xml":
            assert parsed["ResponseMetadata"]["RequestId"] == "rid-7"
        if protocol == "rest-xml" and "BucketName" in error.fields:
            assert parsed["Error"]["BucketName"] == "b1"
        if codec.query_compatible and protocol != "query":
            expected = "Sender" if error.sender_fault else "Receiver"
            assert parsed["Error"]["Type"] == expected
