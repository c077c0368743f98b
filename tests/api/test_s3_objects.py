"""S3 buckets and objects through boto3: errors, listing, ranges, conditions, digests."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture()
def s3(cloud: LiveCloud) -> Any:
    return cloud.client("s3")


def test_bucket_lifecycle(s3: Any) -> None:
    name = bucket_name("b")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eucalyptus"})
    s3.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None  # default region
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert _code(exc) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert _code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.list_objects(Bucket=name)
    assert _code(exc) == "NoSuchBucket"


@pytest.mark.sqlite_only("validation answered before any SQL")
@pytest.mark.parametrize("bad", ["ab", "UPPER", "a..b", "192.168.1.1", "-ab", "a" * 64])
def test_invalid_bucket_names(cloud: LiveCloud, bad: str) -> None:
    s3 = cloud.client("s3")
    with pytest.raises(Exception) as exc:
        s3.create_bucket(Bucket=bad)
    assert "InvalidBucketName" in str(exc.value) or "Invalid bucket name" in str(exc.value)


def test_put_get_head_metadata(s3: Any) -> None:
    name = bucket_name("o")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="dir/file.txt", Body=b"hello world", ContentType="text/plain",
                  Metadata={"colour": "blue"}, StorageClass="STANDARD_IA",
                  CacheControl="max-age=60")
    got = s3.get_object(Bucket=name, Key="dir/file.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["ETag"] == '"{}"'.format(hashlib.md5(b"hello world").hexdigest())
    assert got["StorageClass"] == "STANDARD_IA"
    assert got["CacheControl"] == "max-age=60"
    head = s3.head_object(Bucket=name, Key="dir/file.txt")
    assert head["ContentLength"] == 11
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="missing")
    assert _code(exc) == "NoSuchKey"
    assert exc.value.response["Error"]["Key"] == "missing"


def test_ranges_and_conditions(s3: Any) -> None:
    name = bucket_name("r")
    s3.create_bucket(Bucket=name)
    data = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=name, Key="k", Body=data)["ETag"]
    part = s3.get_object(Bucket=name, Key="k", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=name, Key="k", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=name, Key="k", Range="bytes=1000-")["Body"].read() == data[1000:]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k", Range="bytes=5000-6000")
    assert _code(exc) == "InvalidRange"
    assert s3.get_object(Bucket=name, Key="k", IfMatch=etag)["Body"].read() == data
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k", IfMatch='"nope"')
    assert _code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k", IfNoneMatch=etag)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = datetime.now(UTC) + timedelta(days=1)
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="k", IfModifiedSince=future)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k", IfUnmodifiedSince=past)
    assert _code(exc) == "PreconditionFailed"
    assert s3.head_object(Bucket=name, Key="k", IfModifiedSince=past)["ContentLength"] == 1024


def test_content_md5_and_checksums(s3: Any) -> None:
    name = bucket_name("d")
    s3.create_bucket(Bucket=name)
    good = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    s3.put_object(Bucket=name, Key="ok", Body=b"abc", ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"xyz").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="bad", Body=b"abc", ContentMD5=bad)
    assert _code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="bad", Body=b"abc", ContentMD5="notbase64!")
    assert _code(exc) == "InvalidDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="bad")
    for algorithm in ("CRC32", "SHA1", "SHA256"):  # CRC32C needs botocore[crt] client-side
        out = s3.put_object(Bucket=name, Key=f"c-{algorithm}", Body=b"payload",
                            ChecksumAlgorithm=algorithm)
        assert out[f"Checksum{algorithm}"]
        got = s3.get_object(Bucket=name, Key=f"c-{algorithm}", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"payload"
        assert got[f"Checksum{algorithm}"] == out[f"Checksum{algorithm}"]
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="c-wrong", Body=b"payload", ChecksumSHA256=wrong)
    assert _code(exc) in ("BadDigest", "InvalidRequest")


def test_listing_v1_v2(s3: Any) -> None:
    name = bucket_name("l")
    s3.create_bucket(Bucket=name)
    keys = ["a/1", "a/2", "b/1", "c", "d e+f", "dir/sub/x"]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=b"")
    v2 = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/", "b/", "dir/"]
    assert [c["Key"] for c in v2["Contents"]] == ["c", "d e+f"]
    assert v2["KeyCount"] == 5
    page = s3.list_objects_v2(Bucket=name, MaxKeys=2)
    assert page["IsTruncated"] and [c["Key"] for c in page["Contents"]] == ["a/1", "a/2"]
    rest = s3.list_objects_v2(Bucket=name, ContinuationToken=page["NextContinuationToken"])
    assert [c["Key"] for c in rest["Contents"]] == keys[2:]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=name, StartAfter="c")["Contents"]] == \
        ["d e+f", "dir/sub/x"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=name, Prefix="a/")["Contents"]] == \
        ["a/1", "a/2"]
    v1 = s3.list_objects(Bucket=name, Marker="a/2", MaxKeys=2, Delimiter="/")
    assert [c["Key"] for c in v1.get("Contents", [])] == ["c"]
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["b/"]
    assert v1["IsTruncated"] and v1["NextMarker"] == "c"
    paginator = s3.get_paginator("list_objects")
    seen = [c["Key"] for page in paginator.paginate(Bucket=name, PaginationConfig={"PageSize": 1})
            for c in page.get("Contents", [])]
    assert seen == keys


def test_copy_and_delete_objects(s3: Any) -> None:
    name = bucket_name("c")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="src", Body=b"data", Metadata={"a": "1"}, ContentType="x/y")
    s3.copy_object(Bucket=name, Key="same-meta", CopySource={"Bucket": name, "Key": "src"})
    got = s3.head_object(Bucket=name, Key="same-meta")
    assert got["Metadata"] == {"a": "1"} and got["ContentType"] == "x/y"
    s3.copy_object(Bucket=name, Key="new-meta", CopySource=f"{name}/src",
                   MetadataDirective="REPLACE", Metadata={"b": "2"})
    assert s3.head_object(Bucket=name, Key="new-meta")["Metadata"] == {"b": "2"}
    assert s3.get_object(Bucket=name, Key="new-meta")["Body"].read() == b"data"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=name, Key="src", CopySource=f"{name}/src")
    assert _code(exc) == "InvalidRequest"
    out = s3.delete_objects(Bucket=name, Delete={"Objects": [
        {"Key": "src"}, {"Key": "same-meta"}, {"Key": "never-there"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["never-there", "same-meta", "src"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=name)["Contents"]] == ["new-meta"]


def test_multipart(s3: Any) -> None:
    name = bucket_name("m")
    s3.create_bucket(Bucket=name)
    part1, part2 = b"a" * (5 << 20), b"b" * 1000
    upload = s3.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    e1 = s3.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=2, Body=part2)["ETag"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]] == [upload]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=name, Key="big",
                                                   UploadId=upload)["Parts"]] == [1, 2]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert _code(exc) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"0000"'}]})
    assert _code(exc) == "InvalidPart"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e2}]})
    assert _code(exc) == "InvalidPart"
    small = s3.create_multipart_upload(Bucket=name, Key="small")["UploadId"]
    t1 = s3.upload_part(Bucket=name, Key="small", UploadId=small, PartNumber=1, Body=b"x")["ETag"]
    t2 = s3.upload_part(Bucket=name, Key="small", UploadId=small, PartNumber=2, Body=b"y")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="small", UploadId=small, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": t1}, {"PartNumber": 2, "ETag": t2}]})
    assert _code(exc) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=name, Key="small", UploadId=small)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=name, Key="small", UploadId=small)
    assert _code(exc) == "NoSuchUpload"
    done = s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    md5s = b"".join(hashlib.md5(p).digest() for p in (part1, part2))
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    assert s3.get_object(Bucket=name, Key="big", Range="bytes=5242878-5242881")["Body"].read() \
        == b"aabb"
    copy = s3.create_multipart_upload(Bucket=name, Key="copied")["UploadId"]
    pc = s3.upload_part_copy(Bucket=name, Key="copied", UploadId=copy, PartNumber=1,
                             CopySource=f"{name}/big", CopySourceRange="bytes=5242000-5243999")
    s3.complete_multipart_upload(Bucket=name, Key="copied", UploadId=copy, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": pc["CopyPartResult"]["ETag"]}]})
    body = s3.get_object(Bucket=name, Key="copied")["Body"].read()
    assert body == (part1 + part2)[5242000:5244000]


def test_upload_fileobj_streams(s3: Any) -> None:
    name = bucket_name("s")
    s3.create_bucket(Bucket=name)
    data = hashlib.sha256(b"seed").digest() * (1 << 16)  # 2 MiB
    s3.upload_fileobj(io.BytesIO(data), name, "f")
    out = io.BytesIO()
    s3.download_fileobj(name, "f", out)
    assert out.getvalue() == data


def test_small_objects_inline_and_at_the_limit(s3: Any) -> None:
    """Objects up to objectstorage.inline_max_bytes (64 KiB) live in their row: every
    operation that reads object data serves them the same as blob-backed ones, across
    the boundary (64 KiB inline, 64 KiB + 1 a blob), unsized streams and copies."""
    name = bucket_name("inl")
    s3.create_bucket(Bucket=name)
    bodies = {"empty": b"", "tiny": b"x", "edge": os.urandom(64 << 10),
              "over": os.urandom((64 << 10) + 1)}
    for key, body in bodies.items():
        put = s3.put_object(Bucket=name, Key=key, Body=body, Metadata={"k": key})
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    for key, body in bodies.items():
        got = s3.get_object(Bucket=name, Key=key)
        assert got["Body"].read() == body and got["Metadata"] == {"k": key}
        assert s3.head_object(Bucket=name, Key=key)["ContentLength"] == len(body)
    edge = bodies["edge"]
    ranged = s3.get_object(Bucket=name, Key="edge", Range="bytes=65530-")
    assert ranged["Body"].read() == edge[65530:]
    assert ranged["ContentRange"] == f"bytes 65530-{len(edge) - 1}/{len(edge)}"
    # an upload without Content-Length (aws-chunked, as upload_fileobj sends small files)
    s3.upload_fileobj(io.BytesIO(b"streamed"), name, "streamed")
    assert s3.get_object(Bucket=name, Key="streamed")["Body"].read() == b"streamed"
    # copies of an inline source: whole (inline again) and a ranged part copy
    s3.copy_object(Bucket=name, Key="edge-copy", CopySource=f"{name}/edge")
    assert s3.get_object(Bucket=name, Key="edge-copy")["Body"].read() == edge
    upload = s3.create_multipart_upload(Bucket=name, Key="from-inline")["UploadId"]
    part = s3.upload_part_copy(Bucket=name, Key="from-inline", UploadId=upload, PartNumber=1,
                               CopySource=f"{name}/edge", CopySourceRange="bytes=100-4195")
    s3.complete_multipart_upload(Bucket=name, Key="from-inline", UploadId=upload,
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=name, Key="from-inline")["Body"].read() == edge[100:4196]
    # overwrite an inline object with a blob-backed one and back
    s3.put_object(Bucket=name, Key="tiny", Body=bodies["over"])
    assert s3.get_object(Bucket=name, Key="tiny")["Body"].read() == bodies["over"]
    s3.put_object(Bucket=name, Key="tiny", Body=b"small again")
    assert s3.get_object(Bucket=name, Key="tiny")["Body"].read() == b"small again"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="bad", Body=b"abc", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert _code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="bad")
    assert exc.value.response["Error"]["Code"] == "404"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return (int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]), _code(exc))


@pytest.mark.sqlite_only("validation answered before any SQL")
def test_key_length_limit_on_every_write(s3: Any) -> None:
    """1,024 bytes of UTF-8 is the longest key: PutObject, the multipart operations and
    both copies refuse a longer one (KeyTooLongError) before anything is stored."""
    name = bucket_name("keylen")
    s3.create_bucket(Bucket=name)
    longest, too_long = "k" * 1022 + "é", "k" * 1023 + "é"  # 1,024 and 1,025 bytes
    s3.put_object(Bucket=name, Key="src", Body=b"source")
    upload = s3.create_multipart_upload(Bucket=name, Key=longest)["UploadId"]
    calls = [
        lambda: s3.put_object(Bucket=name, Key=too_long, Body=b"x"),
        lambda: s3.create_multipart_upload(Bucket=name, Key=too_long),
        lambda: s3.upload_part(Bucket=name, Key=too_long, UploadId=upload, PartNumber=1,
                               Body=b"x"),
        lambda: s3.complete_multipart_upload(
            Bucket=name, Key=too_long, UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
        lambda: s3.copy_object(Bucket=name, Key=too_long, CopySource={"Bucket": name,
                                                                      "Key": "src"}),
        lambda: s3.upload_part_copy(Bucket=name, Key=too_long, UploadId=upload, PartNumber=1,
                                    CopySource={"Bucket": name, "Key": "src"}),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == (400, "KeyTooLongError")
        assert exc.value.response["Error"]["Message"] == "Your key is too long"
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", [])] \
        == [longest]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["src"]
    # the longest key works through the same paths
    etag = s3.upload_part(Bucket=name, Key=longest, UploadId=upload, PartNumber=1,
                          Body=b"part")["ETag"]
    s3.complete_multipart_upload(Bucket=name, Key=longest, UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.copy_object(Bucket=name, Key=longest[1:] + "c", CopySource={"Bucket": name,
                                                                    "Key": "src"})
    assert s3.get_object(Bucket=name, Key=longest)["Body"].read() == b"part"


@pytest.mark.sqlite_only("validation answered before any SQL")
def test_request_documents_are_bounded(s3: Any) -> None:
    """DeleteObjects takes 1,000 keys, CompleteMultipartUpload 10,000 parts (MalformedXML
    beyond); a request document over the request size limit is MaxMessageLengthExceeded."""
    name = bucket_name("docs")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": f"k{i}"}
                                                           for i in range(1001)]})
    assert _error(exc) == (400, "MalformedXML")
    upload = s3.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": i, "ETag": f'"{i:032x}"'} for i in range(1, 10002)]})
    assert _error(exc) == (400, "MalformedXML")
    with pytest.raises(ClientError) as exc:  # ~2.2 MB of XML: over the 2 MiB default
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": f"{i:04d}" + "k" * 2200}
                                                           for i in range(1000)]})
    assert _error(exc) == (400, "MaxMessageLengthExceeded")
    s3.abort_multipart_upload(Bucket=name, Key="big", UploadId=upload)
