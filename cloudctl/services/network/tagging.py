"""A thin bridge to the EC2 tags module (`cloudctl.services.ec2.tags`).

Security groups and addresses are taggable; the tags themselves belong to
the EC2 tags part. It is looked up at call time so that networking keeps
working (without tags) where that part is not installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

Tags = list[dict[str, str]]


def _module() -> Any:
    try:
        return importlib.import_module("cloudctl.services.ec2.tags")
    except ImportError:
        return None


async def tags_for(session: AsyncSession, account: str, region: str,
                   ids: list[str]) -> dict[str, Tags]:
    mod = _module()
    if mod is None or not ids:
        return {}
    result: dict[str, Tags] = await mod.tags_for(session, account, region, ids)
    return result


async def apply_specs(cloud: Cloud, session: AsyncSession, account: str, region: str,
                      resource_type: str, ids: list[str], specs: Any) -> None:
    mod = _module()
    if mod is not None and specs:
        mod.check_tag_specifications(specs, [resource_type])
        await mod.apply_tag_specifications(cloud, session, account, region, resource_type,
                                           ids, specs)


async def delete_tags(session: AsyncSession, account: str, region: str, ids: list[str]) -> None:
    mod = _module()
    if mod is not None:
        await mod.delete_resource_tags(session, account, region, ids)


def extractors(get: Callable[[Any], Tags]) -> dict[str, Callable[[Any], list[str]]]:
    return {
        "tag:": lambda item: [f"{t['Key']}={t['Value']}" for t in get(item)],
        "tag-key": lambda item: [t["Key"] for t in get(item)],
        "tag-value": lambda item: [t["Value"] for t in get(item)],
    }


def register(prefix: str, exists: Any) -> None:
    """How to find ids with ``prefix`` (type and NotFound code: the EC2 resource registry)."""
    mod = _module()
    if mod is not None:
        mod.register_resource(prefix, exists)

