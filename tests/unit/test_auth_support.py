"""Shared helpers for the auth tests: credentials, and botocore requests turned into WireRequests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cloudctl.auth.credentials import Credential, MemoryCredentialStore
from cloudctl.protocol.wire import WireRequest

AKID = "AKIAEXAMPLEUSER00001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TMP_AKID = "ASIAEXAMPLETEMP00001"
TMP_SECRET = "tmpSecretKeyValue/ForSessionCredential01"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN+/=session"
ENDPOINT = "http://cloud.local:8773"


def user_credential(**overrides: Any) -> Credential:
    values: dict[str, Any] = dict(
        access_key_id=AKID,
        secret_access_key=SECRET,
        account_id="000000000001",
        principal_arn="arn:aws:iam::000000000001:user/alice",
        user_id="AIDAEXAMPLEALICE0001",
        principal_type="user",
    )
    values.update(overrides)
    return Credential(**values)


def session_credential(**overrides: Any) -> Credential:
    values: dict[str, Any] = dict(
        access_key_id=TMP_AKID,
        secret_access_key=TMP_SECRET,
        account_id="000000000001",
        principal_arn="arn:aws:sts::000000000001:assumed-role/admin/s1",
        user_id="AROAEXAMPLEROLE00001:s1",
        principal_type="assumed-role",
        session_token=TOKEN,
        expires_at=datetime(2999, 1, 1, tzinfo=UTC),
    )
    values.update(overrides)
    return Credential(**values)


def store(*extra: Credential) -> MemoryCredentialStore:
    return MemoryCredentialStore([user_credential(), session_credential(), *extra])


def creds(akid: str = AKID, secret: str = SECRET, token: str | None = None) -> Credentials:
    return Credentials(akid, secret, token)


def tmp_creds() -> Credentials:
    return Credentials(TMP_AKID, TMP_SECRET, TOKEN)


def to_wire(request: AWSRequest) -> WireRequest:
    """The request as our server would receive it from the network."""
    prepared = request.prepare()
    split = urlsplit(prepared.url)
    headers = {str(k): str(v) for k, v in prepared.headers.items()}
    if not any(k.lower() == "host" for k in headers):
        headers["Host"] = split.netloc
    body = prepared.body
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode()
    elif isinstance(body, bytes):
        data = body
    else:
        data = body.read()
    return WireRequest(
        method=prepared.method,
        path=split.path,
        raw_query=split.query,
        headers=headers,
        body=data,
        host=split.netloc,
    )


def replace(req: WireRequest, **changes: Any) -> WireRequest:
    values: dict[str, Any] = dict(
        method=req.method,
        path=req.path,
        raw_query=req.raw_query,
        headers=dict(req.headers),
        body=req.body,
        host=req.host,
    )
    values.update(changes)
    return WireRequest(**values)


def with_header(req: WireRequest, name: str, value: str | None) -> WireRequest:
    headers = {k: v for k, v in req.headers.items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return replace(req, headers=headers)
