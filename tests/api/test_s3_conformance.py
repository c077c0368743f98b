"""S3 correctness as AWS behaves: listings that end, conditional writes, encoded version
listings, presigned headers, part reads, idempotent completes, storage classes and
archive restores, bucket details, SigV2 sub-resources."""

from __future__ import annotations

import base64
import hmac
import json
import os
import threading
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, http, second_account
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases

MB = 1 << 20


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture()
def s3(cloud: LiveCloud) -> Any:
    return cloud.client("s3")


def _bucket(s3: Any, tag: str, versioned: bool = False) -> str:
    name = bucket_name(tag)
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


# -- 1. delimiter listings end ----------------------------------------------------------


def _pages(call: Any, more: Any, limit: int = 50) -> list[dict[str, Any]]:
    """Follow a listing by its markers; fails instead of looping forever."""
    pages: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for _ in range(limit):
        page = call(**extra)
        pages.append(page)
        if not page["IsTruncated"]:
            return pages
        extra = more(page)
    raise AssertionError(f"listing did not end after {limit} pages: {pages[-2:]}")


def test_delimiter_listing_ends_on_common_prefix(s3: Any) -> None:
    name = _bucket(s3, "delim", versioned=True)
    for key in ("test/0/0", "test/1/1", "test/2/2", "test/3", "test/4/a/b"):
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    want_prefixes = ["test/0/", "test/1/", "test/2/", "test/4/"]
    base = {"Bucket": name, "Prefix": "test/", "Delimiter": "/"}
    for size in range(1, 5):
        v2 = _pages(lambda size=size, **kw: s3.list_objects_v2(**base, MaxKeys=size, **kw),
                    lambda p: {"ContinuationToken": p["NextContinuationToken"]})
        v1 = _pages(lambda size=size, **kw: s3.list_objects(**base, MaxKeys=size, **kw),
                    lambda p: {"Marker": p["NextMarker"]})
        versions = _pages(
            lambda size=size, **kw: s3.list_object_versions(**base, MaxKeys=size, **kw),
            lambda p: {"KeyMarker": p["NextKeyMarker"],
                       **({"VersionIdMarker": p["NextVersionIdMarker"]}
                          if p.get("NextVersionIdMarker") else {})})
        for pages in (v2, v1, versions):
            prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
            keys = [c["Key"] for p in pages for c in p.get("Contents", p.get("Versions", []))]
            assert prefixes == want_prefixes, (size, pages)
            assert keys == ["test/3"], (size, pages)
    paginator = s3.get_paginator("list_objects_v2")
    listed = [c["Prefix"] for page in paginator.paginate(**base, PaginationConfig={"PageSize": 1})
              for c in page.get("CommonPrefixes", [])]
    assert listed == want_prefixes


# -- 3. version listings decode ---------------------------------------------------------

ODD_KEYS = ["a+b", "with space", "plus+and space", "caf\u00e9/\u00fcber", "\u65e5\u672c",
            "pct%2Bkey", "amp&eq=?"]


def _fill_versions(s3: Any, name: str) -> None:
    for key in ODD_KEYS:
        s3.put_object(Bucket=name, Key=key, Body=b"1")
        s3.put_object(Bucket=name, Key=key, Body=b"2")
        s3.delete_object(Bucket=name, Key=key)


def test_list_versions_then_delete_empties_bucket_boto3(s3: Any) -> None:
    name = _bucket(s3, "oddv", versioned=True)
    _fill_versions(s3, name)
    listed = s3.list_object_versions(Bucket=name)
    assert listed.get("EncodingType") == "url"
    assert sorted({v["Key"] for v in listed["Versions"]}) == sorted(ODD_KEYS)
    entries = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in listed["Versions"] + listed["DeleteMarkers"]]
    out = s3.delete_objects(Bucket=name, Delete={"Objects": entries})
    assert not out.get("Errors")
    assert not s3.list_object_versions(Bucket=name).get("Versions")
    s3.delete_bucket(Bucket=name)


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3 (the _boto3 twin)")
def test_list_versions_then_delete_empties_bucket_cli(cloud: LiveCloud, s3: Any,
                                                      tmp_path: Path) -> None:
    name = _bucket(s3, "oddc", versioned=True)
    _fill_versions(s3, name)
    listed = json.loads(cloud.aws("s3api", "list-object-versions", "--bucket", name).stdout)
    entries = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in listed["Versions"] + listed["DeleteMarkers"]]
    spec = tmp_path / "delete.json"
    spec.write_text(json.dumps({"Objects": entries}))
    out = cloud.aws("s3api", "delete-objects", "--bucket", name, "--delete", f"file://{spec}")
    assert "Errors" not in json.loads(out.stdout)
    cloud.aws("s3api", "delete-bucket", "--bucket", name)


