"""EC2 tags for every EC2 resource: one table, the Create/Delete/DescribeTags API,
and the public functions other EC2 parts call.

Owns the ``ec2_tags`` table (resource id + account + region + key -> value) and the
``tagging.max_tags_per_resource`` property. It never checks other tables itself:
a resource kind registers an existence check with ``register_resource`` so that
CreateTags on a missing id answers that kind's NotFound error. Which id prefixes are
taggable, as which ``ResourceType``, and their NotFound codes come from the resource
registry (``cloudctl.services.ec2.shared.resources``).

Public surface for other EC2 parts (volumes, snapshots, images, instances...)::

    from cloudctl.services.ec2.shared import tags

    # in the creating transaction; TagSpecifications straight from the params
    await tags.apply_tag_specifications(cloud, session, account, region,
                                        "volume", [volume_id], params.get("TagSpecifications"))
    tag_map = await tags.tags_for(session, account, region, ids)      # id -> [{"Key","Value"}]
    query = tags.with_tags(query, Volume.volume_id, account, region)  # rows and tags at once
    rows, tag_map = tags.split_tags(await session.execute(query), lambda v: v.volume_id)
    items = tags.filter_extractors(lambda v: tag_map.get(v.id, []))   # "tag:*", tag-key, tag-value
    await tags.delete_resource_tags(session, account, region, [volume_id])
    tags.register_resource("vol", check_fn)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, String, Table, and_, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow
from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.ec2.shared import resources
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.ids import is_resource_id
from cloudctl.services.paging import paginate

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

MAX_TAGS = registry.define(PropertyDef(
    "tagging.max_tags_per_resource", PropertyType.INTEGER, "50",
    "Most tags one EC2 resource may carry (AWS allows 50; Eucalyptus defaulted to 10).",
    minimum=1, maximum=1000,
))

Tags = list[dict[str, str]]
ExistsCheck = Callable[[AsyncSession, str, str, list[str]], Awaitable[set[str]]]


class Tag(Base):
    __tablename__ = "ec2_tags"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), default="")
    resource_type: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# id prefix -> the existence check a taggable kind registered
_EXISTS: dict[str, ExistsCheck] = {}


def register_resource(prefix: str, exists: ExistsCheck) -> None:
    """Declare how to find ids of the registered type with ``prefix``:
    ``exists(session, account, region, ids)`` returns those that exist; CreateTags on
    others answers the type's NotFound code (``cloudctl.services.ec2.shared.resources``)."""
    if resources.by_prefix(prefix) is None:
        raise ValueError(f"unknown EC2 id prefix {prefix!r}")
    _EXISTS[prefix] = exists


def _taggable(resource_id: str) -> resources.ResourceType | None:
    prefix = resource_id.rsplit("-", 1)[0] if "-" in resource_id else ""
    rtype = resources.by_prefix(prefix)
    return rtype if rtype is not None and rtype.tag_type is not None else None


def resource_type_of(resource_id: str) -> str:
    rtype = _taggable(resource_id)
    if rtype is None or rtype.tag_type is None:
        raise AwsError(f"Invalid id: \"{resource_id}\"", code="InvalidID")
    return rtype.tag_type


def _validate(tag_list: Iterable[dict[str, Any]], *, deleting: bool = False) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for tag in tag_list:
        key = tag.get("Key")
        if key is None or key == "":
            raise AwsError("Tag keys must not be empty.", code="InvalidParameterValue")
        key = str(key)
        if len(key) > 128:
            raise AwsError(f"Tag key exceeds the maximum length of 128 characters: {key[:20]}...",
                           code="InvalidParameterValue")
        if key.lower().startswith("aws:") and not deleting:
            raise AwsError("Tag keys starting with 'aws:' are reserved for internal use",
                           code="InvalidParameterValue")
        value = tag.get("Value")
        if value is not None and len(str(value)) > 256:
            raise AwsError("Tag value exceeds the maximum length of 256 characters.",
                           code="InvalidParameterValue")
        out.append((key, None if value is None else str(value)))
    return out


