"""IAM users and groups: create, read, update, delete, list, membership, user tags.

Names are unique per account case-insensitively and take the IAM name alphabet; lists
are ordered by name and paginated with Marker/MaxItems in SQL (ListUsers over
thousands of users reads one page). Deleting a user or group that still owns
things is a DeleteConflict. The account's administrator (``User.is_admin``) can be
neither renamed nor deleted (as Eucalyptus refused it), so its role never falls
vacant for another user; no other user can ever gain the flag.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db import pgreads
from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.protocol.common import IsoTimestamp, iso_timestamp
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.iam import fastsql
from cloudctl.services.iam.boundary import boundary_out, check_boundary
from cloudctl.services.iam.common import (
    IamBase,
    already_exists,
    arn,
    check_path,
    decode_marker,
    delete_conflict,
    encode_marker,
    max_items,
    merge_tags,
    no_such_entity,
    tags_out,
)
from cloudctl.services.iam.credentials import bump_epoch
from cloudctl.services.iam.entities import (
    POLICY_DEPENDENTS,
    check_name_free,
    delete_entities,
    delete_entity,
    get_named,
    list_entity_tags,
    list_named,
    page,
    paged,
    tag_entity,
    untag_entity,
)
from cloudctl.services.iam.models import (
    AccessKey,
    Account,
    Group,
    GroupMember,
    LoginProfile,
    ServiceCredential,
    SigningCertificate,
    SshPublicKey,
    User,
)
from cloudctl.services.iam.names import check_user_name


def user_out(user: User) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": user.path, "UserName": user.name, "UserId": user.user_id,
                           "Arn": arn(user.account_id, "user", user.path, user.name),
                           "CreateDate": user.created_at}
    if user.password_last_used:
        out["PasswordLastUsed"] = user.password_last_used
    boundary = boundary_out(user.permissions_boundary)
    if boundary:
        out["PermissionsBoundary"] = boundary
    tags = tags_out(user.tags_json)
    if tags:
        out["Tags"] = tags
    return out


def group_out(group: Group) -> dict[str, Any]:
    return {"Path": group.path, "GroupName": group.name, "GroupId": group.group_id,
            "Arn": arn(group.account_id, "group", group.path, group.name),
            "CreateDate": group.created_at}


async def get_user(session: AsyncSession, account_id: str, name: str) -> User:
    return await get_named(session, User, account_id, name,
                           f"The user with name {name} cannot be found.")


def caller_user_name(ctx: RequestContext) -> str:
    """The IAM user name of the caller, for calls that default ``UserName`` to it.

    Only IAM users (and their GetSessionToken sessions) have one; role sessions and
    federated users must name the user (AWS's ValidationError).
    """
    credential = ctx.credential
    name = credential.attributes.get("user_name") if credential is not None else None
    if credential is None or credential.principal_type != "user" or not name:
        raise AwsError("Must specify userName when calling with non-User credentials",
                       code="ValidationError", status=400)
    return str(name)


def admin_unmodifiable(user: User, what: str) -> AwsError:
    return AwsError(f"Cannot {what} the account administrator user {user.name}.",
                    code="UnmodifiableEntity", status=400)


async def _deletable_user(session: AsyncSession, account_id: str, name: str) -> User:
    user = await get_user(session, account_id, name)
    refused = _admin_refused(user)
    if refused is not None:
        raise refused
    return user


def _admin_refused(user: User) -> AwsError | None:
    """DeleteUser's refusal of the account's administrator user."""
    if user.is_admin:
        return delete_conflict(f"Cannot delete the account administrator user {user.name}.")
    return None


async def get_group(session: AsyncSession, account_id: str, name: str) -> Group:
    return await get_named(session, Group, account_id, name,
                           f"The group with name {name} cannot be found.")


def _account_gone() -> AwsError:
    return no_such_entity("The caller's account no longer exists.")


# GetUser on PostgreSQL: the caller's account and the named user in one statement
_PG_ACCOUNT_USER = (
    "SELECT a.name, a.created_at, u.path, u.name, u.user_id, u.created_at, "
    "u.password_last_used, u.permissions_boundary, u.tags_json "
    "FROM iam_accounts a LEFT JOIN iam_users u "
    "ON u.account_id = a.account_id AND u.name_lower = %s WHERE a.account_id = %s")


async def _pg_get_user(pg: pgreads.PgReads, ctx: RequestContext, name: str | None) -> Result:
    """GetUser of the caller's account in one round trip (``cloudctl/db/pgreads.py``),
    with the session path's answers and errors in the same order: the account first,
    then the caller's own name, then the user."""
    account_id = ctx.require_account()
    credential = ctx.credential
    own = credential.attributes.get("user_name") if credential is not None else None
    wanted = name or (str(own) if own else "")
    row = await pg.one(_PG_ACCOUNT_USER, (wanted.lower(), account_id))
    if row is None:
        raise _account_gone()
    if not name and credential is not None and credential.principal_type == "root":
        return {"User": {"Path": "/", "UserName": row[0], "UserId": account_id,
                         "Arn": f"arn:aws:iam::{account_id}:root", "CreateDate": row[1]}}
    if not name:
        name = caller_user_name(ctx)
    if row[4] is None:
        raise no_such_entity(f"The user with name {name} cannot be found.")
    user = User(path=row[2], name=row[3], user_id=row[4], account_id=account_id,
                created_at=row[5], password_last_used=row[6], permissions_boundary=row[7],
                tags_json=row[8])
    return {"User": user_out(user)}


def _rows_out(account_id: str, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """``listed_user`` of each ``fastsql.USER_COLUMNS`` row of the account's users."""
    prefix = f"arn:aws:iam::{account_id}:user"
    out: list[dict[str, Any]] = []
    append = out.append
    for path, name, user_id, created, last_used in rows:
        if len(created) == 26 and created[19] == "." and created[10] == " ":
            # the stored text of every write (``iso_timestamp``'s first case, inline)
            created = IsoTimestamp(f"{created[:10]}T{created[11:23]}Z")
        else:
            created = iso_timestamp(created)
        user = {"Path": path, "UserName": name, "UserId": user_id,
                "Arn": f"{prefix}{path}{name}", "CreateDate": created}
        if last_used:
            user["PasswordLastUsed"] = iso_timestamp(last_used)
        append(user)
    return out


def listed_user(user: User) -> dict[str, Any]:
    """A user as ListUsers shows it: without Tags (AWS's listings leave them out)."""
    out = user_out(user)
    out.pop("Tags", None)
    return out


async def _fast_create(fast: fastsql.FastIam, ctx: RequestContext, name: str, path: str,
                       tags: list[dict[str, str]]) -> Result:
    """CreateUser on SQLite: one INSERT (the unique (account, name_lower) constraint is
    the name-taken check), no read back: the answer is made from what was written."""
    account_id = ctx.require_account()
    tags_json = merge_tags("[]", tags)
    user_id, created = ids.user_id(), utcnow()
    try:
        inserted = await fast.insert_user((user_id, account_id, name, name.lower(), path,
                                           fastsql.timestamp_text(created), tags_json))
    except fastsql.NameTaken:
        raise already_exists(f"User with name {name} already exists.") from None
    if not inserted:
        raise _account_gone()
    out: dict[str, Any] = {"Path": path, "UserName": name, "UserId": user_id,
                           "Arn": arn(account_id, "user", path, name), "CreateDate": created}
    if tags_json != "[]":
        out["Tags"] = tags_out(tags_json)
    return {"User": out}


async def create_users(cloud: Any, ctxs: list[RequestContext], names: list[str],
                       paths: list[str | None]) -> list[dict[str, Any] | AwsError]:
    """Many plain ``CreateUser`` (authorised each: ``ctxs``) in one transaction: each
    user (``User`` of the answer) or the error its own call would answer (a bad name or
    path, a name taken, earlier in the batch too)."""
    out: list[dict[str, Any] | AwsError | None] = [None] * len(names)
    rows: list[dict[str, Any]] = []
    for index, (ctx, name, path) in enumerate(zip(ctxs, names, paths, strict=True)):
        try:
            name, path = check_user_name(name), check_path(path)
            account_id = ctx.require_account()
        except AwsError as error:
            out[index] = error
            continue
        rows.append({"user_id": ids.user_id(), "account_id": account_id, "name": name,
                     "name_lower": name.lower(), "path": path, "created_at": utcnow(),
                     "password_last_used": None, "tags_json": "[]", "is_admin": False,
                     "permissions_boundary": None, "index": index})
    fast = fastsql.for_cloud(cloud)
    inserted = await fast.insert_users([
        (r["user_id"], r["account_id"], r["name"], r["name_lower"], r["path"],
         fastsql.timestamp_text(r["created_at"]), "[]") for r in rows]) \
        if fast is not None else await _insert_users(cloud, rows)
    for row, made in zip(rows, inserted, strict=True):
        out[row["index"]] = _account_gone() if made is False else already_exists(
            f"User with name {row['name']} already exists.") if made is None else {
            "Path": row["path"], "UserName": row["name"], "UserId": row["user_id"],
            "Arn": arn(row["account_id"], "user", row["path"], row["name"]),
            "CreateDate": row["created_at"]}
    return [o for o in out if o is not None]


async def _insert_users(cloud: Any, rows: list[dict[str, Any]]) -> list[bool | None]:
    """``create_users``' rows in one transaction through the ORM's engine (no fast
    path): True for each made, False when its account does not exist, None when its
    name was taken. A concurrent create of one of the names fails the transaction:
    the rows are then inserted one transaction each."""
    out: list[bool | None] = []
    try:
        async with cloud.sessions() as session, session.begin():
            accounts = {r["account_id"] for r in rows}
            live = set((await session.execute(select(Account.account_id).where(
                Account.account_id.in_(accounts)))).scalars())
            taken = set((await session.execute(select(User.account_id, User.name_lower).where(
                User.account_id.in_(accounts),
                User.name_lower.in_({r["name_lower"] for r in rows})))).tuples())
            new = []
            for row in rows:
                key = (row["account_id"], row["name_lower"])
                out.append(False if row["account_id"] not in live else
                           None if key in taken else True)
                if out[-1]:
                    taken.add(key)
                    new.append({k: v for k, v in row.items() if k != "index"})
            if new:
                await session.execute(insert(cast(Table, User.__table__)), new)
    except IntegrityError:
        if len(rows) == 1:
            return [None]
        return [(await _insert_users(cloud, [row]))[0] for row in rows]
    return out


#: What a user must be rid of before DeleteUser (DeleteConflict), in the order checked.
USER_DEPENDENTS: tuple[tuple[Any, Any, str], ...] = (
    (AccessKey, AccessKey.user_id, "delete access keys"),
    (SigningCertificate, SigningCertificate.user_id, "delete signing certificates"),
    (SshPublicKey, SshPublicKey.user_id, "delete SSH public keys"),
    (ServiceCredential, ServiceCredential.user_id, "delete service specific credentials"),
    (GroupMember, GroupMember.user_id, "remove users from group"),
    *POLICY_DEPENDENTS,
    (LoginProfile, LoginProfile.user_id, "delete login profile"))


def _user_id(user: User) -> str:
    return user.user_id


async def delete_users(cloud: Any, ctxs: list[RequestContext], names: list[str]
                       ) -> list[AwsError | None] | None:
    """Many ``DeleteUser`` (authorised each: ``ctxs``) in one transaction, with one bump
    of the credential epoch: None for each user deleted, or the error its own call
    would answer (only that one stays). None when a concurrent change failed the
    transaction (nothing deleted: the caller makes each deletion its own call)."""
    if not names:
        return []
    provider = UsersProvider(cloud)
    try:
        out = await delete_entities(
            provider, ctxs, names, User, User.user_id,
            lambda name: f"The user with name {name} cannot be found.", _admin_refused,
            USER_DEPENDENTS, then=bump_epoch)
    except IntegrityError:
        return None
    if None in out:
        provider.invalidate()
    return out


class UsersProvider(IamBase):

    @operation("CreateUser")
    async def create_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name, path = check_user_name(params.get("UserName")), check_path(params.get("Path"))
        plain = not params.get("DelegateAccount") and params.get("PermissionsBoundary") is None
        fast = fastsql.for_cloud(self.cloud) if plain else None
        if fast is not None:
            return await _fast_create(fast, ctx, name, path, params.get("Tags") or [])
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            await check_name_free(session, User, account.account_id, name,
                                  f"User with name {name} already exists.")
            tags_json = merge_tags("[]", params.get("Tags") or [])
            boundary = None
            if params.get("PermissionsBoundary") is not None:
                boundary = await check_boundary(session, account.account_id,
                                                params["PermissionsBoundary"])
            user = User(user_id=ids.user_id(), account_id=account.account_id, name=name,
                        name_lower=name.lower(), path=path, tags_json=tags_json,
                        permissions_boundary=boundary)
            session.add(user)
            await session.flush()
        return {"User": user_out(user)}

    @operation("GetUser")
    async def get_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        pg = None if params.get("DelegateAccount") else pgreads.for_cloud(self.cloud)
        if pg is not None:
            return await _pg_get_user(pg, ctx, params.get("UserName"))
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            name = params.get("UserName")
            credential = ctx.credential
            if not name and credential is not None and credential.principal_type == "root":
                return {"User": {"Path": "/", "UserName": account.name,
                                 "UserId": account.account_id,
                                 "Arn": f"arn:aws:iam::{account.account_id}:root",
                                 "CreateDate": account.created_at}}
            if not name:
                name = caller_user_name(ctx)
            user = await get_user(session, account.account_id, name)
        return {"User": user_out(user)}

    @operation("ListUsers")
    async def list_users(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        fast = None if params.get("DelegateAccount") else fastsql.for_cloud(self.cloud)
        if fast is None:
            return await list_named(self, ctx, params, User, "Users", listed_user)
        limit, after = max_items(params), decode_marker(params) or ""
        account_id = ctx.require_account()
        rows = await fast.users(account_id, params.get("PathPrefix") or "", after, limit + 1)
        if not rows and not await fast.account_exists(account_id):
            # (a user row is deleted with its account, in one transaction and by the
            # foreign key's cascade: a page with users is of an account that exists)
            raise _account_gone()
        out: dict[str, Any] = {"Users": _rows_out(account_id, rows[:limit]),
                               "IsTruncated": len(rows) > limit}
        if len(rows) > limit:  # the page's last name, as the keyset's name_lower
            out["Marker"] = encode_marker(rows[limit - 1][1].lower())
        return out

    @operation("UpdateUser")
    async def update_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        new_name = params.get("NewUserName")
        if new_name is not None:
            check_user_name(new_name, "newUserName")
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            if user.is_admin and new_name and new_name != user.name:
                raise admin_unmodifiable(user, "rename")
            if new_name and new_name.lower() != user.name_lower:
                await check_name_free(session, User, account.account_id, new_name,
                                      f"User with name {new_name} already exists.")
            if new_name:
                user.name, user.name_lower = new_name, new_name.lower()
            if params.get("NewPath"):
                user.path = check_path(params["NewPath"])
            await bump_epoch(session)  # cached credentials carry the user's name and ARN
        self.invalidate()
        return {}

    @operation("DeleteUser")
    async def delete_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await delete_entity(self, ctx, params, "UserName", _deletable_user, _user_id,
                            USER_DEPENDENTS)
        async with self.cloud.sessions() as session, session.begin():
            await bump_epoch(session)
        self.invalidate()
        return {}

    @operation("PutUserPermissionsBoundary")
    async def put_user_permissions_boundary(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        await self.set_boundary(ctx, params, self._user(params), params["PermissionsBoundary"])
        return {}

    @operation("DeleteUserPermissionsBoundary")
    async def delete_user_permissions_boundary(self, ctx: RequestContext,
                                               params: dict[str, Any]) -> Result:
        await self.set_boundary(ctx, params, self._user(params), None)
        return {}

    @staticmethod
    def _user(params: dict[str, Any]) -> Callable[[AsyncSession, str], Awaitable[Any]]:
        return lambda session, account_id: get_user(session, account_id, params["UserName"])

    @operation("TagUser")
    async def tag_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await tag_entity(self, ctx, params, "UserName", get_user)
        self.invalidate()
        return {}

    @operation("UntagUser")
    async def untag_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await untag_entity(self, ctx, params, "UserName", get_user)
        self.invalidate()
        return {}

    @operation("ListUserTags")
    async def list_user_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await list_entity_tags(self, ctx, params, "UserName", get_user)

    @operation("CreateGroup")
    async def create_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name, path = params["GroupName"], check_path(params.get("Path"))
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            await check_name_free(session, Group, account.account_id, name,
                                  f"Group with name {name} already exists.")
            group = Group(group_id=ids.group_id(), account_id=account.account_id, name=name,
                          name_lower=name.lower(), path=path)
            session.add(group)
            await session.flush()
        return {"Group": group_out(group)}

    @operation("GetGroup")
    async def get_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            group = await get_group(session, account.account_id, params["GroupName"])
            member_ids = select(GroupMember.user_id).where(GroupMember.group_id == group.group_id)
            rows, truncated = await page(session, User, account.account_id, params,
                                         User.user_id.in_(member_ids))
        out = paged("Users", rows, truncated, user_out)
        out["Group"] = group_out(group)
        return out

    @operation("ListGroups")
    async def list_groups(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await list_named(self, ctx, params, Group, "Groups", group_out)

    @operation("ListGroupsForUser")
    async def list_groups_for_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            group_ids = select(GroupMember.group_id).where(GroupMember.user_id == user.user_id)
            rows, truncated = await page(session, Group, account.account_id, params,
                                         Group.group_id.in_(group_ids))
        return paged("Groups", rows, truncated, group_out)

    @operation("UpdateGroup")
    async def update_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            group = await get_group(session, account.account_id, params["GroupName"])
            new_name = params.get("NewGroupName")
            if new_name and new_name.lower() != group.name_lower:
                await check_name_free(session, Group, account.account_id, new_name,
                                      f"Group with name {new_name} already exists.")
                group.name, group.name_lower = new_name, new_name.lower()
            if params.get("NewPath"):
                group.path = check_path(params["NewPath"])
        return {}

    @operation("DeleteGroup")
    async def delete_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await delete_entity(self, ctx, params, "GroupName", get_group, lambda g: g.group_id, (
            (GroupMember, GroupMember.group_id, "remove users from group"), *POLICY_DEPENDENTS))
        return {}

    @operation("AddUserToGroup")
    async def add_user_to_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            group = await get_group(session, account.account_id, params["GroupName"])
            user = await get_user(session, account.account_id, params["UserName"])
            if await session.get(GroupMember, (group.group_id, user.user_id)) is None:
                session.add(GroupMember(group_id=group.group_id, user_id=user.user_id))
        self.invalidate()
        return {}

    @operation("RemoveUserFromGroup")
    async def remove_user_from_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            group = await get_group(session, account.account_id, params["GroupName"])
            user = await get_user(session, account.account_id, params["UserName"])
            result = await session.execute(delete(GroupMember).where(
                GroupMember.group_id == group.group_id, GroupMember.user_id == user.user_id))
            if not getattr(result, "rowcount", 0):
                raise no_such_entity(f"User {user.name} is not in group {group.name}.")
        self.invalidate()
        return {}
