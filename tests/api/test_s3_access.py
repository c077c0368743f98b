"""S3 access: versioning, ACLs across accounts, anonymous public reads, presigned URLs,
virtual-hosted buckets, aws-chunked SigV4 uploads, bucket configuration documents."""

from __future__ import annotations

import http.client as httpclient
import json
from collections.abc import Callable

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, http, second_account
from tests.support import LiveCloud


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def other(cloud: LiveCloud) -> tuple[str, str, str]:
    return second_account(cloud, bucket_name("acct"))


def test_versioning_round_trip(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("v")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"null-version")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="k", Body=b"two")["VersionId"]
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    marker = s3.delete_object(Bucket=name, Key="k")
    assert marker["DeleteMarker"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k")
    assert _code(exc) == "NoSuchKey"
    listing = s3.list_object_versions(Bucket=name)
    assert [v["VersionId"] for v in listing["Versions"]] == [v2, v1, "null"]
    assert [m["IsLatest"] for m in listing["DeleteMarkers"]] == [True]
    assert s3.get_object(Bucket=name, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=name, Key="k", VersionId="null")["Body"].read() == b"null-version"
    s3.delete_object(Bucket=name, Key="k", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=name, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"one"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert "VersionId" not in s3.put_object(Bucket=name, Key="k", Body=b"suspended")
    versions = s3.list_object_versions(Bucket=name)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v1, False)]
    copied = s3.copy_object(Bucket=name, Key="c", CopySource={"Bucket": name, "Key": "k",
                                                              "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=name, Key="c")["Body"].read() == b"one"


def test_acl_grant_to_other_account(cloud: LiveCloud, other: tuple[str, str, str]) -> None:
    owner = cloud.client("s3")
    name = bucket_name("acl")
    owner.create_bucket(Bucket=name)
    owner.put_object(Bucket=name, Key="shared", Body=b"for you")
    owner.put_object(Bucket=name, Key="private", Body=b"mine")
    stranger = cloud.client("s3", access_key=other[0], secret_key=other[1])
    with pytest.raises(ClientError) as exc:
        stranger.get_object(Bucket=name, Key="shared")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        stranger.create_bucket(Bucket=name)
    assert _code(exc) == "BucketAlreadyExists"
    canonical = stranger.list_buckets()["Owner"]["ID"]
    owner.put_object_acl(Bucket=name, Key="shared", GrantRead=f'id="{canonical}"')
    assert stranger.get_object(Bucket=name, Key="shared")["Body"].read() == b"for you"
    grants = owner.get_object_acl(Bucket=name, Key="shared")["Grants"]
    assert [g["Permission"] for g in grants] == ["READ"]  # grant headers replace the ACL
    with pytest.raises(ClientError):
        stranger.get_object(Bucket=name, Key="private")
    with pytest.raises(ClientError):
        stranger.list_objects_v2(Bucket=name)
    acl = owner.get_bucket_acl(Bucket=name)
    acl["Grants"].append({"Grantee": {"Type": "AmazonCustomerByEmail",
                                      "EmailAddress": f"{_account_name(cloud, other)}@example.com"},
                          "Permission": "READ"})
    owner.put_bucket_acl(Bucket=name, AccessControlPolicy={"Grants": acl["Grants"],
                                                           "Owner": acl["Owner"]})
    assert [o["Key"] for o in stranger.list_objects_v2(Bucket=name)["Contents"]] == \
        ["private", "shared"]
    with pytest.raises(ClientError):
        stranger.put_object(Bucket=name, Key="intruder", Body=b"x")


def _account_name(cloud: LiveCloud, other: tuple[str, str, str]) -> str:
    accounts = cloud.client("iam").list_accounts()["Accounts"]
    return str(next(a["AccountName"] for a in accounts if a["AccountId"] == other[2]))


def test_anonymous_public_read_and_presign(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("pub")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="public", Body=b"everyone", ACL="public-read")
    s3.put_object(Bucket=name, Key="secret", Body=b"nobody")
    assert http("GET", f"{cloud.endpoint}/{name}/public")[1] == b"everyone"
    assert http("GET", f"{cloud.endpoint}/services/objectstorage/{name}/public")[1] == b"everyone"
    assert http("GET", f"{cloud.endpoint}/{name}/secret")[0] == 403
    assert http("PUT", f"{cloud.endpoint}/{name}/new", b"x")[0] == 403
    url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "secret"},
                                    ExpiresIn=300)
    assert http("GET", url)[1] == b"nobody"
    v2 = cloud.client("s3", config=Config(signature_version="s3"))
    url2 = v2.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "secret"})
    assert "Signature=" in url2 and http("GET", url2)[1] == b"nobody"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "up"})
    assert http("PUT", put_url, b"uploaded")[0] == 200
    assert s3.get_object(Bucket=name, Key="up")["Body"].read() == b"uploaded"