async def _check_exist(session: AsyncSession, account_id: str, region: str,
                       resource_ids: list[str]) -> None:
    by_prefix: dict[str, list[str]] = {}
    for rid in resource_ids:
        resource_type_of(rid)
        if not is_resource_id(rid.rsplit("-", 1)[0], rid):
            raise AwsError(f"The ID '{rid}' is not valid", code="InvalidID")
        by_prefix.setdefault(rid.rsplit("-", 1)[0], []).append(rid)
    for prefix, ids in by_prefix.items():
        exists = _EXISTS.get(prefix)
        rtype = resources.by_prefix(prefix)
        if exists is None or rtype is None:
            continue
        found = await exists(session, account_id, region, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise AwsError(f"The ID '{missing[0]}' does not exist",
                           code=rtype.not_found or "InvalidID")


async def set_tags(cloud: Cloud, session: AsyncSession, account_id: str, region: str,
                   resource_ids: list[str], tag_list: Iterable[dict[str, Any]],
                   resource_type: str | None = None) -> None:
    """Add or overwrite tags on resources (no existence check: the caller owns them)."""
    pairs = _validate(tag_list)
    if not pairs or not resource_ids:
        return
    limit = int(cloud.properties.get(MAX_TAGS))
    rows = (await session.execute(select(Tag).where(
        Tag.account_id == account_id, Tag.region == region,
        Tag.resource_id.in_(resource_ids)))).scalars().all()
    existing: dict[str, dict[str, Tag]] = {}
    for row in rows:
        existing.setdefault(row.resource_id, {})[row.key] = row
    for rid in resource_ids:
        current = existing.get(rid, {})
        new_keys = {k for k, _ in pairs} - set(current)
        if len(current) + len(new_keys) > limit:
            raise AwsError(f"The maximum number of tags per resource is {limit}.",
                           code="TagLimitExceeded")
        rtype = resource_type or resource_type_of(rid)
        for key, value in pairs:
            found = current.get(key)
            if found is None:
                row = Tag(account_id=account_id, region=region, resource_id=rid, key=key,
                          value=value or "", resource_type=rtype)
                session.add(row)
                current[key] = row
            else:
                found.value = value or ""


async def tag_new(session: AsyncSession, account_id: str, region: str, resource_type: str,
                  tagged: Iterable[tuple[str, Tags, Tags]]) -> None:
    """Tags of resources made in this transaction (no tag of theirs exists yet, nothing
    to read), in one statement: ``(resource id, the caller's tags, aws: tags a service
    sets)`` each, the caller's validated as ``CreateTags`` would (checked before:
    ``check_new_tags``)."""
    now = utcnow()
    rows = []
    for rid, user, system in tagged:
        pairs = [(k, v) for k, v in _validate(user)] + \
            [(str(t["Key"]), t.get("Value")) for t in system]
        rows += [{"account_id": account_id, "region": region, "resource_id": rid, "key": key,
                  "value": value or "", "resource_type": resource_type, "created_at": now}
                 for key, value in dict(pairs).items()]
    if rows:
        await session.execute(insert(cast(Table, Tag.__table__)), rows)


def check_new_tags(cloud: Cloud, user: Tags, system: Tags) -> None:
    """Refuse a new resource's tags ``tag_new`` would write: a bad one, or too many."""
    keys = {k for k, _ in _validate(user)} | {str(t["Key"]) for t in system}
    limit = int(cloud.properties.get(MAX_TAGS))
    if len(keys) > limit:
        raise AwsError(f"The maximum number of tags per resource is {limit}.",
                       code="TagLimitExceeded")


async def apply_tag_specifications(cloud: Cloud, session: AsyncSession, account_id: str,
                                   region: str, resource_type: str, resource_ids: list[str],
                                   specs: list[dict[str, Any]] | None) -> None:
    """Tag new resources from a create call's ``TagSpecifications`` for ``resource_type``.

    Specifications for other resource types are ignored (RunInstances passes its
    specs once for "instance" and once for "volume")."""
    for spec in specs or []:
        rtype = spec.get("ResourceType")
        if rtype is None:
            raise AwsError("The tag specification must name a resource type.",
                           code="InvalidParameterValue")
        if rtype == resource_type:
            await set_tags(cloud, session, account_id, region, resource_ids,
                           spec.get("Tags") or [], resource_type)


def check_tag_specifications(specs: list[dict[str, Any]] | None, allowed: Iterable[str]) -> None:
    """Refuse TagSpecifications naming a resource type the call does not create."""
    allowed_set = set(allowed)
    for spec in specs or []:
        rtype = spec.get("ResourceType")
        if rtype not in allowed_set:
            raise AwsError(f"'{rtype}' is not a valid taggable resource type for this operation.",
                           code="InvalidParameterValue")
        _validate(spec.get("Tags") or [])


async def tags_for(session: AsyncSession, account_id: str, region: str,
                   resource_ids: Iterable[str] | None = None) -> dict[str, Tags]:
    """``resource id -> [{"Key", "Value"}]`` (all of the account's tags when ids is None)."""
    query = select(Tag.resource_id, Tag.key, Tag.value).where(
        Tag.account_id == account_id, Tag.region == region)
    if resource_ids is not None:
        ids = list(resource_ids)
        if not ids:
            return {}
        if len(ids) <= 500:
            query = query.where(Tag.resource_id.in_(ids))
    out: dict[str, Tags] = {}
    for rid, key, value in (await session.execute(query.order_by(Tag.resource_id, Tag.key))).all():
        out.setdefault(rid, []).append({"Key": key, "Value": value})
    return out


def with_tags(query: Select[Any], resource_id: Any, account_id: Any, region: Any,
              ) -> Select[Any]:
    """``query`` with its rows' tags joined: each row once per tag, the tag's key and
    value as two last columns (``None`` for a row without tags), in key order within a
    row. One statement for the rows and their tags: a round trip fewer than
    ``tags_for`` after the rows. ``resource_id``: the query's column naming the row's
    id; ``account_id`` and ``region``: values, or bound parameters (a statement built
    once). A query with a LIMIT must be a subquery first (the limit is on rows, not tags)."""
    return query.add_columns(Tag.key, Tag.value).outerjoin(Tag, and_(
        Tag.account_id == account_id, Tag.region == region,
        Tag.resource_id == resource_id)).order_by(Tag.key)


def split_tags(rows: Iterable[Any], id_of: Callable[[Any], str],
               ) -> tuple[list[Any], dict[str, Tags]]:
    """The rows of a ``with_tags`` query of one entity: the entities, each once in the
    query's order, and ``id_of(entity) -> [{"Key", "Value"}]``."""
    entities: dict[int, Any] = {}
    out: dict[str, Tags] = {}
    for entity, key, value in rows:
        entities.setdefault(id(entity), entity)
        if key is not None:
            out.setdefault(id_of(entity), []).append({"Key": key, "Value": value})
    return list(entities.values()), out


async def delete_resource_tags(session: AsyncSession, account_id: str, region: str,
                               resource_ids: list[str]) -> None:
    """Drop every tag of deleted resources."""
    if resource_ids:
        await session.execute(delete(Tag).where(
            Tag.account_id == account_id, Tag.region == region,
            Tag.resource_id.in_(resource_ids)))


def filter_extractors(get_tags: Callable[[Any], Tags]) -> dict[str, Callable[[Any], list[str]]]:
    """Extractors for ``apply_filters``: ``tag:<key>``, ``tag-key``, ``tag-value``."""
    return {
        "tag:": lambda item: [f"{t['Key']}={t['Value']}" for t in get_tags(item)],
        "tag-key": lambda item: [t["Key"] for t in get_tags(item)],
        "tag-value": lambda item: [t["Value"] for t in get_tags(item)],
    }


class TagsProvider(Provider):
    service = "ec2"

    @operation("CreateTags")
    async def create_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        ids = list(params.get("Resources") or [])
        if not ids:
            raise AwsError("The request must contain the parameter resourceIdSet",
                           code="MissingParameter")
        tag_list = params.get("Tags") or []
        async with self.cloud.sessions() as session, session.begin():
            await _check_exist(session, account, ctx.region, ids)
            await set_tags(self.cloud, session, account, ctx.region, ids, tag_list)
        return {}

    @operation("DeleteTags")
    async def delete_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        ids = list(params.get("Resources") or [])
        if not ids:
            raise AwsError("The request must contain the parameter resourceIdSet",
                           code="MissingParameter")
        for rid in ids:
            resource_type_of(rid)
        pairs = _validate(params.get("Tags") or [], deleting=True)
        async with self.cloud.sessions() as session, session.begin():
            base = delete(Tag).where(Tag.account_id == account, Tag.region == ctx.region,
                                     Tag.resource_id.in_(ids))
            if not pairs:
                await session.execute(base)
            for key, value in pairs:
                stmt = base.where(Tag.key == key)
                if value is not None:
                    stmt = stmt.where(Tag.value == value)
                await session.execute(stmt)
        return {}

    @operation("DescribeTags")
    async def describe_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(Tag).where(
                Tag.account_id == account, Tag.region == ctx.region).order_by(
                Tag.resource_id, Tag.key))).scalars().all()
        items = [{"ResourceId": r.resource_id, "ResourceType": r.resource_type,
                  "Key": r.key, "Value": r.value} for r in rows]
        items = apply_filters(items, params.get("Filters"), {
            "key": lambda t: [t["Key"]],
            "value": lambda t: [t["Value"]],
            "resource-id": lambda t: [t["ResourceId"]],
            "resource-type": lambda t: [t["ResourceType"]],
            "tag:": lambda t: [f"{t['Key']}={t['Value']}"],
        })
        page, token = paginate("DescribeTags", params, items,
                               lambda t: [t["ResourceId"], t["Key"]])
        result: Result = {"Tags": page}
        if token:
            result["NextToken"] = token
        return result
