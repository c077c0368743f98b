"""A batch of one operation made on behalf of a principal (``each_authorized``): every
item is authorised as its own call would be (the cloud's authorizer, then the
providers' extra checks); the batch's work runs once, for the allowed items only, and
each item's result lands in the items' order, a refused item's being the error its
call would have answered."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from cloudctl.errors import AccessDenied, AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.internal import Caller, each_authorized


class Authorizer:
    """Refuses the buckets whose name starts with ``no``; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def authorize(self, ctx: RequestContext, parsed: Any) -> None:
        self.asked.append((ctx.operation, parsed.params["Bucket"]))
        if parsed.params["Bucket"].startswith("no"):
            raise AccessDenied("Access Denied")


def _cloud(extra: list[Any]) -> Any:
    return SimpleNamespace(authorizer=Authorizer(),
                           authorizations=lambda service, operation: extra)


def _caller() -> Caller:
    credential: Any = SimpleNamespace(account_id="000000000001", access_key_id="AK")
    return Caller(credential=credential, region="eucalyptus")


def test_each_item_is_authorised_and_only_the_allowed_are_made_in_order() -> None:
    async def provider_check(ctx: RequestContext, params: dict[str, Any]) -> None:
        if params["Bucket"] == "taken":
            raise AwsError("taken", code="BucketAlreadyExists", status=409)

    cloud = _cloud([provider_check])
    batches: list[tuple[list[int], list[str]]] = []

    async def make(allowed: list[int], contexts: list[RequestContext]) -> list[str]:
        batches.append((allowed, [c.operation for c in contexts]))
        return [f"made-{i}" for i in allowed]

    names = ["a", "no-1", "b", "taken", "no-2", "c"]
    out = asyncio.run(each_authorized(cloud, _caller(), "s3", "CreateBucket",
                                      [{"Bucket": n} for n in names], make))
    assert batches == [([0, 2, 5], ["CreateBucket"] * 3)]  # one batch, the allowed only
    assert out[0] == "made-0" and out[2] == "made-2" and out[5] == "made-5"
    assert [type(o).__name__ for o in out] == ["str", "AccessDenied", "str", "AwsError",
                                               "AccessDenied", "str"]
    assert isinstance(out[3], AwsError) and out[3].code == "BucketAlreadyExists"
    assert cloud.authorizer.asked == [("CreateBucket", n) for n in names]


def test_a_batch_whose_items_are_all_refused_makes_nothing() -> None:
    cloud = _cloud([])
    called: list[Any] = []

    async def make(allowed: list[int], contexts: list[RequestContext]) -> list[None]:
        called.append(allowed)
        return [None for _ in allowed]

    out = asyncio.run(each_authorized(cloud, _caller(), "s3", "CreateBucket",
                                      [{"Bucket": "no-a"}, {"Bucket": "no-b"}], make))
    assert called == []
    assert all(isinstance(o, AccessDenied) for o in out) and len(out) == 2
