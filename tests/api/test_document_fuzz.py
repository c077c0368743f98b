"""Generated hostile documents against the live cloud: policies, CORS rules, manifests,
and SigV2 requests with misplaced parameters.

Every request must answer within a second and never with 5xx (a document may be
accepted or refused; a SigV2 case must be refused and must not run): the policy
parser (IAM CreatePolicy / PutUserPolicy, S3 PutBucketPolicy) and the evaluation of
what was accepted, the CORS parser and the origin matching of preflights, and the
bundle manifest reader behind RegisterImage.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from tests.fuzzdocs import CORS_PROBE_ORIGINS, cors_documents, manifest_documents, policy_documents
from tests.fuzzgen import sigv2_cases
from tests.support import LiveCloud

SEED = 20240
LIMIT_SECONDS = 1.0
FORM = "application/x-www-form-urlencoded; charset=utf-8"


class Sender:
    """Raw HTTP to the cloud, signed with SigV4 (or not), recording slow and 5xx answers."""

    def __init__(self, cloud: LiveCloud, access_key: str | None = None,
                 secret_key: str | None = None) -> None:
        self.cloud = cloud
        self.creds = botocore.credentials.Credentials(access_key or cloud.access_key,
                                                      secret_key or cloud.secret_key)
        parts = urlsplit(cloud.endpoint)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        self.problems: list[str] = []
        self.count = 0

    def close(self) -> None:
        self.conn.close()

    def raw(self, what: str, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            started = time.monotonic()
            try:
                self.conn.request(method, path, body=body or None, headers=headers or {})
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # the server may close a kept-alive connection after answering early;
                # a server that died fails the second attempt with ConnectionRefused
                self.conn.close()
                if attempt == 2:
                    raise
        elapsed = time.monotonic() - started
        self.count += 1
        if resp.status >= 500 or b"Traceback" in payload:
            self.problems.append(f"{what}: {resp.status} {payload[:300]!r}")
        if elapsed > LIMIT_SECONDS:
            self.problems.append(f"{what}: {elapsed:.2f}s")
        return resp.status, payload

    def signed(self, what: str, service: str, method: str, path: str, body: bytes = b"",
               headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = AWSRequest(method=method, url=self.cloud.endpoint + path, data=body,
                             headers=dict(headers or {}))
        auth = botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth
        auth(self.creds, service, self.cloud.region).add_auth(request)
        sent = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        return self.raw(what, method, path, body, sent)

    def query(self, what: str, service: str, params: dict[str, str | bytes]) -> tuple[int, bytes]:
        body = urlencode(params).encode()
        return self.signed(what, service, "POST", "/", body, {"Content-Type": FORM})


@pytest.fixture
def sender(cloud: LiveCloud) -> Iterator[Sender]:
    s = Sender(cloud)
    yield s
    s.close()


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _ok(status: int) -> bool:
    return 200 <= status < 300


def test_fuzzed_identity_policies(cloud: LiveCloud, sender: Sender) -> None:
    iam = cloud.client("iam")
    user = f"fuzz-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = Sender(cloud, key["AccessKeyId"], key["SecretAccessKey"])
    resource = f"arn:aws:iam::{cloud.account_id}:user/*"
    docs = policy_documents(SEED, resource, principal=False)
    try:
        for index, (kind, doc) in enumerate(docs):
            sender.query(f"CreatePolicy {kind}", "iam", {
                "Action": "CreatePolicy", "Version": "2010-05-08",
                "PolicyName": f"{user}-{index}", "PolicyDocument": doc})
            status, _ = sender.query(f"PutUserPolicy {kind}", "iam", {
                "Action": "PutUserPolicy", "Version": "2010-05-08", "UserName": user,
                "PolicyName": "fuzz", "PolicyDocument": doc})
            if _ok(status):  # evaluate what was accepted, as the user
                as_user.query(f"GetUser as user, {kind}", "iam",
                              {"Action": "GetUser", "Version": "2010-05-08"})
                as_user.query(f"ListUsers as user, {kind}", "iam",
                              {"Action": "ListUsers", "Version": "2010-05-08"})
    finally:
        as_user.close()
    problems = sender.problems + as_user.problems
    assert sender.count >= 2 * len(docs)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])


def test_fuzzed_bucket_policies(cloud: LiveCloud, sender: Sender) -> None:
    bucket = f"fuzzpol-{uuid.uuid4().hex[:8]}"
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj/" + "a" * 200, Body=b"x")
    anonymous = Sender(cloud)
    docs = policy_documents(SEED, f"arn:aws:s3:::{bucket}/*", principal=True)
    try:
        for kind, doc in docs:
            status, _ = sender.signed(f"PutBucketPolicy {kind}", "s3", "PUT",
                                      f"/{bucket}?policy", doc,
                                      {"Content-Type": "application/json"})
            if _ok(status):
                anonymous.raw(f"anonymous GET under {kind}", "GET", f"/{bucket}/obj/" + "a" * 200)
                anonymous.raw(f"anonymous GET (miss) under {kind}", "GET",
                              f"/{bucket}/" + "ab" * 300)
    finally:
        anonymous.close()
    problems = sender.problems + anonymous.problems
    assert sender.count >= len(docs)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])


def test_fuzzed_cors_configurations(cloud: LiveCloud, sender: Sender) -> None:
    bucket = f"fuzzcors-{uuid.uuid4().hex[:8]}"
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    docs = cors_documents(SEED)
    for kind, doc in docs:
        status, _ = sender.signed(f"PutBucketCors {kind}", "s3", "PUT", f"/{bucket}?cors", doc,
                                  {"Content-Type": "application/xml", "Content-MD5": _md5(doc)})
        if not _ok(status):
            continue
        for origin in CORS_PROBE_ORIGINS:
            safe = origin.replace("\n", "")
            sender.raw(f"preflight under {kind}", "OPTIONS", f"/{bucket}/k",
                       headers={"Origin": safe, "Access-Control-Request-Method": "GET",
                                "Access-Control-Request-Headers": "x-" + "a*" * 50})
            sender.raw(f"GET with Origin under {kind}", "GET", f"/{bucket}/k",
                       headers={"Origin": safe})
    assert sender.count >= len(docs)
    assert not sender.problems, "\n".join(sender.problems[:30])


def test_fuzzed_bundle_manifests(cloud: LiveCloud, sender: Sender) -> None:
    bucket = f"fuzzman-{uuid.uuid4().hex[:8]}"
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="img.part.0", Body=b"x" * 64)
    docs = manifest_documents(SEED)
    for index, (kind, doc) in enumerate(docs):
        key = f"m{index}.manifest.xml"
        s3.put_object(Bucket=bucket, Key=key, Body=doc)
        sender.query(f"RegisterImage {kind}", "ec2", {
            "Action": "RegisterImage", "Version": "2016-11-15",
            "ImageLocation": f"{bucket}/{key}", "Name": f"fuzz-{index}-{uuid.uuid4().hex[:6]}"})
    assert sender.count == len(docs)
    assert not sender.problems, "\n".join(sender.problems[:30])


def test_fuzzed_sigv2_parameter_placement(cloud: LiveCloud, sender: Sender) -> None:
    marker = f"v2fuzz{uuid.uuid4().hex[:6]}"
    host = urlsplit(cloud.endpoint).netloc
    cases = sigv2_cases(cloud.access_key, cloud.secret_key, host, datetime.now(UTC), marker)
    accepted = []
    for case in cases:
        status, payload = sender.raw(f"SigV2 {case.kind}", case.method,
                                     f"{case.path}?{case.query}" if case.query else case.path,
                                     case.body, case.headers)
        if not 400 <= status < 500:
            accepted.append(f"{case.kind}: {status} {payload[:200]!r}")
    groups = cloud.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{marker}-sg"]}])["SecurityGroups"]
    assert not groups, "an injected CreateSecurityGroup ran"
    assert not accepted, "\n".join(accepted)
    assert not sender.problems, "\n".join(sender.problems)
