"""S3 correctness as AWS behaves: listings that end, conditional writes, encoded version
listings, presigned headers, part reads, idempotent completes, storage classes and
archive restores, bucket details, SigV2 sub-resources."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, http
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
        v2 = _pages(lambda **kw: s3.list_objects_v2(**base, MaxKeys=size, **kw),
                    lambda p: {"ContinuationToken": p["NextContinuationToken"]})
        v1 = _pages(lambda **kw: s3.list_objects(**base, MaxKeys=size, **kw),
                    lambda p: {"Marker": p["NextMarker"]})
        versions = _pages(
            lambda **kw: s3.list_object_versions(**base, MaxKeys=size, **kw),
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
