"""Server-side encryption (SSE-S3, AES256) through boto3: PUT, copy, multipart, bucket
default encryption, ranged GETs, and proof that the bytes on disk are not the plaintext."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud


def _on_disk(cloud: LiveCloud, needle: bytes) -> bool:
    """Whether any file of the cloud (object store, database and its WAL) holds ``needle``."""
    for path in Path(cloud.data_dir).rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            return True
    return False


def _plaintext(size: int) -> tuple[bytes, bytes]:
    marker = b"MARKER-" + os.urandom(12).hex().encode()
    body = ((marker + os.urandom(1024 - len(marker))) * (size // 1024)
            + os.urandom(size % 1024))
    return body, marker


def test_put_get_head_ranges_and_disk(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("sse")
    s3.create_bucket(Bucket=name)
    body, marker = _plaintext(300_001)
    put = s3.put_object(Bucket=name, Key="secret", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'  # MD5 of the plaintext
    got = s3.get_object(Bucket=name, Key="secret")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == body
    assert s3.head_object(Bucket=name, Key="secret")["ServerSideEncryption"] == "AES256"
    for first, last in ((0, 0), (1, 16), (15, 17), (4095, 70_000), (299_990, 300_000)):
        part = s3.get_object(Bucket=name, Key="secret", Range=f"bytes={first}-{last}")
        assert part["Body"].read() == body[first:last + 1], (first, last)
    tail = s3.get_object(Bucket=name, Key="secret", Range="bytes=-33")["Body"].read()
    assert tail == body[-33:]
    assert not _on_disk(cloud, marker)
    small, small_marker = _plaintext(4096)  # stored inline in its row: encrypted there too
    s3.put_object(Bucket=name, Key="small-secret", Body=small, ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=name, Key="small-secret")["Body"].read() == small
    ranged = s3.get_object(Bucket=name, Key="small-secret", Range="bytes=1000-2100")
    assert ranged["Body"].read() == small[1000:2101]
    assert not _on_disk(cloud, small_marker)
    plain_body, plain_marker = _plaintext(4096)
    s3.put_object(Bucket=name, Key="plain", Body=plain_body)
    assert "ServerSideEncryption" not in s3.head_object(Bucket=name, Key="plain")
    assert _on_disk(cloud, plain_marker)  # the disk check does find plaintext
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="bad", Body=b"x", ServerSideEncryption="AES256",
                      ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert exc.value.response["Error"]["Code"] == "BadDigest"


def test_kms_and_customer_keys_are_not_offered(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("kms")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="k", Body=b"x", ServerSideEncryption="aws:kms")
    assert exc.value.response["Error"]["Code"] == "NotImplemented"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    assert exc.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="k")


def test_bucket_default_copy_and_multipart(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("ssedef")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_encryption(Bucket=name)
    assert exc.value.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
    s3.put_object(Bucket=name, Key="plain", Body=b"plain text object")
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=config)
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    body, marker = _plaintext(50_000)
    assert s3.put_object(Bucket=name, Key="auto", Body=body)["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=name, Key="auto")["Body"].read() == body
    assert not _on_disk(cloud, marker)
    # copies: plaintext -> encrypted (bucket default), encrypted -> plaintext elsewhere
    copied = s3.copy_object(Bucket=name, Key="plain-copy", CopySource=f"{name}/plain")
    assert copied["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=name, Key="plain-copy")["Body"].read() == b"plain text object"
    other = bucket_name("sseplain")
    s3.create_bucket(Bucket=other)
    s3.copy_object(Bucket=other, Key="out", CopySource=f"{name}/auto")
    out = s3.get_object(Bucket=other, Key="out")
    assert "ServerSideEncryption" not in out and out["Body"].read() == body
    # multipart: each part its own segment; ranges across the part boundary
    part1, part_marker = _plaintext(5 << 20)
    upload = s3.create_multipart_upload(Bucket=name, Key="multi")
    assert upload["ServerSideEncryption"] == "AES256"
    uid = upload["UploadId"]
    e1 = s3.upload_part(Bucket=name, Key="multi", UploadId=uid, PartNumber=1, Body=part1)
    assert e1["ETag"] == f'"{hashlib.md5(part1).hexdigest()}"'
    e2 = s3.upload_part_copy(Bucket=name, Key="multi", UploadId=uid, PartNumber=2,
                             CopySource=f"{name}/auto", CopySourceRange=f"bytes=0-{len(body) - 1}")
    done = s3.complete_multipart_upload(Bucket=name, Key="multi", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1["ETag"]},
                  {"PartNumber": 2, "ETag": e2["CopyPartResult"]["ETag"]}]})
    assert done["ETag"].endswith('-2"')
    whole = part1 + body
    assert s3.get_object(Bucket=name, Key="multi")["Body"].read() == whole
    first, last = (5 << 20) - 100, (5 << 20) + 100
    ranged = s3.get_object(Bucket=name, Key="multi", Range=f"bytes={first}-{last}")
    assert ranged["Body"].read() == whole[first:last + 1]
    assert s3.head_object(Bucket=name, Key="multi")["ServerSideEncryption"] == "AES256"
    assert not _on_disk(cloud, part_marker)
    s3.delete_bucket_encryption(Bucket=name)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=name, Key="after", Body=b"x")
