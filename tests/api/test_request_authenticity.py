"""Request authenticity through raw signed HTTP: what is signed is exactly what is parsed.

SigV2 and SigV4 query requests whose body is not form-encoded, parameters named twice,
unsigned SigV4 payloads outside S3, SigV2 ``Expires`` a month ahead, a UTF-16
billion-laughs XML body, and ids with a trailing newline: each one is an attack a
reviewer ran against the live cloud, replayed here with real clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from tests.support import LiveCloud, new_cloud

EC2_VERSION = "2016-11-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def _send(cloud: LiveCloud, method: str, path_query: str, body: bytes = b"",
          headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
    """One request through http.client, which adds no Content-Type of its own."""
    parts = urlsplit(cloud.endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    started = time.monotonic()
    try:
        conn.request(method, path_query, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, payload, time.monotonic() - started
    finally:
        conn.close()


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def _sigv2(cloud: LiveCloud, method: str, path: str, params: dict[str, str], *,
           expires: datetime | None = None) -> dict[str, str]:
    """``params`` signed with SigV2 (HmacSHA256), written from the AWS documentation."""
    signed = dict(params, AWSAccessKeyId=cloud.access_key, SignatureVersion="2",
                  SignatureMethod="HmacSHA256")
    if expires is None:
        signed["Timestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        signed["Expires"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    host = urlsplit(cloud.endpoint).netloc
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(signed.items()))
    text = f"{method}\n{host.lower()}\n{path}\n{canonical}"
    digest = hmac.digest(cloud.secret_key.encode(), text.encode(), "sha256")
    signed["Signature"] = base64.b64encode(digest).decode()
    return signed


def _group_exists(cloud: LiveCloud, name: str) -> bool:
    groups = cloud.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return bool(groups)


def _create_group_body(name: str) -> bytes:
    return urlencode({"Action": "CreateSecurityGroup", "Version": EC2_VERSION,
                      "GroupName": name, "GroupDescription": "injected"}).encode()


# ------------------------------------------------------------------ SigV2
def test_sigv2_body_without_content_type_is_not_parsed(cloud: LiveCloud) -> None:
    name = f"inject-{uuid.uuid4().hex[:8]}"
    query = _sigv2(cloud, "POST", "/", {"Action": "DescribeAvailabilityZones",
                                        "Version": EC2_VERSION})
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/xml"}):
        status, payload, _ = _send(cloud, "POST", "/?" + urlencode(query),
                                   _create_group_body(name), headers)
        assert status == 400, payload
        assert b"<Code>MalformedQueryString</Code>" in payload
    assert not _group_exists(cloud, name)


def test_sigv2_body_parameter_cannot_override_signed_query(cloud: LiveCloud) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    query = _sigv2(cloud, "POST", "/", {"Action": "DescribeAvailabilityZones",
                                        "Version": EC2_VERSION})
    # a form body is part of what SigV2 signs: an unsigned extra field fails the signature,
    status, payload, _ = _send(cloud, "POST", "/?" + urlencode(query),
                               b"GroupName=" + name.encode(), {"Content-Type": FORM})
    assert status in (401, 403), payload
    assert b"AuthFailure" in payload or b"SignatureDoesNotMatch" in payload
    # and an Action named in both places is refused before anything else
    status, payload, _ = _send(cloud, "POST", "/?" + urlencode(query),
                               _create_group_body(name), {"Content-Type": FORM})
    assert status == 400, payload
    assert b"<Code>MalformedQueryString</Code>" in payload and b"Action" in payload
    assert not _group_exists(cloud, name)


def test_sigv2_parameters_in_body_or_split_are_signed_and_accepted(cloud: LiveCloud) -> None:
    params = {"Action": "DescribeAvailabilityZones", "Version": EC2_VERSION}
    signed = _sigv2(cloud, "POST", "/", params)
    status, payload, _ = _send(cloud, "POST", "/", urlencode(signed).encode(),
                               {"Content-Type": FORM})
    assert status == 200, payload
    query = {"Action": signed.pop("Action")}
    status, payload, _ = _send(cloud, "POST", "/?" + urlencode(query),
                               urlencode(signed).encode(), {"Content-Type": FORM})
    assert status == 200, payload
    assert b"<zoneName>" in payload


def test_sigv2_expires_is_bounded(cloud: LiveCloud) -> None:
    params = {"Action": "DescribeAvailabilityZones", "Version": EC2_VERSION}
    soon = _sigv2(cloud, "GET", "/", params, expires=datetime.now(UTC) + timedelta(hours=1))
    status, payload, _ = _send(cloud, "GET", "/?" + urlencode(soon))
    assert status == 200, payload
    later = _sigv2(cloud, "GET", "/", params, expires=datetime.now(UTC) + timedelta(days=30))
    status, payload, _ = _send(cloud, "GET", "/?" + urlencode(later))
    assert status == 400, payload
    assert b"<Code>InvalidParameterValue</Code>" in payload and b"Expires" in payload
    past = _sigv2(cloud, "GET", "/", params, expires=datetime.now(UTC) - timedelta(minutes=1))
    status, payload, _ = _send(cloud, "GET", "/?" + urlencode(past))
    assert status == 400 and b"<Code>RequestExpired</Code>" in payload


def test_s3_sigv2_presigned_url_lives_at_most_a_week(cloud: LiveCloud) -> None:
    bucket = f"presign-{uuid.uuid4().hex[:8]}"
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    expires = str(int(time.time()) + 30 * 24 * 3600)
    text = f"GET\n\n\n{expires}\n/{bucket}/k"
    sig = base64.b64encode(hmac.digest(cloud.secret_key.encode(), text.encode(), "sha1"))
    query = urlencode({"AWSAccessKeyId": cloud.access_key, "Expires": expires,
                       "Signature": sig.decode()})
    status, payload, _ = _send(cloud, "GET", f"/{bucket}/k?{query}")
    assert status == 400, payload
    assert b"AuthorizationQueryParametersError" in payload


# ------------------------------------------------------------------ SigV4
class _UnsignedPayloadAuth(botocore.auth.SigV4Auth):
    def payload(self, request: AWSRequest) -> str:
        return "UNSIGNED-PAYLOAD"


def test_sigv4_unsigned_payload_refused_outside_s3(cloud: LiveCloud) -> None:
    name = f"unsigned-{uuid.uuid4().hex[:8]}"
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    request = AWSRequest(method="POST", url=cloud.endpoint + "/",
                         data=b"Action=DescribeAvailabilityZones&Version=2016-11-15",
                         headers={"Content-Type": FORM,
                                  "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    _UnsignedPayloadAuth(creds, "ec2", cloud.region).add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    status, payload, _ = _send(cloud, "POST", "/", _create_group_body(name), headers)
    assert status == 400, payload
    assert b"UNSIGNED-PAYLOAD" in payload
    assert not _group_exists(cloud, name)


def test_sigv4_action_in_query_and_body_refused(cloud: LiveCloud) -> None:
    name = f"v4dup-{uuid.uuid4().hex[:8]}"
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    url = cloud.endpoint + "/?Action=DescribeAvailabilityZones&Version=2016-11-15"
    body = _create_group_body(name)
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": FORM})
    botocore.auth.SigV4Auth(creds, "ec2", cloud.region).add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    status, payload, _ = _send(cloud, "POST", url[len(cloud.endpoint):], body, headers)
    assert status == 400, payload
    assert b"<Code>MalformedQueryString</Code>" in payload
    assert not _group_exists(cloud, name)


def test_sigv4_query_body_without_content_type_refused(cloud: LiveCloud) -> None:
    name = f"v4ct-{uuid.uuid4().hex[:8]}"
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    body = _create_group_body(name)
    request = AWSRequest(method="POST", url=cloud.endpoint + "/", data=body)
    botocore.auth.SigV4Auth(creds, "ec2", cloud.region).add_auth(request)
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in ("content-length", "content-type")}
    status, payload, _ = _send(cloud, "POST", "/", body, headers)
    assert status == 400, payload
    assert not _group_exists(cloud, name)


# --------------------------------------------------------------- XML bodies
@pytest.fixture(scope="module")
def fresh_cloud() -> Iterator[LiveCloud]:
    """A cloud of its own: its peak memory is measured."""
    live = new_cloud()
    live.start()
    try:
        yield live
    finally:
        live.stop()


def _peak_rss_mb(live: LiveCloud) -> int:
    assert live.process is not None
    with open(f"/proc/{live.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def _utf16_billion_laughs() -> bytes:
    chunk = "x" * 900_000
    doc = ('<?xml version="1.0" encoding="UTF-16"?>'
           f'<!DOCTYPE Tagging [<!ENTITY a "{chunk}">]>'
           '<Tagging><TagSet><Tag><Key>k</Key><Value>' + "&a;" * 180
           + "</Value></Tag></TagSet></Tagging>")
    return doc.encode("utf-16")


def test_utf16_entity_expansion_refused_with_bounded_memory(fresh_cloud: LiveCloud) -> None:
    s3 = fresh_cloud.client("s3")
    bucket = f"laughs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = _utf16_billion_laughs()
    creds = botocore.credentials.Credentials(fresh_cloud.access_key, fresh_cloud.secret_key)
    before = _peak_rss_mb(fresh_cloud)
    for path in (f"/{bucket}?tagging", f"/{bucket}?delete"):
        method = "PUT" if path.endswith("tagging") else "POST"
        request = AWSRequest(method=method, url=fresh_cloud.endpoint + path, data=body,
                             headers={"Content-Type": "application/xml",
                                      "Content-MD5": base64.b64encode(
                                          hashlib.md5(body).digest()).decode()})
        botocore.auth.S3SigV4Auth(creds, "s3", fresh_cloud.region).add_auth(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        status, payload, elapsed = _send(fresh_cloud, method, path, body, headers)
        assert status == 400, payload
        assert b"<Code>MalformedXML</Code>" in payload
        assert elapsed < 1.0
    grown = _peak_rss_mb(fresh_cloud) - before
    assert grown < 64, f"peak RSS grew by {grown} MB"


# ------------------------------------------------------ ids and a newline
def test_ids_with_a_trailing_newline_are_malformed(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    cases = [
        (lambda: ec2.describe_instances(InstanceIds=["i-0123456789abcdef0\n"]),
         "InvalidInstanceID.Malformed"),
        (lambda: ec2.describe_volumes(VolumeIds=["vol-0123456789abcdef0\n"]),
         "InvalidVolumeID.Malformed"),
        (lambda: ec2.describe_snapshots(SnapshotIds=["snap-0123456789abcdef0\n"]),
         "InvalidSnapshotID.Malformed"),
        (lambda: ec2.describe_images(ImageIds=["ami-0123456789abcdef0\n"]),
         "InvalidAMIID.Malformed"),
        (lambda: cloud.client("s3").create_bucket(Bucket="newline-bucket\n"),
         "InvalidBucketName"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as err:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert err.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
