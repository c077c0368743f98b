"""Browser form uploads (POST policy): forms from boto3's generate_presigned_post (SigV4
and SigV2), sent as a plain multipart/form-data POST with aiohttp."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
import urllib.request
from pathlib import Path
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


BOUNDARY = "----cloudctl-form-boundary"


def _field(name: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            .encode() + data + b"\r\n")


def _file(data: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode() + data + b"\r\n"


def _end() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _server_pid(cloud: LiveCloud) -> int:
    with urllib.request.urlopen(f"{cloud.endpoint}/_cloud/health", timeout=10) as resp:
        return int(json.loads(resp.read())["pid"])


def _stream_post(cloud: LiveCloud, path: str, head: bytes, filler: int,
                 tail: bytes) -> tuple[int, bytes]:
    """POST ``head``, ``filler`` bytes of ``a`` and ``tail`` (Content-Length declared) on a
    raw socket, stopping the upload as soon as the server answers; (status, body)."""
    length = len(head) + filler + len(tail)
    sock = socket.create_connection(("127.0.0.1", cloud.port), timeout=60)
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{cloud.port}\r\n"
                     f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                     f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode() + head)
        chunk, sent = b"a" * (1 << 20), 0
        try:
            while sent < filler and not select.select([sock], [], [], 0)[0]:
                piece = chunk[:filler - sent]
                sock.sendall(piece)
                sent += len(piece)
            if sent == filler:
                sock.sendall(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 200:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def test_anonymous_form_fields_are_bounded_before_any_check(sqlite_cloud: LiveCloud) -> None:
    """An unauthenticated POST cannot make the server hold a large field, nor many fields:
    MaxPostPreDataLengthExceeded as soon as the limit is passed; memory stays flat."""
    cloud = sqlite_cloud
    s3 = cloud.client("s3")
    name = bucket_name("postlim")
    s3.create_bucket(Bucket=name)
    pid = _server_pid(cloud)
    before, peak, done = _rss_kib(pid), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kib(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        head = _field("key", "anon") + (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"x-amz-meta-big\"\r\n\r\n"
            .encode())
        status, body = _stream_post(cloud, f"/{name}", head, 200 << 20,
                                    b"\r\n" + _file(b"x") + _end())
    finally:
        done.set()
        sampler.join()
    assert peak[0] - before < 30 << 10, f"RSS grew {(peak[0] - before) >> 10} MiB"
    assert status == 400 and b"<Code>MaxPostPreDataLengthExceeded</Code>" in body, body
    # ten thousand small fields, distinct or all of one name
    for many in (b"".join(_field(f"x-ignore-{i}", "v") for i in range(10000)),
                 _field("x-ignore-a", "") * 10000):
        status, body = _stream_post(cloud, f"/{name}", _field("key", "anon") + many, 0,
                                    _file(b"x") + _end())
        assert status == 400 and b"<Code>MaxPostPreDataLengthExceeded</Code>" in body, body
    # a body that is not multipart/form-data at all: S3's error, not a server fault
    status, body = _stream_post(cloud, f"/{name}", b"no boundary here", 0, b"")
    assert status == 400 and b"<Code>MalformedPOSTRequest</Code>" in body, body
    assert "Contents" not in s3.list_objects_v2(Bucket=name)


def test_form_limits_leave_valid_uploads_alone(sqlite_cloud: LiveCloud) -> None:
    """A signed form with a policy of ordinary size uploads; fields after ``file`` are
    ignored (S3 requires the file last); content-length-range holds while streaming."""
    cloud = sqlite_cloud
    s3 = cloud.client("s3")
    name = bucket_name("postok")
    s3.create_bucket(Bucket=name)
    meta = {f"x-amz-meta-m{i}": "v" * 100 for i in range(40)}
    form = s3.generate_presigned_post(
        name, "ok", Fields=meta, Conditions=[*({k: v} for k, v in meta.items()),
                                             ["content-length-range", 1, 3 << 20]])
    head = b"".join(_field(k, v) for k, v in form["fields"].items())
    status, body = _stream_post(cloud, f"/{name}", head + _file(b"y" * (2 << 20)), 0,
                                _field("after-file", "ignored") + _end())
    assert status == 204, body
    got = s3.head_object(Bucket=name, Key="ok")
    assert got["ContentLength"] == 2 << 20 and got["Metadata"]["m39"] == "v" * 100
    status, body = _stream_post(cloud, f"/{name}", head + _file(b"z" * (4 << 20)), 0, _end())
    assert status == 400 and b"EntityTooLarge" in body
    assert s3.head_object(Bucket=name, Key="ok")["ContentLength"] == 2 << 20