# -- 8. SigV2 sub-resources sent with an empty value ------------------------------------


def _v2(cloud: LiveCloud, method: str, path: str, query: str = "", body: bytes = b"",
        content_type: str = "") -> tuple[int, bytes, dict[str, str]]:
    """A request signed with S3 SigV2 (HmacV1) by hand; the resource is signed with each
    empty sub-resource as its bare key, as aws-sdk-go and rclone (v2_auth) do."""
    date = formatdate(usegmt=True)
    if method in ("PUT", "POST") and not content_type:
        content_type = "application/octet-stream"  # urllib would add a form type
    subs = sorted(item.partition("=") for item in query.split("&") if item)
    resource = path + ("?" + "&".join(k + (f"={v}" if v else "") for k, _, v in subs)
                       if subs else "")
    text = f"{method}\n\n{content_type}\n{date}\n{resource}"
    signature = base64.b64encode(hmac.digest(cloud.secret_key.encode(), text.encode(),
                                             "sha1")).decode()
    headers = {"Date": date, "Authorization": f"AWS {cloud.access_key}:{signature}"}
    if content_type:
        headers["Content-Type"] = content_type
    url = cloud.endpoint + quote(path) + (f"?{query}" if query else "")
    return http(method, url, body if method in ("PUT", "POST") else None, headers)


def _xml_value(body: bytes, tag: str) -> str:
    text = body.decode()
    return text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]


def test_sigv2_multipart_with_empty_subresource_values(cloud: LiveCloud, s3: Any) -> None:
    name = _bucket(s3, "sigv2mp")
    path = f"/{name}/big.bin"
    status, body, _ = _v2(cloud, "POST", path, "uploads=")
    assert status == 200, body
    upload_id = _xml_value(body, "UploadId")
    parts = [os.urandom(5 * MB), b"tail"]
    etags = []
    for number, data in enumerate(parts, 1):
        status, body, headers = _v2(cloud, "PUT", path,
                                    f"partNumber={number}&uploadId={upload_id}", data)
        assert status == 200, body
        etags.append(headers["ETag"])
    status, body, _ = _v2(cloud, "GET", f"/{name}/", "uploads=")
    assert status == 200 and upload_id.encode() in body, body
    complete = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        for n, e in enumerate(etags, 1)) + "</CompleteMultipartUpload>"
    status, body, _ = _v2(cloud, "POST", path, f"uploadId={upload_id}", complete.encode(),
                          "application/xml")
    assert status == 200, body
    got = s3.get_object(Bucket=name, Key="big.bin")["Body"].read()
    assert got == b"".join(parts)
    # ``rclone cleanup``: list the uploads (``?uploads=``) and abort each
    status, body, _ = _v2(cloud, "POST", f"/{name}/stale", "uploads=")
    assert status == 200, body
    stale = _xml_value(body, "UploadId")
    status, body, _ = _v2(cloud, "GET", f"/{name}/", "uploads=")
    assert status == 200 and stale.encode() in body, body
    status, body, _ = _v2(cloud, "DELETE", f"/{name}/stale", f"uploadId={stale}")
    assert status == 204, body
    assert not s3.list_multipart_uploads(Bucket=name).get("Uploads")


# -- 2. conditional writes --------------------------------------------------------------


