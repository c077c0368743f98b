"""PutMetricData's JSON documents at the edge of the usual call (``usual.usual_params``,
read in one pass) and past it (the model's parse, then the full check): raw signed
awsJson1_0 requests, as botocore's client-side validation would refuse some of them.
Each answer (status, error code, message) is the one the model's parse and the full
check give, and what is accepted is stored as sent."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from tests.support import LiveCloud

# the accepted documents take the row path on SQLite and the general path on PostgreSQL
pytestmark = pytest.mark.both_databases

TARGET = "GraniteServiceVersion20100801.PutMetricData"
NOW = time.time()


def _put(cloud: LiveCloud, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    request = AWSRequest(method="POST", url=cloud.endpoint + "/",
                         data=json.dumps(document).encode(),
                         headers={"Content-Type": "application/x-amz-json-1.0",
                                  "X-Amz-Target": TARGET})
    botocore.auth.SigV4Auth(creds, "monitoring", cloud.region).add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                                 headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _datum(**extra: Any) -> dict[str, Any]:
    return {"MetricName": "M", "Value": 1.0, **extra}


ONE = [{"Name": "Host", "Value": "h1"}]
# (data, status, error code, the message's start); None: accepted
CASES: list[tuple[list[Any], int, str | None, str]] = [
    ([_datum()], 200, None, ""),
    ([_datum(Value=7, Unit="Bytes")], 200, None, ""),
    ([_datum(Timestamp=NOW - 60, Dimensions=ONE * 1)], 200, None, ""),
    ([_datum(Dimensions=[{"Name": "B", "Value": "2"}, {"Name": "A", "Value": "1"}])],
     200, None, ""),
    ([_datum(Timestamp=None, Dimensions=None, Unit=None)], 200, None, ""),
    ([_datum(Other="x")], 200, None, ""),
    ([None, _datum()], 200, None, ""),
    ([_datum(Value=2 ** 60)], 200, None, ""),
    ([_datum(Value="1.5")], 400, "SerializationException", ""),
    ([_datum(Value=True)], 400, "SerializationException", ""),
    ([_datum(MetricName="")], 400, "ValidationException", ""),
    ([_datum(Unit="Furlongs")], 400, "ValidationException", ""),
    ([_datum(Dimensions=ONE * 31)], 400, "ValidationException", ""),
    ([_datum(Dimensions=[{"Name": "H"}])], 400, "ValidationException", ""),
    ([_datum(Timestamp="yesterday")], 400, "SerializationException", ""),
    ([_datum(Timestamp=NOW - 15 * 86400)], 400, "InvalidParameterValue",
     "The parameter MetricData.member.1.Timestamp must specify a time no more than two "
     "weeks in the past."),
    ([_datum(), _datum(Timestamp=NOW + 3 * 3600)], 400, "InvalidParameterValue",
     "The parameter MetricData.member.2.Timestamp must specify a time no more than two "
     "hours in the future."),
    ([_datum(Value=2.0 ** 400)], 400, "InvalidParameterValue",
     "The value 2.5822498780869086e+120 for parameter MetricData.member.1.Value is invalid."),
    # an integer past a double's range (answered 500, an OverflowError, before)
    ([_datum(Value=2 ** 1100)], 400, "SerializationException", ""),
    ([_datum(Dimensions=ONE * 2)], 400, "InvalidParameterValue",
     "No Metric may specify the same dimension name twice: Host."),
    ([_datum(Dimensions=[{"Name": "H", "Value": ""}])], 400, "ValidationException", ""),
    ([_datum(StorageResolution=30)], 400, "InvalidParameterValue", ""),
    ([_datum()] * 1001, 400, "InvalidParameterValue",
     "The collection MetricData must not have a size greater than 1000."),
    ([], 400, "MissingParameter", "The parameter MetricData is required."),
]


@pytest.mark.parametrize(("data", "status", "code", "message"), CASES)
def test_put_metric_data_json_documents(cloud: LiveCloud, data: list[Any], status: int,
                                        code: str | None, message: str) -> None:
    namespace = f"Test/json-{uuid.uuid4().hex[:8]}"
    got, answer = _put(cloud, {"Namespace": namespace, "MetricData": data})
    assert got == status, answer
    if code is not None:
        assert answer["__type"].rsplit("#", 1)[-1] == code
        assert str(answer.get("message", answer.get("Message", ""))).startswith(message)
        return
    sent = next(d for d in data if d is not None)
    dims = [d for d in sent.get("Dimensions") or []]
    start = datetime.now(UTC) - timedelta(hours=1)
    stats = cloud.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName="M", Dimensions=dims, StartTime=start,
        EndTime=start + timedelta(hours=2), Period=3600, Statistics=["Sum", "SampleCount"])
    points = stats["Datapoints"]
    assert [p["Sum"] for p in points] == [float(sent["Value"])]
    assert points[0]["Unit"] == (sent.get("Unit") or "None")


def test_put_metric_data_json_namespace(cloud: LiveCloud) -> None:
    for namespace, code in (("AWS/EC2", "InvalidParameterValue"),
                            (":colon", "InvalidParameterValue"), ("", "ValidationException"),
                            ("N" * 256, "ValidationException")):
        got, answer = _put(cloud, {"Namespace": namespace, "MetricData": [_datum()]})
        assert (got, answer["__type"].rsplit("#", 1)[-1]) == (400, code), namespace
