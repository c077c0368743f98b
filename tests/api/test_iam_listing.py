"""CreateUser and ListUsers on their fast paths (raw SQLite statements; ORM on PostgreSQL):
the same answers as AWS either way — names unique case-insensitively, PathPrefix taken
literally, keyset pages whose Marker holds across inserts, tags echoed back."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud


def test_create_and_list_users_answer_as_aws(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    out = iam.create_user(UserName="Kx-Carol", Path="/k_x/",
                          Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert out["Arn"] == f"arn:aws:iam::{cloud.account_id}:user/k_x/Kx-Carol"
    assert out["Tags"] == [{"Key": "team", "Value": "blue"}]
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName="kx-carol", Path="/k_x/")
    assert caught.value.response["Error"]["Code"] == "EntityAlreadyExists"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    for name in ("kx-alice", "Kx-bob", "kx-dave"):
        iam.create_user(UserName=name, Path="/k_x/")
    iam.create_user(UserName="kx-eve", Path="/kzx/")  # "_" in PathPrefix is no wildcard

    first = iam.list_users(PathPrefix="/k_x/", MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == ["kx-alice", "Kx-bob"]
    assert first["IsTruncated"] and first["Marker"]
    iam.create_user(UserName="kx-aaron", Path="/k_x/")  # sorts before the marker
    rest = iam.list_users(PathPrefix="/k_x/", MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == ["Kx-Carol", "kx-dave"]
    assert not rest["IsTruncated"] and "Marker" not in rest
    carol = rest["Users"][0]
    assert carol["Path"] == "/k_x/" and carol["UserId"] == out["UserId"]
    assert carol["CreateDate"] == out["CreateDate"]
    assert "Tags" not in carol  # ListUsers leaves tags out, as AWS does

    everyone = [u["UserName"] for page in iam.get_paginator("list_users").paginate(
        PathPrefix="/k", PaginationConfig={"PageSize": 1}) for u in page["Users"]]
    assert everyone == ["kx-aaron", "kx-alice", "Kx-bob", "Kx-Carol", "kx-dave", "kx-eve"]