def test_conditional_put_and_complete(s3: Any) -> None:
    name = _bucket(s3, "cond")
    first = s3.put_object(Bucket=name, Key="lock", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="lock", Body=b"two", IfNoneMatch="*")
    assert (_code(exc), _status(exc)) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="lock", Body=b"two", IfMatch='"0123456789abcdef"')
    assert (_code(exc), _status(exc)) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="absent", Body=b"x", IfMatch=first["ETag"])
    assert (_code(exc), _status(exc)) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="lock", Body=b"two", IfNoneMatch=first["ETag"])
    assert _status(exc) == 501
    assert s3.get_object(Bucket=name, Key="lock")["Body"].read() == b"one"
    second = s3.put_object(Bucket=name, Key="lock", Body=b"two", IfMatch=first["ETag"])
    assert s3.get_object(Bucket=name, Key="lock")["Body"].read() == b"two"
    # multipart: the condition is checked at Complete
    upload = s3.create_multipart_upload(Bucket=name, Key="lock")["UploadId"]
    etag = s3.upload_part(Bucket=name, Key="lock", UploadId=upload, PartNumber=1,
                          Body=b"three")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="lock", UploadId=upload,
                                     MultipartUpload=parts, IfNoneMatch="*")
    assert (_code(exc), _status(exc)) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="lock", UploadId=upload,
                                     MultipartUpload=parts, IfMatch=first["ETag"])
    assert (_code(exc), _status(exc)) == ("PreconditionFailed", 412)
    s3.complete_multipart_upload(Bucket=name, Key="lock", UploadId=upload,
                                 MultipartUpload=parts, IfMatch=second["ETag"])
    assert s3.get_object(Bucket=name, Key="lock")["Body"].read() == b"three"
    upload = s3.create_multipart_upload(Bucket=name, Key="fresh")["UploadId"]
    etag = s3.upload_part(Bucket=name, Key="fresh", UploadId=upload, PartNumber=1,
                          Body=b"new")["ETag"]
    s3.complete_multipart_upload(Bucket=name, Key="fresh", UploadId=upload, IfNoneMatch="*",
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    # conditional delete
    current = s3.head_object(Bucket=name, Key="fresh")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=name, Key="fresh", IfMatch='"0123456789abcdef"')
    assert (_code(exc), _status(exc)) == ("PreconditionFailed", 412)
    s3.head_object(Bucket=name, Key="fresh")
    s3.delete_object(Bucket=name, Key="fresh", IfMatch=current)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="fresh")
    assert _status(exc) == 404


