"""Account-level S3 Block Public Access (s3control Put/Get/DeletePublicAccessBlock with
``x-amz-account-id``): stored per account, refused for another account, and enforced
on every bucket of the account as the bucket-level settings are."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, http, second_account
from tests.support import LiveCloud


def _control(cloud: LiveCloud, **keys: str) -> Any:
    """An s3control client. Its endpoint rules put the account id in front of the host
    (``<account>.127.0.0.1``, which does not resolve): the request goes to the endpoint
    itself, the account id in ``x-amz-account-id`` as always."""
    client = cloud.client("s3control", **keys)
    host = urlsplit(cloud.endpoint).netloc

    def to_endpoint(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        request.url = urlunsplit(parts._replace(netloc=host))

    client.meta.events.register("before-sign.s3-control", to_endpoint)
    return client


def _code(call: object) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()  # type: ignore[operator]
    return (exc.value.response["Error"]["Code"],
            exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_account_public_access_block(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    key, secret, account = second_account(cloud, f"pab{uuid.uuid4().hex[:8]}")
    control = _control(cloud, access_key=key, secret_key=secret)
    s3 = cloud.client("s3", access_key=key, secret_key=secret)
    name = bucket_name("acct-pab")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"public", ACL="public-read")
    url = f"{cloud.endpoint}/{name}/k"
    assert http("GET", url)[0] == 200

    assert _code(lambda: control.get_public_access_block(AccountId=account)) == (
        "NoSuchPublicAccessBlockConfiguration", 404)
    # another account's settings: neither readable nor writable
    assert _code(lambda: _control(cloud).put_public_access_block(
        AccountId=account, PublicAccessBlockConfiguration={"BlockPublicAcls": True}))[1] == 403

    control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    got = control.get_public_access_block(AccountId=account)
    assert got["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True}
    # the bucket's own configuration stays its own
    assert _code(lambda: s3.get_public_access_block(Bucket=name))[0] == \
        "NoSuchPublicAccessBlockConfiguration"

    # IgnorePublicAcls: the existing public grant grants nothing
    assert http("GET", url)[0] == 403
    # BlockPublicAcls: public ACLs refused on buckets and objects
    for call in (lambda: s3.put_bucket_acl(Bucket=name, ACL="public-read"),
                 lambda: s3.put_object_acl(Bucket=name, Key="k", ACL="public-read"),
                 lambda: s3.put_object(Bucket=name, Key="p", Body=b"x", ACL="public-read")):
        assert _code(call) == ("AccessDenied", 403)
    # BlockPublicPolicy: a public bucket policy refused
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*"}]})
    assert _code(lambda: s3.put_bucket_policy(Bucket=name, Policy=policy)) == (
        "AccessDenied", 403)

    control.delete_public_access_block(AccountId=account)
    assert _code(lambda: control.get_public_access_block(AccountId=account))[1] == 404
    assert http("GET", url)[0] == 200
    s3.put_bucket_policy(Bucket=name, Policy=policy)
    s3.put_object(Bucket=name, Key="p", Body=b"x", ACL="public-read")
