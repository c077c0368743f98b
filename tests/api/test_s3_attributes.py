"""GetObjectAttributes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud


def test_get_object_attributes(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("attr")
    s3.create_bucket(Bucket=name)
    put = s3.put_object(Bucket=name, Key="k", Body=b"hello", ChecksumAlgorithm="SHA256")
    out = s3.get_object_attributes(Bucket=name, Key="k", ObjectAttributes=[
        "ETag", "Checksum", "StorageClass", "ObjectSize"])
    assert out["ETag"] == put["ETag"].strip('"')
    assert out["ObjectSize"] == 5
    assert out["StorageClass"] == "STANDARD"
    assert out["Checksum"]["ChecksumSHA256"] == put["ChecksumSHA256"]
    upload = s3.create_multipart_upload(Bucket=name, Key="m")["UploadId"]
    part = s3.upload_part(Bucket=name, Key="m", UploadId=upload, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(Bucket=name, Key="m", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    parts = s3.get_object_attributes(Bucket=name, Key="m", ObjectAttributes=["ObjectParts"])
    assert parts["ObjectParts"]["TotalPartsCount"] == 1
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=name, Key="k", ObjectAttributes=["Bogus"])
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
