"""SigV4 for non-S3 services: requests signed by botocore's own signers, verified by ours."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest

from cloudctl.auth.credentials import MemoryCredentialStore
from cloudctl.auth.errors import Family
from cloudctl.auth.verify import authenticate
from cloudctl.errors import AwsError
from tests.unit.test_auth_support import (
    AKID,
    ENDPOINT,
    creds,
    replace,
    store,
    to_wire,
    user_credential,
    with_header,
)


def signed_get(service: str = "ec2", region: str = "us-east-1", path: str = "/", **params: str):
    query = {"Action": "DescribeInstances", "Version": "2016-11-15", **params}
    request = AWSRequest(method="GET", url=ENDPOINT + path, params=query)
    SigV4Auth(creds(), service, region).add_auth(request)
    return to_wire(request)


def signed_form(service: str = "iam", data: dict[str, str] | None = None, path: str = "/"):
    body = data or {"Action": "ListUsers", "Version": "2010-05-08", "PathPrefix": "/a b+c/~é"}
    request = AWSRequest(
        method="POST",
        url=ENDPOINT + path,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(creds(), service, "eucalyptus").add_auth(request)
    return to_wire(request)


def signed_json(service: str = "logs"):
    request = AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=json.dumps({"logGroupNamePrefix": "x"}).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
        },
    )
    SigV4Auth(creds(), service, "us-west-2").add_auth(request)
    return to_wire(request)


async def expect_error(req, *, service: str, code: str, status: int, **kw) -> AwsError:
    with pytest.raises(AwsError) as info:
        await authenticate(req, store(), service=service, **kw)
    assert (info.value.code, info.value.status) == (code, status), info.value.message
    return info.value


async def test_get_query_request_verifies_and_reports_scope():
    result = await authenticate(signed_get(), store(), service="ec2")
    assert result.credential is not None and result.credential.access_key_id == AKID
    assert (result.region, result.scope_service, result.signature_version) == (
        "us-east-1",
        "ec2",
        "v4",
    )
    assert result.sigv4 is not None and len(result.sigv4.seed_signature) == 64
    assert result.sigv4.scope.endswith("/us-east-1/ec2/aws4_request")


async def test_form_body_post_with_odd_characters_verifies():
    result = await authenticate(signed_form(), store(), service="iam")
    assert result.region == "eucalyptus"


async def test_json_post_verifies():
    result = await authenticate(signed_json(), store(), service="logs", protocol="json")
    assert result.credential is not None


@pytest.mark.parametrize(
    "path",
    ["/services/compute", "/services/Euare/", "/a%20b/%C3%A9/c", "/x/./y/../z", "/a//b", ""],
)
async def test_non_s3_paths_are_normalised_and_double_encoded(path):
    req = signed_get(path=path or "/")
    if not path:
        req = replace(req, path="")
    await authenticate(req, store(), service="ec2")


async def test_query_values_with_reserved_characters():
    req = signed_get(Filter="a b+c/d=e&f~g*é", Empty="")
    await authenticate(req, store(), service="ec2")


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [
        ("iam", None, "SignatureDoesNotMatch", 403),
        ("ec2", None, "AuthFailure", 401),
        ("logs", "json", "InvalidSignatureException", 400),
    ],
)
async def test_tampering_is_detected_per_family(service, protocol, code, status):
    kw = {"protocol": protocol} if protocol else {}
    if service == "logs":
        good = signed_json()
        tampered = [
            replace(good, body=good.body.replace(b'"x"', b'"y"')),
            with_header(good, "X-Amz-Target", "Logs_20140328.DeleteLogGroup"),
        ]
    else:
        good = signed_form(service) if service == "iam" else signed_get(service)
        tampered = [
            replace(good, method="PUT"),
            replace(good, path="/other"),
            with_header(good, "Host", "evil.local:8773"),
        ]
        if good.body:
            tampered.append(replace(good, body=good.body.replace(b"ListUsers", b"ListRoles")))
        else:
            tampered.append(replace(good, raw_query=good.raw_query + "&Extra=1", query=[]))
    await authenticate(good, store(), service=service, **kw)
    for req in tampered:
        await expect_error(req, service=service, code=code, status=status, **kw)


async def test_wrong_secret_and_unknown_key():
    request = AWSRequest(method="GET", url=ENDPOINT + "/?Action=GetCallerIdentity")
    SigV4Auth(creds(secret="not-the-secret"), "sts", "us-east-1").add_auth(request)
    await expect_error(to_wire(request), service="sts", code="SignatureDoesNotMatch", status=403)
    request = AWSRequest(method="GET", url=ENDPOINT + "/?Action=GetCallerIdentity")
    SigV4Auth(creds(akid="AKIDUNKNOWN000000000"), "sts", "us-east-1").add_auth(request)
    req = to_wire(request)
    err = await expect_error(req, service="sts", code="InvalidClientTokenId", status=403)
    assert err.message == "The security token included in the request is invalid."
    await expect_error(req, service="ec2", code="IncompleteSignature", status=400)
    await expect_error(
        req, service="logs", protocol="json", code="IncompleteSignatureException", status=400
    )


async def test_unknown_key_codes_per_family():
    for service, protocol, code, status in [
        ("ec2", None, "AuthFailure", 401),
        ("logs", "json", "UnrecognizedClientException", 400),
    ]:
        request = AWSRequest(method="GET", url=ENDPOINT + "/?Action=X")
        SigV4Auth(creds(akid="AKIDUNKNOWN000000000"), service, "r1").add_auth(request)
        await expect_error(
            to_wire(request), service=service, protocol=protocol, code=code, status=status
        )


async def test_inactive_key_is_unknown():
    inactive = MemoryCredentialStore([user_credential(active=False)])
    with pytest.raises(AwsError) as info:
        await authenticate(signed_get("iam"), inactive, service="iam")
    assert info.value.code == "InvalidClientTokenId"


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [
        ("sts", None, "SignatureDoesNotMatch", 403),
        ("ec2", None, "RequestExpired", 400),
        ("logs", "json", "InvalidSignatureException", 400),
    ],
)
async def test_clock_skew(service, protocol, code, status):
    req = signed_json() if service == "logs" else signed_get(service)
    real = datetime.now(UTC)
    late = await expect_error(
        req,
        service=service,
        protocol=protocol,
        code=code,
        status=status,
        now=real + timedelta(minutes=16),
    )
    early = await expect_error(
        req,
        service=service,
        protocol=protocol,
        code=code,
        status=status,
        now=real - timedelta(minutes=16),
    )
    if service != "ec2":
        assert late.message.startswith("Signature expired: ")
        assert "- 15 min.)" in late.message
        assert early.message.startswith("Signature not yet current: ")
    # within the window it is fine
    await authenticate(
        req, store(), service=service, protocol=protocol, now=real + timedelta(minutes=14)
    )
    # a tighter configured skew applies
    await expect_error(
        req,
        service=service,
        protocol=protocol,
        code=code,
        status=status,
        now=real + timedelta(minutes=3),
        clock_skew=timedelta(minutes=2),
    )


async def test_presigned_query_for_sts_and_expiry():
    request = AWSRequest(
        method="GET",
        url=ENDPOINT + "/",
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
    )
    SigV4QueryAuth(creds(), "sts", "us-east-1", expires=60).add_auth(request)
    req = to_wire(request)
    assert "X-Amz-Signature=" in req.raw_query and "Authorization" not in req.headers
    result = await authenticate(req, store(), service="sts")
    assert result.signature_version == "v4-presigned" and result.region == "us-east-1"
    later = datetime.now(UTC) + timedelta(seconds=120)
    await expect_error(req, service="sts", code="RequestExpired", status=400, now=later)
    bad = replace(
        req, raw_query=req.raw_query.replace("GetCallerIdentity", "GetSessionToken"), query=[]
    )
    await expect_error(bad, service="sts", code="SignatureDoesNotMatch", status=403)


async def test_presigned_post_form_moves_into_query():
    request = AWSRequest(
        method="POST",
        url=ENDPOINT + "/services/Euare",
        data={"Action": "ListUsers", "Version": "2010-05-08"},
    )
    SigV4QueryAuth(creds(), "iam", "eucalyptus", expires=300).add_auth(request)
    await authenticate(to_wire(request), store(), service="iam")


@pytest.mark.parametrize(
    ("authorization", "needle"),
    [
        ("AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/iam/aws4_request, Signature=ab",
         "SignedHeaders"),
        ("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=ab", "Credential"),
        ("AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/iam/aws4_request, "
         "SignedHeaders=host;x-amz-date", "Signature"),
        ("AWS4-HMAC-SHA256 Credential={akid}/20240101/iam/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature=ab", "5 slash-delimited"),
        ("AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/iam/aws5_request, "
         "SignedHeaders=host;x-amz-date, Signature=ab", "terminator"),
        ("AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/ec2/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature=ab", "correct service: 'iam'"),
        ("AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/iam/aws4_request, "
         "SignedHeaders=x-amz-date, Signature=ab", "'Host'"),
        ("Bearer abc", "AWS4-HMAC-SHA256"),
    ],
)  # fmt: skip
async def test_malformed_authorization_is_incomplete_signature(authorization, needle):
    req = signed_get("iam")
    req = with_header(req, "Authorization", authorization.format(akid=AKID))
    err = await expect_error(req, service="iam", code="IncompleteSignature", status=400)
    assert needle in err.message


async def test_missing_date_is_incomplete_signature():
    req = with_header(signed_get("iam"), "X-Amz-Date", None)
    err = await expect_error(req, service="iam", code="IncompleteSignature", status=400)
    assert "'X-Amz-Date'" in err.message


async def test_content_sha256_header_must_match_body_outside_s3():
    req = signed_json()
    req = with_header(req, "X-Amz-Content-SHA256", "0" * 64)
    await expect_error(
        req, service="logs", protocol="json", code="InvalidSignatureException", status=400
    )


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [
        ("iam", None, "MissingAuthenticationToken", 403),
        ("ec2", None, "MissingParameter", 400),
        ("logs", "json", "MissingAuthenticationTokenException", 400),
        ("s3", None, "AccessDenied", 403),
    ],
)
async def test_anonymous_requests(service, protocol, code, status):
    req = to_wire(AWSRequest(method="GET", url=ENDPOINT + "/?Action=ListUsers"))
    result = await authenticate(req, store(), service=service, protocol=protocol)
    assert result.credential is None and not result.authenticated
    assert result.family is (Family.S3 if service == "s3" else result.family)
    with pytest.raises(AwsError) as info:
        result.require_authenticated()
    assert (info.value.code, info.value.status) == (code, status)


async def test_signing_keys_are_cached_per_secret_date_region_service():
    from cloudctl.auth.sigv4 import signing_key

    req = signed_get("ec2", region="cache-test-region")
    await authenticate(req, store(), service="ec2")
    before = signing_key.cache_info()
    await authenticate(req, store(), service="ec2")
    after = signing_key.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    # another region derives (and caches) another key
    await authenticate(signed_get("ec2", region="other-region"), store(), service="ec2")
    assert signing_key.cache_info().misses == after.misses + 1


def test_public_surface():
    import cloudctl.auth as auth

    assert auth.authenticate is authenticate
    assert "SecretBox" in auth.__all__
