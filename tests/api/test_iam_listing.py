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


def test_pages_follow_renames_and_end_without_a_marker(cloud: LiveCloud) -> None:
    """The fast page's marker is the last name lowered (the keyset's ``name_lower``): a
    user renamed in another case (UpdateUser, the ORM path) pages in its new place, and
    pages of one, of two and of all see the same users in the same order."""
    iam = cloud.client("iam")
    for name in ("Ren-b", "ren-C", "REN-a", "ren-d", "Ren-E"):
        iam.create_user(UserName=name, Path="/ren/")
    iam.update_user(UserName="REN-a", NewUserName="rEN-zz")
    iam.update_user(UserName="ren-d", NewUserName="REN-D")  # the same name in another case
    expected = ["Ren-b", "ren-C", "REN-D", "Ren-E", "rEN-zz"]
    by_one: list[str] = []
    for size in (1, 2, 1000):
        names: list[str] = []
        markers: list[str] = []
        marker: str | None = None
        while True:
            out = iam.list_users(PathPrefix="/ren/", MaxItems=size,
                                 **({"Marker": marker} if marker else {}))
            names += [u["UserName"] for u in out["Users"]]
            if not out["IsTruncated"]:
                assert "Marker" not in out
                break
            marker = out["Marker"]
            markers.append(marker)
        assert names == expected, size
        assert len(markers) == (len(expected) - 1) // size
        by_one = by_one or markers
    [zz] = iam.list_users(PathPrefix="/ren/", Marker=by_one[-1])["Users"]
    assert zz["UserName"] == "rEN-zz"
    assert zz["Arn"] == f"arn:aws:iam::{cloud.account_id}:user/ren/rEN-zz"
    assert zz["UserId"] == iam.get_user(UserName="rEN-zz")["User"]["UserId"]