def _send(cloud: LiveCloud, request: AWSRequest) -> tuple[int, bytes]:
    conn = httpclient.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
    path = request.url.split("/", 3)[3] if request.url.count("/") >= 3 else ""
    body = request.body if isinstance(request.body, bytes) else (request.body or b"")
    headers = dict(request.headers.items())
    headers["Host"] = request.url.split("/")[2]
    try:
        conn.request(request.method, "/" + path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_virtual_hosted_bucket(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("vh")
    s3.create_bucket(Bucket=name)
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    host = f"{name}.s3.cloud.example:{cloud.port}"
    put = AWSRequest(method="PUT", url=f"http://{host}/hello.txt", data=b"virtual")
    botocore.auth.S3SigV4Auth(creds, "s3", cloud.region).add_auth(put)
    assert _send(cloud, put)[0] == 200
    assert s3.get_object(Bucket=name, Key="hello.txt")["Body"].read() == b"virtual"
    listing = AWSRequest(method="GET", url=f"http://{host}/?list-type=2")
    listing.auth_path = f"/{name}/"  # SigV2's canonical resource names the bucket
    botocore.auth.HmacV1Auth(creds).add_auth(listing)
    status, body = _send(cloud, listing)
    assert status == 200 and b"<ListBucketResult" in body and b"hello.txt" in body


def _streaming_seed(cloud: LiveCloud, path: str, mode: str,
                    extra: dict[str, str]) -> tuple[dict[str, str], bytes, str, str, str]:
    """Headers of a SigV4 streaming upload to ``path`` signed now (``x-amz-content-sha256:
    mode``), with the signing key, scope, timestamp and the seed signature its chunks
    chain from. The Authorization header is already set."""
    import hashlib
    import hmac
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{cloud.region}/s3/aws4_request"
    headers = {"host": f"127.0.0.1:{cloud.port}", "x-amz-date": stamp,
               "x-amz-content-sha256": mode, "content-encoding": "aws-chunked", **extra}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["PUT", path, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                           signed, mode])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + cloud.secret_key).encode()
    for part in (day, cloud.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), "sha256").digest()
    seed = hmac.new(key, to_sign.encode(), "sha256").hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={cloud.access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={seed}")
    return headers, key, scope, stamp, seed


def _signed_chunks(key: bytes, scope: str, stamp: str, previous: str, chunks: list[bytes],
                   tamper: Callable[[bytes], bytes] | None = None) -> tuple[bytes, str]:
    """aws-chunked framing of ``chunks`` and the final empty chunk, each signed over the
    previous signature (``tamper`` changes a chunk after signing); the body (trailers
    and the closing CRLF still to come) and the final chunk's signature."""
    import hashlib
    import hmac

    body = b""
    for chunk in [*chunks, b""]:
        text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, previous,
                          hashlib.sha256(b"").hexdigest(), hashlib.sha256(chunk).hexdigest()])
        previous = hmac.new(key, text.encode(), "sha256").hexdigest()
        sent = tamper(chunk) if tamper else chunk
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + sent
        body += b"\r\n" if chunk else b""
    return body, previous


def _put_raw(cloud: LiveCloud, path: str, headers: dict[str, str],
             body: bytes) -> tuple[int, bytes]:
    headers = {**headers, "content-length": str(len(body))}
    conn = httpclient.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
    try:
        conn.request("PUT", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_aws_chunked_signed_upload(cloud: LiveCloud) -> None:
    """A hand-built STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload, then a tampered chunk."""
    s3 = cloud.client("s3")
    name = bucket_name("chunk")
    s3.create_bucket(Bucket=name)
    chunks = [b"a" * 65536, b"b" * 1000]

    def build(tamper: bool) -> tuple[int, bytes]:
        headers, key, scope, stamp, seed = _streaming_seed(
            cloud, f"/{name}/chunked", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            {"x-amz-decoded-content-length": str(sum(len(c) for c in chunks))})
        body, _ = _signed_chunks(key, scope, stamp, seed, chunks, tamper=(
            lambda c: c.replace(b"b", b"c")) if tamper else None)
        return _put_raw(cloud, f"/{name}/chunked", headers, body + b"\r\n")

    status, body = build(False)
    assert status == 200, body
    assert s3.get_object(Bucket=name, Key="chunked")["Body"].read() == b"".join(chunks)
    s3.delete_object(Bucket=name, Key="chunked")
    status, body = build(True)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="chunked")


