"""Helpers of the S3 API tests: a second account, unique bucket names, plain HTTP."""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
import uuid

from tests.support import LiveCloud

_counter = itertools.count()


def bucket_name(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}-{next(_counter)}"


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def second_account(cloud: LiveCloud, name: str) -> tuple[str, str, str]:
    """(access key, secret key, account id) of the admin of a new account ``name``."""
    email = f"{name}@example.com"
    cloud.client("iam").create_account(AccountName=name, Email=email)
    return cloud.credentials(name)
