"""The one place EBS reaches the EC2 tags part (``cloudctl.services.ec2.shared.tags``).

Volumes and snapshots keep no tags of their own: TagSpecifications, ``tag:``
filters and the ``Tags`` member go through the tags part's public functions, so
CreateTags/DeleteTags/DescribeTags see the same rows. If that surface changes,
only this adapter changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.ec2.shared import tags as _tags

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

Tags = list[dict[str, str]]


def check_specs(specs: list[dict[str, Any]] | None, resource_type: str) -> None:
    """Refuse specifications for a resource type the call does not create."""
    _tags.check_tag_specifications(specs, [resource_type])


async def apply_specs(cloud: Cloud, session: AsyncSession, account_id: str, region: str,
                      resource_type: str, resource_id: str,
                      specs: list[dict[str, Any]] | None) -> None:
    await _tags.apply_tag_specifications(cloud, session, account_id, region, resource_type,
                                         [resource_id], specs)


async def tags_for(session: AsyncSession, account_id: str, region: str,
                   resource_ids: list[str]) -> dict[str, Tags]:
    return await _tags.tags_for(session, account_id, region, resource_ids)


def with_tags(query: Select[Any], resource_id: Any, account_id: Any, region: Any,
              ) -> Select[Any]:
    return _tags.with_tags(query, resource_id, account_id, region)


def split_tags(rows: Iterable[Any], id_of: Callable[[Any], str],
               ) -> tuple[list[Any], dict[str, Tags]]:
    return _tags.split_tags(rows, id_of)


async def delete_tags(session: AsyncSession, account_id: str, region: str,
                      resource_ids: list[str]) -> None:
    await _tags.delete_resource_tags(session, account_id, region, resource_ids)


def extractors(get_tags: Callable[[Any], Tags]) -> dict[str, Callable[[Any], list[str]]]:
    """``tag:<key>``, ``tag-key`` and ``tag-value`` filter extractors."""
    return _tags.filter_extractors(get_tags)


def register_kinds() -> None:
    """Let CreateTags on a missing volume or snapshot answer that kind's NotFound."""
    from cloudctl.services.ec2.ebs.models import Snapshot, Volume

    async def volumes_exist(session: AsyncSession, account_id: str, region: str,
                            ids: list[str]) -> set[str]:
        rows = await session.execute(select(Volume.volume_id).where(
            Volume.account_id == account_id, Volume.region == region,
            Volume.volume_id.in_(ids)))
        return {r[0] for r in rows}

    async def snapshots_exist(session: AsyncSession, account_id: str, region: str,
                              ids: list[str]) -> set[str]:
        rows = await session.execute(select(Snapshot.snapshot_id).where(
            Snapshot.account_id == account_id, Snapshot.region == region,
            Snapshot.snapshot_id.in_(ids)))
        return {r[0] for r in rows}

    _tags.register_resource("vol", volumes_exist)
    _tags.register_resource("snap", snapshots_exist)
