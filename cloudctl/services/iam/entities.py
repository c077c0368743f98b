"""Shared steps of the IAM providers over named entities (users, groups, roles, profiles).

Each such table carries ``account_id``, ``name``, ``name_lower`` and ``path``; names
are unique per account case-insensitively. Here: lookup by name (NoSuchEntity), the
name-taken check (EntityAlreadyExists), refusing to delete an entity that still owns
things (DeleteConflict), one Marker/MaxItems page of a list ordered by name (in SQL),
and the Tag/Untag/List tags operations of users and roles. The error codes are AWS's
(from ``common``); the messages, which AWS words per entity, come from the callers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result
from cloudctl.services.iam.common import (
    IamBase,
    already_exists,
    decode_marker,
    delete_conflict,
    drop_tags,
    encode_marker,
    max_items,
    merge_tags,
    no_such_entity,
    tags_out,
)
from cloudctl.services.iam.models import InlinePolicy, PolicyAttachment

R = TypeVar("R")


class Tagged(Protocol):
    """A row whose tags are a JSON list of ``{"Key": ..., "Value": ...}`` (users, roles)."""

    tags_json: str


#: What still holds policies for a user, group or role (``delete_entity`` dependents).
POLICY_DEPENDENTS: tuple[tuple[Any, Any, str], ...] = (
    (InlinePolicy, InlinePolicy.owner_id, "delete policies"),
    (PolicyAttachment, PolicyAttachment.owner_id, "detach all policies"),
)

#: ``(session, account_id, name) -> row``, raising NoSuchEntity (``get_user``, ``get_role``).
Lookup = Callable[[AsyncSession, str, str], Awaitable[Tagged]]


async def get_named(session: AsyncSession, table: type[R], account_id: str, name: str,
                    missing: str) -> R:
    """The ``table`` row of the account called ``name`` (any case); NoSuchEntity(``missing``)."""
    model: Any = table
    row: R | None = (await session.execute(select(model).where(
        model.account_id == account_id, model.name_lower == name.lower()))).scalar_one_or_none()
    if row is None:
        raise no_such_entity(missing)
    return row


async def check_name_free(session: AsyncSession, table: Any, account_id: str, name: str,
                          taken: str) -> None:
    """Raise EntityAlreadyExists(``taken``) if the account has a ``table`` row called ``name``."""
    if (await session.execute(select(table.name_lower).where(
            table.account_id == account_id, table.name_lower == name.lower()))).first():
        raise already_exists(taken)


async def delete_entity(provider: IamBase, ctx: RequestContext, params: dict[str, Any],
                        name_key: str, lookup: Callable[[AsyncSession, str, str], Awaitable[R]],
                        owner_id: Callable[[R], str],
                        dependents: Iterable[tuple[Any, Any, str]]) -> None:
    """DeleteUser/DeleteGroup/DeleteRole: delete the entity named ``params[name_key]``.

    Refuses with DeleteConflict ``Cannot delete entity, must <what> first.`` for the first
    ``(table, column, what)`` of ``dependents`` (checked in order) whose ``column`` still
    holds the entity's ``owner_id``.
    """
    async with provider.cloud.sessions() as session, session.begin():
        account = await provider.target_account(ctx, params, session)
        row = await lookup(session, account.account_id, params[name_key])
        owner = owner_id(row)
        dependents = list(dependents)
        # one statement: whether each kind of dependent exists (a SELECT of EXISTS each)
        held = (await session.execute(select(*(
            exists().where(column == owner) for _, column, _ in dependents)))).one()
        conflict = dependent_conflict(dependents, held)
        if conflict is not None:
            raise conflict
        await session.delete(row)


def dependent_conflict(dependents: Sequence[tuple[Any, Any, str]],
                       held: Iterable[bool]) -> AwsError | None:
    """The DeleteConflict for the first of ``dependents`` still ``held`` (in their
    order), None when none is: what DeleteUser/DeleteGroup/DeleteRole answer."""
    for (_, _, what), holding in zip(dependents, held, strict=True):
        if holding:
            return delete_conflict(f"Cannot delete entity, must {what} first.")
    return None


async def delete_entities(provider: IamBase, ctxs: Sequence[RequestContext],
                          names: Sequence[str], table: Any, key: Any,
                          missing: Callable[[str], str],
                          refuse: Callable[[Any], AwsError | None],
                          dependents: Iterable[tuple[Any, Any, str]], *,
                          then: Callable[[AsyncSession], Awaitable[None]] | None = None
                          ) -> list[AwsError | None]:
    """Many ``delete_entity`` of ``table`` rows (``names``, each call's context in
    ``ctxs``) in one transaction, each checked as its own call would be, in order: the
    caller's account, NoSuchEntity (``missing(name)``; a name deleted earlier in the
    batch too), ``refuse(row)``, DeleteConflict for its first dependent still held.
    None for each deleted, else its error (only that one stays). The rows and their
    dependents are read with one statement each for all; ``key`` is the row's id column
    (what dependents hold). ``then(session)`` runs in the transaction when any was
    deleted. A database error fails the whole transaction (nothing deleted), raised."""
    dependents = list(dependents)
    out: list[AwsError | None] = [None] * len(names)
    async with provider.cloud.sessions() as session, session.begin():
        accounts: list[str | None] = []
        for index, ctx in enumerate(ctxs):
            try:
                accounts.append((await provider.target_account(ctx, {}, session)).account_id)
            except AwsError as error:
                accounts.append(None)
                out[index] = error
        found = {(row.account_id, row.name_lower): row for row in (await session.execute(
            select(table).where(table.account_id.in_({a for a in accounts if a}),
                                table.name_lower.in_({n.lower() for n in names})))).scalars()}
        owners = [getattr(row, key.key) for row in found.values()]
        held = [set((await session.execute(select(column).where(column.in_(owners))
                                           )).scalars()) if owners else set()
                for _, column, _ in dependents]
        gone: set[Any] = set()
        for index, (account, name) in enumerate(zip(accounts, names, strict=True)):
            if account is None:
                continue
            row = found.get((account, name.lower()))
            owner = getattr(row, key.key) if row is not None else None
            if row is None or owner in gone:
                out[index] = no_such_entity(missing(name))
                continue
            out[index] = refuse(row) or dependent_conflict(
                dependents, (owner in holding for holding in held))
            if out[index] is None:
                gone.add(owner)
        if gone:
            await session.execute(delete(table).where(key.in_(gone)))
            if then is not None:
                await then(session)
    return out


async def page(session: AsyncSession, table: Any, account_id: str, params: dict[str, Any],
               *where: Any) -> tuple[list[Any], bool]:
    """One page of ``table`` rows of the account ordered by ``name_lower``.

    Honours ``PathPrefix``, ``Marker`` (the last name of the previous page) and
    ``MaxItems`` (1..1000, default 100); returns the rows and whether more follow.
    """
    limit = max_items(params)
    query = select(table).where(table.account_id == account_id, *where)
    prefix = params.get("PathPrefix")
    if prefix:
        query = query.where(table.path.startswith(prefix, autoescape=True))
    after = decode_marker(params)
    if after is not None:
        query = query.where(table.name_lower > after)
    rows = list((await session.execute(query.order_by(table.name_lower).limit(limit + 1))
                 ).scalars().all())
    return rows[:limit], len(rows) > limit


def paged(field: str, rows: list[Any], truncated: bool,
          render: Callable[[Any], Any]) -> dict[str, Any]:
    """The AWS list answer for one ``page``: ``field``, ``IsTruncated`` and, if so, ``Marker``."""
    out: dict[str, Any] = {field: [render(r) for r in rows], "IsTruncated": truncated}
    if truncated:
        out["Marker"] = encode_marker(rows[-1].name_lower)
    return out


async def list_named(provider: IamBase, ctx: RequestContext, params: dict[str, Any],
                     table: Any, field: str, render: Callable[[Any], Any]) -> Result:
    """A whole List* operation over the target account's ``table`` rows (ListUsers...)."""
    async with provider.cloud.sessions() as session:
        account = await provider.target_account(ctx, params, session)
        rows, truncated = await page(session, table, account.account_id, params)
    return paged(field, rows, truncated, render)


