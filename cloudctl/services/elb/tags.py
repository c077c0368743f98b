"""Load balancer tags: AddTags, RemoveTags, DescribeTags (at most 10 tags a load
balancer, 20 load balancers a call, keys unique within a call, ``aws:`` reserved)."""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.elb import common
from cloudctl.services.elb.base import ElbProvider
from cloudctl.services.elb.common import DuplicateTagKeys, TooManyTags, ValidationError

MAX_TAGS = 10
MAX_NAMES = 20


def check_tags(raw: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in raw:
        key = str(tag.get("Key") or "")
        value = str(tag.get("Value") or "")
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise ValidationError(f"Invalid tag key: '{key}'")
        if len(value) > 256:
            raise ValidationError(f"Invalid tag value for key '{key}'")
        if key in out:
            raise DuplicateTagKeys(f"Tag key was specified more than once: {key}")
        out[key] = value
    if len(out) > MAX_TAGS:
        raise TooManyTags(f"Too many tags: at most {MAX_TAGS} a load balancer")
    return out


def _names(params: dict[str, Any]) -> list[str]:
    names = [str(n) for n in params.get("LoadBalancerNames") or []]
    if not 1 <= len(names) <= MAX_NAMES:
        raise ValidationError(f"LoadBalancerNames must name 1 to {MAX_NAMES} load balancers")
    return names


class TagsProvider(ElbProvider):
    service = "elb"

    @operation("AddTags")
    async def add_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = _names(params)
        tags = check_tags(list(params.get("Tags") or []))
        async with self.cloud.sessions() as session, session.begin():
            for name in names:
                lb = await common.get(session, account, ctx.region, name)
                merged = {**lb.tags, **tags}
                if len(merged) > MAX_TAGS:
                    raise TooManyTags(f"Too many tags for {name}: at most {MAX_TAGS}")
                lb.tags = merged
        return {}

    @operation("RemoveTags")
    async def remove_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = _names(params)
        keys = {str(t.get("Key") or "") for t in params.get("Tags") or []}
        async with self.cloud.sessions() as session, session.begin():
            for name in names:
                lb = await common.get(session, account, ctx.region, name)
                lb.tags = {k: v for k, v in lb.tags.items() if k not in keys}
        return {}

    @operation("DescribeTags")
    async def describe_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = _names(params)
        out = []
        async with self.cloud.sessions() as session:
            for name in names:
                lb = await common.get(session, account, ctx.region, name)
                out.append({"LoadBalancerName": lb.name,
                            "Tags": [{"Key": k, "Value": v} for k, v in lb.tags.items()]})
        return {"TagDescriptions": out}
