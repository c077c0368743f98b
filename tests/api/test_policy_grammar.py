"""Policy documents validated on input as AWS validates them, through boto3.

The corpus (tests/data/policies, see ``tests/policy_corpus.py``) goes through every
API that stores a document of its kind: identity policies through CreatePolicy and
PutUserPolicy (MalformedPolicyDocument), trust policies through CreateRole's
AssumeRolePolicyDocument, resource policies through S3 PutBucketPolicy (S3's
MalformedPolicy with its own wording). Valid documents must be stored and read back.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.policy_corpus import BUCKET, cases, document
from tests.support import LiveCloud

_serial = itertools.count()
USER = "grammar-user"


@pytest.fixture(scope="module")
def setup(sqlite_cloud: LiveCloud) -> LiveCloud:
    iam, s3 = sqlite_cloud.client("iam"), sqlite_cloud.client("s3")
    iam.create_user(UserName=USER)
    s3.create_bucket(Bucket=BUCKET)
    return sqlite_cloud


def _stores(cloud: LiveCloud, kind: str) -> list[tuple[str, Callable[[str], Any]]]:
    """``(api, store(text))`` for every API taking a ``kind`` document."""
    iam, s3 = cloud.client("iam"), cloud.client("s3")
    n = next(_serial)
    if kind == "identity":
        return [("CreatePolicy", lambda t: iam.create_policy(
                    PolicyName=f"grammar{n}", PolicyDocument=t)),
                ("PutUserPolicy", lambda t: iam.put_user_policy(
                    UserName=USER, PolicyName=f"grammar{n}", PolicyDocument=t))]
    if kind == "trust":
        return [("CreateRole", lambda t: iam.create_role(
                    RoleName=f"grammar{n}", AssumeRolePolicyDocument=t))]
    return [("PutBucketPolicy", lambda t: s3.put_bucket_policy(Bucket=BUCKET, Policy=t))]


@pytest.mark.parametrize(("name", "kind", "expected"), cases("valid"))
def test_valid_document_is_stored(setup: LiveCloud, name: str, kind: str,
                                  expected: None) -> None:
    text = document("valid", name)
    for api, store in _stores(setup, kind):
        out = store(text)
        assert out["ResponseMetadata"]["HTTPStatusCode"] in (200, 204), api
    if kind == "resource":
        stored = setup.client("s3").get_bucket_policy(Bucket=BUCKET)["Policy"]
        assert json.loads(stored) == json.loads(text)


@pytest.mark.parametrize(("name", "kind", "expected"), cases("invalid"))
def test_invalid_document_is_refused(setup: LiveCloud, name: str, kind: str,
                                     expected: str) -> None:
    text = document("invalid", name)
    code = "MalformedPolicy" if kind == "resource" else "MalformedPolicyDocument"
    for api, store in _stores(setup, kind):
        with pytest.raises(ClientError) as caught:
            store(text)
        error = caught.value.response["Error"]
        assert (error["Code"], error["Message"]) == (code, expected), api
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, api
