"""Browser form uploads (POST policy): forms from boto3's generate_presigned_post (SigV4
and SigV2), sent as a plain multipart/form-data POST with aiohttp."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from botocore.config import Config

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud


def _post(url: str, fields: dict[str, str], data: bytes,
          filename: str = "local.txt") -> tuple[int, bytes, dict[str, str]]:
    async def send() -> tuple[int, bytes, dict[str, str]]:
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("file", data, filename=filename, content_type="text/plain")
        async with aiohttp.ClientSession() as http, \
                http.post(url, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.read(), {k.lower(): v for k, v in resp.headers.items()}

    return asyncio.run(send())


def test_sigv4_form_upload_conditions(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("post")
    s3.create_bucket(Bucket=name)
    form = s3.generate_presigned_post(
        name, "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain"},
        Conditions=[["starts-with", "$key", "uploads/"], {"success_action_status": "201"},
                    ["content-length-range", 1, 1000], {"Content-Type": "text/plain"}],
        ExpiresIn=600)
    assert "x-amz-signature" in form["fields"]
    status, body, headers = _post(form["url"], form["fields"], b"hello form", "notes.txt")
    assert status == 201, body
    assert b"<Key>uploads/notes.txt</Key>" in body and b"<Bucket>" + name.encode() in body
    got = s3.get_object(Bucket=name, Key="uploads/notes.txt")
    assert got["Body"].read() == b"hello form" and got["ContentType"] == "text/plain"
    assert headers["etag"] == got["ETag"]
    # content-length-range, tampered fields, extra fields, bad signatures
    status, body, _ = _post(form["url"], form["fields"], b"x" * 1001, "big.txt")
    assert status == 400 and b"EntityTooLarge" in body
    status, body, _ = _post(form["url"], form["fields"], b"", "empty.txt")
    assert status == 400 and b"EntityTooSmall" in body
    assert _post(form["url"], {**form["fields"], "key": "elsewhere/x"}, b"x")[0] == 403
    assert _post(form["url"], {**form["fields"], "x-amz-meta-extra": "1"}, b"x")[0] == 403
    assert _post(form["url"], {**form["fields"], "x-ignore-me": "1"}, b"ok")[0] == 201
    bad = {**form["fields"], "x-amz-signature": "0" * 64}
    status, body, _ = _post(form["url"], bad, b"x")
    assert status == 403 and b"SignatureDoesNotMatch" in body
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]]
    assert keys == ["uploads/local.txt", "uploads/notes.txt"]
    expired = s3.generate_presigned_post(name, "late", ExpiresIn=-60)
    status, body, _ = _post(expired["url"], expired["fields"], b"x")
    assert status == 403 and b"expired" in body


def test_sigv2_form_redirect_and_authorisation(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("post2")
    s3.create_bucket(Bucket=name)
    v2 = cloud.client("s3", config=Config(signature_version="s3"))
    target = "https://app.example.com/done"
    form = v2.generate_presigned_post(
        name, "v2/object", Fields={"success_action_redirect": target, "acl": "public-read"},
        Conditions=[{"success_action_redirect": target}, {"acl": "public-read"}])
    assert "signature" in form["fields"] and "AWSAccessKeyId" in form["fields"]
    status, _, headers = _post(form["url"], form["fields"], b"v2 data")
    assert status == 303
    assert headers["location"].startswith(target + "?bucket=" + name + "&key=v2%2Fobject&etag=")
    assert s3.get_object(Bucket=name, Key="v2/object")["Body"].read() == b"v2 data"
    assert any(g["Permission"] == "READ" for g in
               s3.get_object_acl(Bucket=name, Key="v2/object")["Grants"])
    # the signer's permissions apply: a user who may only read cannot upload by form
    iam = cloud.client("iam")
    user = bucket_name("postuser")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": "*"}]}))
    key: dict[str, Any] = iam.create_access_key(UserName=user)["AccessKey"]
    reader = cloud.client("s3", access_key=key["AccessKeyId"],
                          secret_key=key["SecretAccessKey"])
    form = reader.generate_presigned_post(name, "by-reader")
    status, body, _ = _post(form["url"], form["fields"], b"x")
    assert status == 403 and b"AccessDenied" in body
    # an unsigned form is an anonymous upload: refused unless the bucket allows writes
    assert _post(form["url"], {"key": "anon"}, b"x")[0] == 403
    s3.put_bucket_acl(Bucket=name, ACL="public-read-write")
    assert _post(form["url"], {"key": "anon"}, b"anon data")[0] == 204
    assert s3.get_object(Bucket=name, Key="anon")["Body"].read() == b"anon data"
