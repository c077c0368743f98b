"""Secrets at rest (SecretBox) and the rule that secrets never reach logs or error messages."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import HmacV1Auth, S3SigV4Auth, SigV2Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cloudctl.auth.secrets import SecretBox, SecretBoxError
from cloudctl.auth.verify import authenticate
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest
from tests.unit.test_auth_support import (
    AKID,
    ENDPOINT,
    SECRET,
    TMP_SECRET,
    TOKEN,
    session_credential,
    store,
    to_wire,
    user_credential,
)


def test_master_key_created_0600_and_round_trip(tmp_path):
    key_path = tmp_path / "data" / "master.key"
    box = SecretBox(key_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert len(key_path.read_bytes()) == 32
    sealed = box.seal(SECRET, context=AKID)
    assert SECRET not in sealed and sealed.startswith("v1:")
    assert box.seal(SECRET, context=AKID) != sealed  # fresh nonce
    assert box.open(sealed, context=AKID) == SECRET
    # a second box over the same file (another process, a restart) opens it too
    assert SecretBox(key_path).open(sealed, context=AKID) == SECRET
    assert SECRET not in repr(box)


def test_open_failures_are_clean(tmp_path):
    box = SecretBox(tmp_path / "k")
    sealed = box.seal(SECRET, context=AKID)
    other = SecretBox(tmp_path / "other")
    failures: list[Callable[[], str]] = [
        lambda: other.open(sealed, context=AKID),  # wrong master key
        lambda: box.open(sealed, context="AKIDOTHER"),  # wrong owner
        lambda: box.open(
            sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), context=AKID
        ),
        lambda: box.open("v2:" + sealed[3:], context=AKID),
        lambda: box.open("v1:!!!", context=AKID),
        lambda: box.open("v1:AAAA", context=AKID),
    ]
    for failure in failures:
        with pytest.raises(SecretBoxError) as info:
            failure()
        assert SECRET not in str(info.value) and sealed not in str(info.value)


def test_world_readable_key_refused(tmp_path):
    key_path = tmp_path / "k"
    SecretBox(key_path)
    os.chmod(key_path, 0o644)
    with pytest.raises(SecretBoxError):
        SecretBox(key_path)
    os.chmod(key_path, 0o600)
    key_path.write_bytes(b"short")
    with pytest.raises(SecretBoxError):
        SecretBox(key_path)


def _requests() -> list[tuple[str, WireRequest]]:
    """Failing requests of every kind, signed with the right key id but a wrong secret."""
    wrong = Credentials(AKID, SECRET[::-1])
    out: list[tuple[str, WireRequest]] = []
    for signer, service in ((SigV4Auth, "iam"), (S3SigV4Auth, "s3")):
        request = AWSRequest(method="GET", url=ENDPOINT + "/b/k?Action=ListUsers")
        signer(wrong, service, "us-east-1").add_auth(request)
        out.append((service, to_wire(request)))
    request = AWSRequest(method="GET", url=ENDPOINT + "/b/k")
    HmacV1Auth(wrong).add_auth(request)
    out.append(("s3", to_wire(request)))
    request = AWSRequest(method="GET", url=ENDPOINT + "/", params={"Action": "DescribeRegions"})
    SigV2Auth(wrong).add_auth(request)
    out.append(("ec2", to_wire(request)))
    for akid in ("ASIAEXPIRED000000001", "ASIAEXAMPLETEMP00001"):
        request = AWSRequest(method="GET", url=ENDPOINT + "/?Action=X")
        SigV4Auth(Credentials(akid, SECRET[::-1], TOKEN), "sts", "r").add_auth(request)
        out.append(("sts", to_wire(request)))
    return out


async def test_secrets_never_in_logs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    expired = session_credential(
        access_key_id="ASIAEXPIRED000000001", expires_at=datetime.now(UTC) - timedelta(hours=1)
    )
    errors: list[AwsError] = []
    for service, req in _requests():
        for now in (None, datetime.now(UTC) + timedelta(hours=1)):
            with pytest.raises(AwsError) as info:
                await authenticate(req, store(expired), service=service, now=now)
            errors.append(info.value)
    assert any(r.name.startswith("cloudctl.auth") for r in caplog.records)  # it did log
    secrets = (SECRET, TMP_SECRET, SECRET[::-1])
    # (botocore logs its own signing at DEBUG: only what the server logs matters here)
    texts = [r.getMessage() for r in caplog.records if r.name.startswith("cloudctl")]
    assert not any(TOKEN in text for text in texts)
    texts += [str(e) + repr(e) + repr(e.fields) for e in errors]
    texts += [repr(user_credential()), repr(session_credential())]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert TOKEN not in repr(session_credential())