@pytest.mark.parametrize("bad", [None, "signature", "checksum", "missing"])
def test_aws_chunked_signed_trailer(cloud: LiveCloud, bad: str | None) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (the AWS SDKs over plain HTTP): signed
    chunks, then an x-amz-checksum-crc32 trailer signed by x-amz-trailer-signature. A
    wrong or missing trailer signature is refused (403 / 400), a wrong checksum under a
    valid signature is BadDigest; nothing is stored either way."""
    import base64
    import hashlib
    import hmac
    import zlib

    s3 = cloud.client("s3")
    name = bucket_name("trl")
    s3.create_bucket(Bucket=name)
    payload = b"t" * 70000
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    headers, key, scope, stamp, seed = _streaming_seed(
        cloud, f"/{name}/obj", mode, {"x-amz-trailer": "x-amz-checksum-crc32",
                                      "x-amz-decoded-content-length": str(len(payload))})
    body, previous = _signed_chunks(key, scope, stamp, seed, [payload[:65536], payload[65536:]])
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    if bad == "checksum":
        crc = "AAAAAA=="
    trailer = f"x-amz-checksum-crc32:{crc}\n"
    text = "\n".join(["AWS4-HMAC-SHA256-TRAILER", stamp, scope, previous,
                      hashlib.sha256(trailer.encode()).hexdigest()])
    signature = hmac.new(key, text.encode(), "sha256").hexdigest()
    if bad == "signature":
        signature = hmac.new(key, b"something else", "sha256").hexdigest()
    body += trailer.replace("\n", "\r\n").encode()
    if bad != "missing":
        body += f"x-amz-trailer-signature:{signature}\r\n".encode()
    body += b"\r\n"
    status, answer = _put_raw(cloud, f"/{name}/obj", headers, body)
    expected = {None: (200, b""), "signature": (403, b"SignatureDoesNotMatch"),
                "checksum": (400, b"BadDigest"), "missing": (400, b"IncompleteBody")}[bad]
    assert status == expected[0] and expected[1] in answer, (status, answer)
    if bad is None:
        got = s3.get_object(Bucket=name, Key="obj", ChecksumMode="ENABLED")
        assert got["Body"].read() == payload and got["ChecksumCRC32"] == crc
    else:
        with pytest.raises(ClientError):
            s3.head_object(Bucket=name, Key="obj")


def test_bucket_configuration_documents(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("cfg")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "s3"}]})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "s3"}]
    s3.put_object(Bucket=name, Key="k", Body=b"x", Tagging="a=1&b=2")
    assert {t["Key"] for t in s3.get_object_tagging(Bucket=name, Key="k")["TagSet"]} == {"a", "b"}
    rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "MaxAgeSeconds": 60}]
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"][0]["AllowedMethods"] == ["GET"]
    s3.delete_bucket_cors(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=name)
    assert _code(exc) == "NoSuchCORSConfiguration"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*"}]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == policy
    s3.delete_bucket_policy(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=name)
    assert _code(exc) == "NoSuchBucketPolicy"


@pytest.mark.parametrize("good", [True, False])
def test_unsigned_payload_trailer_checksum(cloud: LiveCloud, good: bool) -> None:
    """``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` as boto3 sends over HTTPS, CRC32 trailer."""
    import base64
    import zlib

    s3 = cloud.client("s3")
    name = bucket_name("trail")
    s3.create_bucket(Bucket=name)
    data = b"trailing checksum payload"
    crc = zlib.crc32(data if good else data + b"!").to_bytes(4, "big")
    body = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{base64.b64encode(crc).decode()}\r\n\r\n".encode())
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    request = AWSRequest(method="PUT", url=f"{cloud.endpoint}/{name}/t", data=body, headers={
        "Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data))})
    request.context["checksum"] = {"request_algorithm": {
        "in": "trailer", "algorithm": "crc32", "name": "x-amz-checksum-crc32"}}
    botocore.auth.S3SigV4Auth(creds, "s3", cloud.region).add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    status, answer = _send(cloud, request)
    if good:
        assert status == 200, answer
        got = s3.get_object(Bucket=name, Key="t", ChecksumMode="ENABLED")
        assert got["Body"].read() == data
        assert got["ChecksumCRC32"] == base64.b64encode(crc).decode()
    else:
        assert status == 400 and b"BadDigest" in answer
        with pytest.raises(ClientError):
            s3.head_object(Bucket=name, Key="t")
