"""The one MaxResults/NextToken helper (cloudctl.services.paging)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cloudctl.errors import AwsError
from cloudctl.services import paging

IDS = [f"vol-{i:08x}" for i in range(23)]


def _all_pages(op: str, params: dict[str, Any], items: list[str]) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        sent = dict(params, **({"NextToken": token} if token else {}))
        page, token = paging.paginate(op, sent, items, lambda i: i)
        pages.append(page)
        if token is None:
            return pages


def test_pages_cover_every_item_once() -> None:
    pages = _all_pages("DescribeVolumes", {"MaxResults": 5}, IDS)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert sum(pages, []) == IDS


def test_keyset_resumes_after_the_last_key_even_when_items_change() -> None:
    first, token = paging.paginate("DescribeVolumes", {"MaxResults": 5}, IDS, lambda i: i)
    changed = [i for i in IDS if i != IDS[2]] + ["vol-00000000a"]  # a delete and an insert
    second, _ = paging.paginate("DescribeVolumes", {"MaxResults": 5, "NextToken": token},
                                changed, lambda i: i)
    assert second == IDS[5:10]


def test_unsorted_items_are_paged_in_key_order() -> None:
    shuffled = IDS[::-1]
    assert sum(_all_pages("DescribeImages", {"MaxResults": 5}, shuffled), []) == IDS
    # without paging the order is the caller's
    assert paging.paginate("DescribeImages", {}, shuffled, lambda i: i) == (shuffled, None)


def test_composite_keys() -> None:
    items = [("a", "k1"), ("a", "k2"), ("b", "k1"), ("b", "k2"), ("c", "k")] * 1
    items = items + [("d", f"k{i}") for i in range(6)]
    pages = []
    token = None
    while True:
        params: dict[str, Any] = {"MaxResults": 5, **({"NextToken": token} if token else {})}
        page, token = paging.paginate("DescribeTags", params, items, lambda t: list(t))
        pages.extend(page)
        if token is None:
            break
    assert pages == items


@pytest.mark.parametrize(("op", "value", "served"), [
    ("DescribeVolumes", 501, 500), ("DescribeVolumes", 1000, 500),
    ("DescribeSnapshots", 5000, 1000), ("DescribeVolumeStatus", 1001, 1000),
    ("DescribeVolumesModifications", 1, 1), ("DescribeInstanceTypes", 100, 100),
])
def test_ebs_clamps_above_the_maximum(op: str, value: int, served: int) -> None:
    assert paging.PageRequest.of(op, {"MaxResults": value}).limit == served


@pytest.mark.parametrize(("op", "value"), [
    ("DescribeVolumes", 4), ("DescribeSnapshots", 0), ("DescribeVolumesModifications", 0),
    ("DescribeInstances", 4), ("DescribeInstances", 1001), ("DescribeInstanceTypes", 101),
    ("DescribeTags", 1001), ("DescribeSecurityGroups", 2), ("DescribeImages", 1001),
])
def test_out_of_bounds_is_refused(op: str, value: int) -> None:
    bounds = paging.BOUNDS[op]
    with pytest.raises(AwsError) as err:
        paging.PageRequest.of(op, {"MaxResults": value})
    assert err.value.code == "InvalidParameterValue"
    assert str(err.value) == (f"Value ( {value} ) for parameter maxResults is invalid. "
                              f"Parameter must be between {bounds.minimum} and "
                              f"{bounds.maximum}.")


def _token(op: str, params: dict[str, Any]) -> str:
    _, token = paging.paginate(op, dict(params, MaxResults=5), IDS, lambda i: i)
    assert token
    return token


@pytest.mark.parametrize(("minted", "used"), [
    (("DescribeVolumes", {}), ("DescribeSnapshots", {})),
    (("DescribeVolumes", {}), ("DescribeVolumes", {"Filters": [{"Name": "size",
                                                                "Values": ["1"]}]})),
    (("DescribeInstances", {"Filters": [{"Name": "a", "Values": ["1"]}]}),
     ("DescribeInstances", {"Filters": [{"Name": "a", "Values": ["2"]}]})),
])
def test_a_token_of_another_query_is_refused(minted: tuple[str, dict[str, Any]],
                                             used: tuple[str, dict[str, Any]]) -> None:
    token = _token(*minted)
    with pytest.raises(AwsError) as err:
        paging.PageRequest.of(used[0], dict(used[1], NextToken=token))
    assert err.value.code == "InvalidNextToken"


def test_max_results_and_dry_run_are_not_part_of_the_query() -> None:
    token = _token("DescribeVolumes", {"DryRun": False})
    request = paging.PageRequest.of("DescribeVolumes", {"MaxResults": 7, "NextToken": token})
    assert request.cursor == IDS[4] and request.limit == 7


@pytest.mark.parametrize("token", [
    "!!!", "bm90IGpzb24", base64.urlsafe_b64encode(b"[1,2]").decode(),
    paging.encode_cursor("vol-1", "another-scope"),
    base64.urlsafe_b64encode(b'[9,"x","vol-1"]').decode(),
])
def test_garbage_tokens(token: str) -> None:
    with pytest.raises(AwsError) as err:
        paging.PageRequest.of("DescribeSnapshots", {"NextToken": token})
    assert (err.value.code, str(err.value)) == ("InvalidNextToken",
                                                "The pagination token is invalid.")
    with pytest.raises(AwsError) as err:
        paging.PageRequest.of("DescribeInstances", {"NextToken": token})
    assert (err.value.code, str(err.value)) == ("InvalidNextToken",
                                                f"The token '{token}' is invalid.")


def test_a_cursor_of_another_shape_is_refused() -> None:
    scope = paging.scope_of("DescribeTags", {})
    token = paging.encode_cursor(7, scope)
    with pytest.raises(AwsError) as err:
        paging.paginate("DescribeTags", {"NextToken": token}, [["a", "b"]], lambda t: t)
    assert err.value.code == "InvalidNextToken"


def test_encoder_round_trip() -> None:
    for key in ("vol-1", ["a", "b"], ("a", 1), 5):
        assert paging.decode_cursor(paging.encode_cursor(key, "s"), "s") == paging._plain(key)
    with pytest.raises(paging.BadCursor):
        paging.decode_cursor(paging.encode_cursor("k", "s"), "t")
