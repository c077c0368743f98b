"""Bad input answered as AWS answers it, never a 500; AWS bounds of MaxResults/MaxItems.

Each case was seen answering 500 with a traceback (or refused valid input): a gzip
upload, a policy date past the years Python holds, malformed SSH2 key material, a
client closing a large GET, a request for a service the cloud does not run, and
the AWS CLI v2's default ``MaxResults=1000`` on ``describe-volumes``.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.parse
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud, wait_for


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    response: dict[str, Any] = err.value.response
    return response


def test_gzip_object_stored_as_sent(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    bucket = bucket_name("gz")
    s3.create_bucket(Bucket=bucket)
    packed = gzip.compress(b"hello " * 1000)
    for key, body in (("packed", packed), ("not-gzip", b"plain bytes, wrong header")):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentEncoding="gzip")
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentEncoding"] == "gzip"
        assert got["ContentLength"] == len(body)


def test_policy_date_out_of_range(cloud: LiveCloud) -> None:
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "9223372036854775808"}}}]}
    response = _error(cloud.client("iam").create_policy, PolicyName=f"d-{uuid.uuid4().hex[:6]}",
                      PolicyDocument=json.dumps(document))
    assert response["Error"]["Code"] == "MalformedPolicyDocument"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("material", [
    b"---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----\n",
    b"---- BEGIN SSH2 PUBLIC KEY ----\n!!!notbase64\n---- END SSH2 PUBLIC KEY ----\n",
    b"---- BEGIN SSH2 PUBLIC KEY ----\n---- END SSH2 PUBLIC KEY ----\n",
])
def test_malformed_ssh2_key(cloud: LiveCloud, material: bytes) -> None:
    response = _error(cloud.client("ec2").import_key_pair, KeyName=f"k-{uuid.uuid4().hex[:6]}",
                      PublicKeyMaterial=material)
    assert response["Error"]["Code"] == "InvalidKey.Format"


def test_client_closing_a_large_get_is_one_line(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    bucket = bucket_name("close")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="big", Body=b"x" * (32 << 20))
    url = urllib.parse.urlsplit(s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "big"}))
    start = cloud.log_path.stat().st_size
    with socket.create_connection(("127.0.0.1", cloud.port)) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.sendall(f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n"
                     .encode())
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(0.3)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    def logged() -> str:
        with open(cloud.log_path, "rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        return text if "client closed connection" in text else ""

    text = wait_for(logged, timeout=20, what="the closed-connection line")
    # the request path's own lines (the session cloud's controllers log beside them)
    serving = ("cloudctl.server", "cloudctl.api", "aiohttp", "asyncio")
    errors = [line for line in text.splitlines()
              if line.split(" ", 4)[2:3] == ["ERROR"] and line.split(" ", 4)[3:4]
              and line.split(" ", 4)[3].startswith(serving)]
    assert not errors, text
    assert "Traceback" not in text, text


@pytest.mark.parametrize(("service", "call", "kwargs"), [
    ("dynamodb", "list_tables", {}),
    ("sqs", "list_queues", {}),
    ("kms", "list_keys", {}),
    ("sns", "list_topics", {}),
])
def test_service_not_run_by_the_cloud(cloud: LiveCloud, service: str, call: str,
                                      kwargs: dict[str, Any]) -> None:
    client = cloud.session().client(service, region_name=cloud.region,
                                    endpoint_url=cloud.endpoint)
    response = _error(getattr(client, call), **kwargs)
    assert response["Error"]["Code"] == "NotImplemented"
    assert f"'{service}'" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_cli_v2_describe_volumes(cloud: LiveCloud) -> None:
    out = json.loads(cloud.aws("ec2", "describe-volumes", version=2).stdout)
    assert "Volumes" in out


@pytest.mark.parametrize(("service", "call", "kwargs", "code"), [
    ("ec2", "describe_volumes", {"MaxResults": 4}, "InvalidParameterValue"),
    ("ec2", "describe_volumes", {"MaxResults": 5}, None),
    ("ec2", "describe_volumes", {"MaxResults": 1000}, None),
    ("ec2", "describe_volume_status", {"MaxResults": 1000}, None),
    ("ec2", "describe_snapshots", {"MaxResults": 1000}, None),
    ("ec2", "describe_instances", {"MaxResults": 1000}, None),
    ("ec2", "describe_instances", {"MaxResults": 1001}, "InvalidParameterValue"),
    ("ec2", "describe_tags", {"MaxResults": 1000}, None),
    ("ec2", "describe_security_groups", {"MaxResults": 1000}, None),
    ("ec2", "describe_instance_types", {"MaxResults": 100}, None),
    ("ec2", "describe_instance_types", {"MaxResults": 101}, "InvalidParameterValue"),
    ("iam", "list_users", {"MaxItems": 1000}, None),
    ("iam", "list_users", {"MaxItems": 1001}, "ValidationError"),
    ("s3", "list_buckets", {}, None),
])
def test_bounds(cloud: LiveCloud, service: str, call: str, kwargs: dict[str, Any],
                code: str | None) -> None:
    method = getattr(cloud.client(service), call)
    if code is None:
        method(**kwargs)
    else:
        assert _error(method, **kwargs)["Error"]["Code"] == code


def test_resources_without_tags_have_no_tag_set(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    bare = ec2.create_security_group(GroupName=f"bare-{uuid.uuid4().hex[:6]}",
                                     Description="no tags")["GroupId"]
    tagged = ec2.create_security_group(GroupName=f"tagged-{uuid.uuid4().hex[:6]}",
                                       Description="tags", TagSpecifications=[{
                                           "ResourceType": "security-group",
                                           "Tags": [{"Key": "k", "Value": "v"}]}])["GroupId"]
    groups = {g["GroupId"]: g for g in
              ec2.describe_security_groups(GroupIds=[bare, tagged])["SecurityGroups"]}
    assert "Tags" not in groups[bare]
    assert groups[tagged]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [bare]}])["Tags"] == []