@pytest.mark.parametrize("versioned", [False, True])
def test_concurrent_if_none_match_has_one_winner(cloud: LiveCloud, versioned: bool) -> None:
    s3 = cloud.client("s3")
    name = _bucket(s3, "race", versioned)
    clients = [cloud.client("s3") for _ in range(2)]
    for round_ in range(25):
        key = f"lock-{round_}"
        results: list[str] = []
        barrier = threading.Barrier(len(clients))

        def put(client: Any, body: bytes, key: str, barrier: threading.Barrier,
                results: list[str]) -> None:
            barrier.wait()
            try:
                client.put_object(Bucket=name, Key=key, Body=body, IfNoneMatch="*")
                results.append("won:" + body.decode())
            except ClientError as err:
                results.append(str(err.response["Error"]["Code"]))

        threads = [threading.Thread(target=put, args=(c, f"writer{i}".encode(), key, barrier,
                                                      results))
                   for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [r for r in results if r.startswith("won:")]
        assert len(winners) == 1, results
        assert all(r in ("PreconditionFailed", "ConditionalRequestConflict")
                   for r in results if r not in winners), results
        body = s3.get_object(Bucket=name, Key=key)["Body"].read().decode()
        assert winners == ["won:" + body]
        if versioned:
            assert len(s3.list_object_versions(Bucket=name, Prefix=key)["Versions"]) == 1


# -- 5. GET/HEAD by part number ---------------------------------------------------------


def test_get_and_head_by_part_number(s3: Any) -> None:
    name = _bucket(s3, "partnum")
    chunks = [os.urandom(5 * MB), os.urandom(5 * MB), b"last part"]
    upload = s3.create_multipart_upload(Bucket=name, Key="mp")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=name, Key="mp", UploadId=upload,
                                                       PartNumber=n, Body=data)["ETag"]}
             for n, data in enumerate(chunks, 1)]
    s3.complete_multipart_upload(Bucket=name, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": parts})
    offset = 0
    for number, data in enumerate(chunks, 1):
        got = s3.get_object(Bucket=name, Key="mp", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3 and got["ContentLength"] == len(data)
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{5 * MB * 2 + 9}"
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=name, Key="mp", PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == len(data) and head["PartsCount"] == 3
        offset += len(data)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="mp", PartNumber=4)
    assert (_code(exc), _status(exc)) == ("InvalidPartNumber", 416)


# -- 6. multipart retries, in-place copies, storage classes, archives ---------------------


def test_complete_multipart_upload_is_idempotent(s3: Any) -> None:
    name = _bucket(s3, "mpretry", versioned=True)
    upload = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    parts = [{"PartNumber": 1, "ETag": s3.upload_part(Bucket=name, Key="k", UploadId=upload,
                                                      PartNumber=1, Body=b"data")["ETag"]}]
    first = s3.complete_multipart_upload(Bucket=name, Key="k", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=name, Key="k", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    assert (again["ETag"], again["VersionId"]) == (first["ETag"], first["VersionId"])
    assert len(s3.list_object_versions(Bucket=name)["Versions"]) == 1
    other = [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="k", UploadId=upload,
                                     MultipartUpload={"Parts": other})
    assert (_code(exc), _status(exc)) == ("NoSuchUpload", 404)


def test_copy_in_place_on_versioned_encrypted_bucket(s3: Any) -> None:
    name = _bucket(s3, "inplace", versioned=True)
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    first = s3.put_object(Bucket=name, Key="k", Body=b"payload" * 20000, ContentType="a/b")
    source = {"Bucket": name, "Key": "k"}
    replaced = s3.copy_object(Bucket=name, Key="k", CopySource=source,
                              MetadataDirective="REPLACE", ContentType="c/d",
                              Metadata={"m": "1"})
    recl = s3.copy_object(Bucket=name, Key="k", CopySource=source,
                          StorageClass="STANDARD_IA")
    resse = s3.copy_object(Bucket=name, Key="k", CopySource=source,
                           ServerSideEncryption="AES256")
    ids = [first["VersionId"], replaced["VersionId"], recl["VersionId"], resse["VersionId"]]
    assert len(set(ids)) == 4
    versions = s3.list_object_versions(Bucket=name)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted(ids)
    for version in ids:
        got = s3.get_object(Bucket=name, Key="k", VersionId=version)
        assert got["Body"].read() == b"payload" * 20000
        assert got["ServerSideEncryption"] == "AES256"
    head = s3.head_object(Bucket=name, Key="k")
    assert head["ContentType"] == "c/d" and head["Metadata"] == {"m": "1"}
    assert head["StorageClass"] == "STANDARD_IA"


def test_storage_classes_and_archive_restore(s3: Any) -> None:
    name = _bucket(s3, "glacier")
    for call in (lambda: s3.put_object(Bucket=name, Key="k", Body=b"x", StorageClass="COLD"),
                 lambda: s3.create_multipart_upload(Bucket=name, Key="k", StorageClass="COLD")):
        with pytest.raises(ClientError) as exc:
            call()
        assert (_code(exc), _status(exc)) == ("InvalidStorageClass", 400)
    s3.put_object(Bucket=name, Key="src", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=name, Key="k", CopySource={"Bucket": name, "Key": "src"},
                       StorageClass="COLD")
    assert _code(exc) == "InvalidStorageClass"
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=name, Key="src", RestoreRequest={"Days": 1})
    assert (_code(exc), _status(exc)) == ("InvalidObjectState", 403)
    for storage_class in ("GLACIER", "DEEP_ARCHIVE"):
        key = f"cold-{storage_class}"
        s3.put_object(Bucket=name, Key=key, Body=b"frozen", StorageClass=storage_class)
        head = s3.head_object(Bucket=name, Key=key)
        assert head["StorageClass"] == storage_class and "Restore" not in head
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=name, Key=key)
        assert (_code(exc), _status(exc)) == ("InvalidObjectState", 403)
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=name, Key="warm", CopySource={"Bucket": name, "Key": key})
        assert _code(exc) == "InvalidObjectState"
        out = s3.restore_object(Bucket=name, Key=key, RestoreRequest={"Days": 2})
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
        head = s3.head_object(Bucket=name, Key=key)
        assert head["Restore"].startswith('ongoing-request="false", expiry-date="')
        assert s3.get_object(Bucket=name, Key=key)["Body"].read() == b"frozen"
        again = s3.restore_object(Bucket=name, Key=key, RestoreRequest={"Days": 3})
        assert again["ResponseMetadata"]["HTTPStatusCode"] == 200


# -- 4. presigned URLs bind their signed headers ----------------------------------------


def test_presigned_put_enforces_signed_content_type(s3: Any) -> None:
    name = _bucket(s3, "presign")
    url = s3.generate_presigned_url("put_object", Params={
        "Bucket": name, "Key": "k", "ContentType": "image/png"}, ExpiresIn=300)
    assert "content-type" in url.lower()  # X-Amz-SignedHeaders=content-type;host
    for headers in ({}, {"Content-Type": "text/html"}):
        status, body, _ = http("PUT", url, b"<script>", headers)
        assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="k")
    status, body, _ = http("PUT", url, b"png", {"Content-Type": "image/png"})
    assert status == 200, body
    assert s3.head_object(Bucket=name, Key="k")["ContentType"] == "image/png"


# -- 7. bucket details ------------------------------------------------------------------