async def _edit_tags(provider: IamBase, ctx: RequestContext, params: dict[str, Any],
                     name_key: str, lookup: Lookup, change: Callable[[str], str]) -> None:
    """Replace the tags of the entity named ``params[name_key]`` by ``change(tags)``."""
    async with provider.cloud.sessions() as session, session.begin():
        account = await provider.target_account(ctx, params, session)
        row = await lookup(session, account.account_id, params[name_key])
        row.tags_json = change(row.tags_json)


async def tag_entity(provider: IamBase, ctx: RequestContext, params: dict[str, Any],
                     name_key: str, lookup: Lookup) -> None:
    """TagUser/TagRole: add or overwrite ``Tags`` (LimitExceeded past 50 tags)."""
    await _edit_tags(provider, ctx, params, name_key, lookup,
                     lambda tags: merge_tags(tags, params["Tags"]))


async def untag_entity(provider: IamBase, ctx: RequestContext, params: dict[str, Any],
                       name_key: str, lookup: Lookup) -> None:
    """UntagUser/UntagRole: drop the tags whose keys are in ``TagKeys`` (absent keys ignored)."""
    await _edit_tags(provider, ctx, params, name_key, lookup,
                     lambda tags: drop_tags(tags, params["TagKeys"]))


async def list_entity_tags(provider: IamBase, ctx: RequestContext, params: dict[str, Any],
                           name_key: str, lookup: Lookup) -> Result:
    """ListUserTags/ListRoleTags: every tag of the entity in one untruncated answer."""
    async with provider.cloud.sessions() as session:
        account = await provider.target_account(ctx, params, session)
        row = await lookup(session, account.account_id, params[name_key])
    return {"Tags": tags_out(row.tags_json), "IsTruncated": False}
