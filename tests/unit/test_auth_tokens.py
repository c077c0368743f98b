"""Session tokens: STS credentials must present their own token, unexpired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cloudctl.auth.credentials import MemoryCredentialStore
from cloudctl.auth.verify import authenticate
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest
from tests.unit.test_auth_support import (
    AKID,
    ENDPOINT,
    SECRET,
    TMP_AKID,
    TMP_SECRET,
    TOKEN,
    session_credential,
    store,
    tmp_creds,
    to_wire,
    with_header,
)


def signed(service: str, credentials: Credentials) -> WireRequest:
    request = AWSRequest(method="GET", url=ENDPOINT + "/bucket/key?Action=X")
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(credentials, service, "us-east-1").add_auth(request)
    return to_wire(request)


async def expect(
    req: WireRequest,
    service: str,
    code: str,
    status: int,
    protocol: str | None = None,
    st: MemoryCredentialStore | None = None,
) -> AwsError:
    with pytest.raises(AwsError) as info:
        await authenticate(req, st or store(), service=service, protocol=protocol)
    assert (info.value.code, info.value.status) == (code, status), info.value.message
    return info.value


@pytest.mark.parametrize("service", ["sts", "ec2", "s3"])
async def test_session_token_header_accepted(service):
    result = await authenticate(signed(service, tmp_creds()), store(), service=service)
    assert result.credential is not None
    assert result.credential.principal_type == "assumed-role"


@pytest.mark.parametrize(
    ("service", "protocol", "missing", "mismatched"),
    [
        ("sts", None, ("InvalidClientTokenId", 403), ("InvalidClientTokenId", 403)),
        ("ec2", None, ("AuthFailure", 401), ("AuthFailure", 401)),
        ("s3", None, ("InvalidAccessKeyId", 403), ("InvalidToken", 400)),
        (
            "logs",
            "json",
            ("UnrecognizedClientException", 400),
            ("UnrecognizedClientException", 400),
        ),
    ],
)
async def test_missing_and_mismatched_tokens(service, protocol, missing, mismatched):
    req = signed(service, tmp_creds())
    await expect(
        with_header(req, "X-Amz-Security-Token", None), service, missing[0], missing[1], protocol
    )
    wrong = signed(service, Credentials(TMP_AKID, TMP_SECRET, TOKEN + "x"))
    await expect(wrong, service, mismatched[0], mismatched[1], protocol)
    # a permanent key presenting a token is refused too
    permanent = signed(service, Credentials(AKID, SECRET, "sometoken"))
    await expect(permanent, service, mismatched[0], mismatched[1], protocol)


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [
        ("sts", None, "ExpiredToken", 403),
        ("ec2", None, "RequestExpired", 400),
        ("s3", None, "ExpiredToken", 400),
        ("logs", "json", "ExpiredTokenException", 400),
    ],
)
async def test_expired_temporary_credential(service, protocol, code, status):
    expired = store(
        session_credential(
            access_key_id="ASIAEXPIRED000000001",
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
    )
    req = signed(service, Credentials("ASIAEXPIRED000000001", TMP_SECRET, TOKEN))
    err = await expect(req, service, code, status, protocol, st=expired)
    if service == "sts":
        assert err.message == "The security token included in the request is expired"


async def test_presigned_url_with_session_token():
    request = AWSRequest(method="GET", url=ENDPOINT + "/bucket/k")
    S3SigV4QueryAuth(tmp_creds(), "s3", "us-east-1", expires=60).add_auth(request)
    req = to_wire(request)
    assert "X-Amz-Security-Token=" in req.raw_query
    result = await authenticate(req, store(), service="s3")
    assert result.credential is not None and result.credential.access_key_id == TMP_AKID
    tampered = req.raw_query.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=AA")
    from tests.unit.test_auth_support import replace

    await expect(replace(req, raw_query=tampered, query=[]), "s3", "InvalidToken", 400)