def test_bucket_details_as_aws(cloud: LiveCloud, s3: Any) -> None:
    name = bucket_name("details")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": cloud.region})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    other = bucket_name("elsewhere")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=other, CreateBucketConfiguration={
            "LocationConstraint": "eu-west-1"})
    assert (_code(exc), _status(exc)) == ("IllegalLocationConstraintException", 400)
    out = s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": "aws:cloudformation:stack-name", "Value": "x"}]})
    assert (_code(exc), _status(exc)) == ("InvalidTag", 400)
    s3.delete_bucket_tagging(Bucket=name)
    for call, code in ((lambda: s3.get_bucket_tagging(Bucket=name), "NoSuchTagSet"),
                       (lambda: s3.get_bucket_cors(Bucket=name), "NoSuchCORSConfiguration"),
                       (lambda: s3.get_bucket_lifecycle_configuration(Bucket=name),
                        "NoSuchLifecycleConfiguration"),
                       (lambda: s3.list_objects_v2(Bucket=name + "-none"), "NoSuchBucket")):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == code
        assert exc.value.response["Error"]["BucketName"].startswith(name)


def test_acl_grantee_by_id_and_email_listed_once(cloud: LiveCloud, s3: Any) -> None:
    name = _bucket(s3, "aclonce")
    tag = bucket_name("acl")
    access_key, secret_key, _ = second_account(cloud, tag)
    other = cloud.client("s3", access_key=access_key, secret_key=secret_key)
    other_id = other.list_buckets()["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=name,
                      GrantRead=f'id="{other_id}", emailAddress="{tag}@example.com"')
    grants = s3.get_bucket_acl(Bucket=name)["Grants"]
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in grants] == [(other_id, "READ")]


# -- ListParts pages as the S3 reference says ------------------------------------------


def test_list_parts_pages(s3: Any) -> None:
    name = _bucket(s3, "parts")
    upload = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    for number in range(1, 6):
        s3.upload_part(Bucket=name, Key="k", UploadId=upload, PartNumber=number,
                       Body=bytes([number]) * 10)
    base = {"Bucket": name, "Key": "k", "UploadId": upload, "MaxParts": 2}
    first = s3.list_parts(**base)
    assert (first["IsTruncated"], first["NextPartNumberMarker"], first["MaxParts"]) \
        == (True, 2, 2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    second = s3.list_parts(**base, PartNumberMarker=2)
    assert second["PartNumberMarker"] == 2
    assert [p["PartNumber"] for p in second["Parts"]] == [3, 4]
    assert (second["IsTruncated"], second["NextPartNumberMarker"]) == (True, 4)
    last = s3.list_parts(**base, PartNumberMarker=4)
    assert [p["PartNumber"] for p in last["Parts"]] == [5]
    assert (last["IsTruncated"], last["NextPartNumberMarker"]) == (False, 5)
    beyond = s3.list_parts(**base, PartNumberMarker=5)
    assert beyond["IsTruncated"] is False and beyond.get("Parts", []) == []
    pages = list(s3.get_paginator("list_parts").paginate(
        Bucket=name, Key="k", UploadId=upload, PaginationConfig={"PageSize": 2}))
    assert [[p["PartNumber"] for p in page["Parts"]] for page in pages] == [[1, 2], [3, 4], [5]]
    assert [p["Size"] for page in pages for p in page["Parts"]] == [10] * 5


# -- BucketName in the error documents that carry it on AWS ----------------------------


def test_missing_configuration_errors_name_the_bucket(s3: Any) -> None:
    name = _bucket(s3, "errname")
    locked = bucket_name("errlock")
    s3.create_bucket(Bucket=locked)
    calls = {
        "NoSuchBucketPolicy": lambda: s3.get_bucket_policy(Bucket=name),
        "NoSuchBucket": lambda: s3.get_bucket_policy(Bucket=name + "-none"),
        "NoSuchWebsiteConfiguration": lambda: s3.get_bucket_website(Bucket=name),
        "NoSuchCORSConfiguration": lambda: s3.get_bucket_cors(Bucket=name),
        "ServerSideEncryptionConfigurationNotFoundError":
            lambda: s3.get_bucket_encryption(Bucket=name),
        "NoSuchLifecycleConfiguration":
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=name),
        "ObjectLockConfigurationNotFoundError":
            lambda: s3.get_object_lock_configuration(Bucket=locked),
        "ReplicationConfigurationNotFoundError":
            lambda: s3.get_bucket_replication(Bucket=name),
        "NoSuchPublicAccessBlockConfiguration":
            lambda: s3.get_public_access_block(Bucket=name),
        "OwnershipControlsNotFoundError":
            lambda: s3.get_bucket_ownership_controls(Bucket=name),
        "NoSuchTagSet": lambda: s3.get_bucket_tagging(Bucket=name),
    }
    for code, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert (_code(exc), _status(exc)) == (code, 404)
        wanted = locked if code.startswith("ObjectLock") else \
            name + "-none" if code == "NoSuchBucket" else name
        assert exc.value.response["Error"].get("BucketName") == wanted, code
