"""S3 authentication: SigV4 (header, presigned, streaming chunks) and HmacV1, signed by botocore."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import boto3
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from cloudctl.auth.chunked import ChunkedBody, ChunkSignatureVerifier
from cloudctl.auth.credentials import Credential, MemoryCredentialStore
from cloudctl.auth.verify import authenticate
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import BodyStream, WireRequest
from tests.unit.test_auth_support import (
    AKID,
    ENDPOINT,
    SECRET,
    TOKEN,
    creds,
    replace,
    store,
    tmp_creds,
    to_wire,
    with_header,
)

KEYS = [
    "plain.txt",
    "my file with spaces.txt",
    "ünïcödé/ключ/文件",
    "a+b=c&d",
    "~tilde/x~y",
    "double//slash/",
    "dots/./and/../parent",
    "pct%20literal%2F",
    "sym!$'()*,;:@",
]


def object_url(key: str, bucket: str = "bucket", query: str = "") -> str:
    url = f"{ENDPOINT}/{bucket}/{quote(key, safe='/~')}"
    return url + ("?" + query if query else "")


async def expect(req: WireRequest, code: str, status: int, **kw) -> AwsError:
    with pytest.raises(AwsError) as info:
        await authenticate(req, kw.pop("store", None) or store(), service="s3", **kw)
    assert (info.value.code, info.value.status) == (code, status), info.value.message
    return info.value


def sigv4_put(key: str, body: bytes = b"hello", headers: dict[str, str] | None = None, **kw):
    request = AWSRequest(method="PUT", url=object_url(key), data=body, headers=headers or {})
    S3SigV4Auth(kw.pop("credentials", None) or creds(), "s3", "us-east-1").add_auth(request)
    return to_wire(request)


@pytest.mark.parametrize("key", KEYS)
async def test_sigv4_header_with_odd_keys(key):
    req = sigv4_put(key, headers={"x-amz-meta-note": "  a   b ", "Content-Type": "text/plain"})
    result = await authenticate(req, store(), service="s3")
    assert result.credential is not None and result.region == "us-east-1"
    assert (
        result.sigv4 is not None
        and result.sigv4.content_sha256 == hashlib.sha256(b"hello").hexdigest()
    )
    assert result.content_sha256 is None  # checked here: whole body present
    # S3 does not normalise: the same request addressed to a normalised path fails
    if "//" in key or "/./" in key:
        normalised = req.path.replace("//", "/").replace("/./", "/")
        await expect(replace(req, path=normalised), "SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("key", KEYS)
async def test_sigv4_presigned_with_odd_keys_and_expiry(key):
    request = AWSRequest(method="GET", url=object_url(key, query="versionId=v%201"))
    S3SigV4QueryAuth(creds(), "s3", "eu-west-1", expires=600).add_auth(request)
    req = to_wire(request)
    result = await authenticate(req, store(), service="s3")
    assert result.signature_version == "v4-presigned" and result.region == "eu-west-1"
    err = await expect(req, "AccessDenied", 403, now=datetime.now(UTC) + timedelta(seconds=700))
    assert err.message == "Request has expired"
    assert err.fields["X-Amz-Expires"] == "600"
    await expect(replace(req, method="PUT"), "SignatureDoesNotMatch", 403)


def body_bytes(body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    body.seek(0)
    data: bytes = body.read()
    return data


async def test_boto3_client_requests_and_presigned_urls_verify():
    captured: list[AWSRequest] = []

    class Captured(Exception):
        pass

    def capture(request, **kwargs):
        captured.append(request)
        raise Captured

    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="eucalyptus",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )
    client.meta.events.register("before-send.s3", capture)
    calls: list[Callable[[], object]] = [
        lambda: client.put_object(Bucket="b", Key="dir/a b+c~ü.txt", Body=b"data"),
        lambda: client.list_objects_v2(Bucket="b", Prefix="a b+c/é", Delimiter="/"),
        lambda: client.get_object(Bucket="b", Key="x//y", Range="bytes=0-1"),
        lambda: client.put_object_acl(Bucket="b", Key="k", ACL="public-read"),
    ]
    for call in calls:
        with pytest.raises(Captured):
            call()
    for request in captured:
        req = WireRequest(
            method=request.method,
            path=request.url.split("8773", 1)[1].split("?")[0],
            raw_query=request.url.partition("?")[2],
            headers={
                **{
                    k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
                },
                "Host": "cloud.local:8773",
            },
            body=body_bytes(request.body),
            host="cloud.local:8773",
        )
        if (req.header("x-amz-content-sha256") or "").startswith("STREAMING"):
            req = replace(req, body=b"")
            req.stream = object()  # type: ignore[assignment]
        result = await authenticate(req, store(), service="s3")
        assert result.region == "eucalyptus", request.url
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "ü n/+~"}, ExpiresIn=100
    )
    path, _, query = url.split("8773", 1)[1].partition("?")
    req = WireRequest("GET", path, query, {"Host": "cloud.local:8773"}, host="cloud.local:8773")
    await authenticate(req, store(), service="s3")


async def test_sigv4_body_tampering_and_content_sha256_rules():
    req = sigv4_put("k", body=b"original")
    err = await expect(replace(req, body=b"tampered"), "XAmzContentSHA256Mismatch", 400)
    assert err.fields["ClientComputedContentSHA256"] == hashlib.sha256(b"original").hexdigest()
    await expect(with_header(req, "X-Amz-Content-SHA256", None), "InvalidRequest", 400)
    await expect(with_header(req, "X-Amz-Content-SHA256", "nothex"), "InvalidArgument", 400)
    # a streamed body is left for the S3 layer to hash
    streamed = replace(req, body=b"")
    streamed.stream = object()  # type: ignore[assignment]
    result = await authenticate(streamed, store(), service="s3")
    assert result.content_sha256 == hashlib.sha256(b"original").hexdigest()


async def test_sigv4_tampered_header_path_query_give_signature_mismatch_with_details():
    req = sigv4_put("k", headers={"x-amz-meta-a": "1"})
    for bad in (
        with_header(req, "x-amz-meta-a", "2"),
        replace(req, path="/bucket/other"),
        replace(req, raw_query="acl", query=[]),
    ):
        err = await expect(bad, "SignatureDoesNotMatch", 403)
        assert err.fields["AWSAccessKeyId"] == AKID
        assert err.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
        assert "CanonicalRequest" in err.fields and SECRET not in repr(err.fields)


async def test_unsigned_amz_header_is_refused():
    req = with_header(sigv4_put("k"), "x-amz-acl", "public-read")
    err = await expect(req, "AccessDenied", 403)
    assert err.fields["HeadersNotSigned"] == "x-amz-acl"


async def test_unsigned_payload_marker():
    request = AWSRequest(method="PUT", url=object_url("k"), data=b"body")
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(creds(), "s3", "us-east-1").add_auth(request)
    req = to_wire(request)
    assert req.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    result = await authenticate(replace(req, body=b"anything"), store(), service="s3")
    assert result.sigv4 is not None and result.sigv4.content_sha256 == "UNSIGNED-PAYLOAD"


async def test_s3_unknown_key_wrong_secret_skew():
    req = sigv4_put("k", credentials=creds(akid="AKIANOTKNOWN00000000"))
    err = await expect(req, "InvalidAccessKeyId", 403)
    assert err.fields["AWSAccessKeyId"] == "AKIANOTKNOWN00000000"
    await expect(sigv4_put("k", credentials=creds(secret="x" * 40)), "SignatureDoesNotMatch", 403)
    err = await expect(
        sigv4_put("k"), "RequestTimeTooSkewed", 403, now=datetime.now(UTC) + timedelta(minutes=20)
    )
    assert err.fields["MaxAllowedSkewMilliseconds"] == "900000"


async def test_s3_malformed_authorization():
    req = sigv4_put("k")
    bad = with_header(
        req,
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={AKID}/20240101/us-east-1/s3, SignedHeaders=host, Signature=a",
    )
    err = await expect(bad, "AuthorizationHeaderMalformed", 400)
    assert err.message.startswith("The authorization header is malformed;")
    await expect(with_header(req, "Authorization", "Basic Zm9v"), "InvalidArgument", 400)
    await expect(
        with_header(req, "Authorization", "AWS nocolon"), "AuthorizationHeaderMalformed", 400
    )
    presigned = WireRequest("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=x", {})
    await expect(presigned, "AuthorizationQueryParametersError", 400)


# --- HmacV1 (S3 SigV2) ---------------------------------------------------------------


def hmacv1(method: str, url: str, headers=None, body=b"", credentials=None, auth_path=None):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if auth_path:
        request.auth_path = auth_path
    HmacV1Auth(credentials or creds()).add_auth(request)
    return to_wire(request)


@pytest.mark.parametrize("key", KEYS)
async def test_hmacv1_header_with_odd_keys_and_sub_resources(key):
    req = hmacv1(
        "PUT",
        object_url(key, query="uploadId=abc%2Fdef&partNumber=2&foo=bar"),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==",
            "x-amz-meta-Color": "blue",
        },
        body=b"part",
    )
    result = await authenticate(req, store(), service="s3")
    assert result.signature_version == "s3v2" and result.region is None
    # sub-resources are signed, other query parameters are not
    await expect(
        replace(req, raw_query=req.raw_query.replace("partNumber=2", "partNumber=3"), query=[]),
        "SignatureDoesNotMatch",
        403,
    )
    await authenticate(
        replace(req, raw_query=req.raw_query + "&other=1", query=[]), store(), service="s3"
    )
    await expect(with_header(req, "Content-Type", "text/plain"), "SignatureDoesNotMatch", 403)
    await expect(with_header(req, "x-amz-meta-color", "red"), "SignatureDoesNotMatch", 403)


async def test_hmacv1_virtual_host_bucket_and_failures():
    req = hmacv1("GET", "http://bucket.cloud.local:8773/key?acl", auth_path="/bucket/key")
    await authenticate(req, store(), service="s3", virtual_host_bucket="bucket")
    await expect(req, "SignatureDoesNotMatch", 403)  # without the bucket from Host
    await expect(
        hmacv1("GET", object_url("k"), credentials=creds(akid="AKIANOPE")),
        "InvalidAccessKeyId",
        403,
    )
    await expect(
        hmacv1("GET", object_url("k")),
        "RequestTimeTooSkewed",
        403,
        now=datetime.now(UTC) - timedelta(minutes=16),
    )
    await expect(with_header(hmacv1("GET", object_url("k")), "Date", None), "AccessDenied", 403)


async def test_hmacv1_x_amz_date_replaces_date_line():
    import base64
    import hmac as _hmac
    from email.utils import formatdate

    date = formatdate(usegmt=True)
    sts = f"GET\n\n\n\nx-amz-date:{date}\n/bucket/k%20y"
    sig = base64.b64encode(_hmac.digest(SECRET.encode(), sts.encode(), "sha1")).decode()
    req = WireRequest(
        "GET",
        "/bucket/k%20y",
        "",
        {
            "Host": "cloud.local",
            "x-amz-date": date,
            "Date": "ignored",
            "Authorization": f"AWS {AKID}:{sig}",
        },
    )
    await authenticate(req, store(), service="s3")


async def test_hmacv1_presigned_with_token_and_expiry():
    request = AWSRequest(
        method="GET", url=object_url("ü k+y", query="response-content-type=text%2Fplain")
    )
    HmacV1QueryAuth(tmp_creds(), expires=300).add_auth(request)
    req = to_wire(request)
    assert "x-amz-security-token=" in req.raw_query
    result = await authenticate(req, store(), service="s3")
    assert result.signature_version == "s3v2-presigned"
    assert result.credential is not None and result.credential.session_token == TOKEN
    err = await expect(req, "AccessDenied", 403, now=datetime.now(UTC) + timedelta(seconds=400))
    assert err.message == "Request has expired"
    bad = replace(req, raw_query=req.raw_query.replace("text%2Fplain", "text%2Fhtml"), query=[])
    await expect(bad, "SignatureDoesNotMatch", 403)


# --- aws-chunked streaming uploads (AWS's documented example) -----------------------

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


class Stream:
    def __init__(self, data: bytes, step: int = 1000) -> None:
        self.data, self.step = data, step

    async def read(self, n: int = -1) -> bytes:
        out, self.data = self.data[: self.step], self.data[self.step :]
        return out


def chunked_example(sigs=DOC_SIGS) -> bytes:
    sizes = [65536, 1024, 0]
    return b"".join(
        f"{size:x};chunk-signature={sig}\r\n".encode() + b"a" * size + b"\r\n"
        for size, sig in zip(sizes, sigs, strict=True)
    )


def doc_request(body: bytes) -> WireRequest:
    signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
    headers = {
        "Host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "Content-Length": "66824",
    }
    req = WireRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)
    req.stream = Stream(body)
    return req


def stream_of(req: WireRequest) -> BodyStream:
    assert req.stream is not None
    return req.stream


def doc_store() -> MemoryCredentialStore:
    return MemoryCredentialStore(
        [Credential("AKIAIOSFODNN7EXAMPLE", DOC_SECRET, "1", "arn:aws:iam::1:user/d", "AIDA")]
    )


async def test_streaming_upload_matches_aws_documented_example():
    body = chunked_example()
    assert len(body) == 66824
    req = doc_request(body)
    when = datetime(2013, 5, 24, 0, 5, tzinfo=UTC)
    result = await authenticate(req, doc_store(), service="s3", now=when)
    assert (
        result.sigv4 is not None and result.content_sha256 == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    )
    decoded = b"".join(
        [c async for c in ChunkedBody(stream_of(req), ChunkSignatureVerifier(result.sigv4))]
    )
    assert decoded == b"a" * 66560


async def test_streaming_upload_detects_tampered_chunk_and_reordering():
    when = datetime(2013, 5, 24, 0, 5, tzinfo=UTC)
    for body in (
        chunked_example().replace(b"a" * 10, b"b" * 10, 1),
        chunked_example([DOC_SIGS[0], DOC_SIGS[0], DOC_SIGS[2]]),
    ):
        req = doc_request(body)
        result = await authenticate(req, doc_store(), service="s3", now=when)
        assert result.sigv4 is not None
        with pytest.raises(AwsError) as info:
            _ = [c async for c in ChunkedBody(stream_of(req), ChunkSignatureVerifier(result.sigv4))]
        assert info.value.code == "SignatureDoesNotMatch"
    truncated = doc_request(chunked_example()[:60000])
    result = await authenticate(truncated, doc_store(), service="s3", now=when)
    assert result.sigv4 is not None
    with pytest.raises(AwsError) as info:
        _ = [
            c async for c in ChunkedBody(stream_of(truncated), ChunkSignatureVerifier(result.sigv4))
        ]
    assert info.value.code == "IncompleteBody"


async def test_unsigned_chunked_body_with_trailer():
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    decoder = ChunkedBody(Stream(body, step=3))
    assert b"".join([c async for c in decoder]) == b"hello"
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}
