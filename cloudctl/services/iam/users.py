"""IAM users and groups: create, read, update, delete, list, membership, user tags.

Names are unique per account case-insensitively; lists are ordered by name and
paginated with Marker/MaxItems in SQL (ListUsers over thousands of users reads
one page). Deleting a user or group that still owns things is a DeleteConflict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.iam.common import (
    IamBase,
    already_exists,
    arn,
    check_path,
    decode_marker,
    delete_conflict,
    drop_tags,
    encode_marker,
    max_items,
    merge_tags,
    no_such_entity,
    tags_out,
)
from cloudctl.services.iam.models import (
    AccessKey,
    Group,
    GroupMember,
    InlinePolicy,
    LoginProfile,
    PolicyAttachment,
    SigningCertificate,
    User,
)


def user_out(user: User) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": user.path, "UserName": user.name, "UserId": user.user_id,
                           "Arn": arn(user.account_id, "user", user.path, user.name),
                           "CreateDate": user.created_at}
    if user.password_last_used:
        out["PasswordLastUsed"] = user.password_last_used
    tags = tags_out(user.tags_json)
    if tags:
        out["Tags"] = tags
    return out


def group_out(group: Group) -> dict[str, Any]:
    return {"Path": group.path, "GroupName": group.name, "GroupId": group.group_id,
            "Arn": arn(group.account_id, "group", group.path, group.name),
            "CreateDate": group.created_at}


async def get_user(session: AsyncSession, account_id: str, name: str) -> User:
    user = (await session.execute(select(User).where(
        User.account_id == account_id, User.name_lower == name.lower()))).scalar_one_or_none()
    if user is None:
        raise no_such_entity(f"The user with name {name} cannot be found.")
    return user


async def get_group(session: AsyncSession, account_id: str, name: str) -> Group:
    group = (await session.execute(select(Group).where(
        Group.account_id == account_id, Group.name_lower == name.lower()))).scalar_one_or_none()
    if group is None:
        raise no_such_entity(f"The group with name {name} cannot be found.")
    return group


async def page(session: AsyncSession, table: Any, account_id: str, params: dict[str, Any],
               *where: Any) -> tuple[list[Any], bool]:
    """One page of ``table`` rows of the account ordered by ``name_lower``."""
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


def paged(field: str, rows: list[Any], truncated: bool, render: Any) -> dict[str, Any]:
    out: dict[str, Any] = {field: [render(r) for r in rows], "IsTruncated": truncated}
    if truncated:
        out["Marker"] = encode_marker(rows[-1].name_lower)
    return out


class UsersProvider(IamBase):

    @operation("CreateUser")
    async def create_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name, path = params["UserName"], check_path(params.get("Path"))
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            exists = (await session.execute(select(User.user_id).where(
                User.account_id == account.account_id, User.name_lower == name.lower()))).first()
            if exists:
                raise already_exists(f"User with name {name} already exists.")
            user = User(user_id=ids.user_id(), account_id=account.account_id, name=name,
                        name_lower=name.lower(), path=path,
                        tags_json=merge_tags("[]", params.get("Tags") or []))
            session.add(user)
            await session.flush()
        return {"User": user_out(user)}

    @operation("GetUser")
    async def get_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
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
                name = credential.attributes.get("user_name", "") if credential else ""
            user = await get_user(session, account.account_id, name)
        return {"User": user_out(user)}

    @operation("ListUsers")
    async def list_users(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            rows, truncated = await page(session, User, account.account_id, params)
        return paged("Users", rows, truncated, user_out)

    @operation("UpdateUser")
    async def update_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            new_name = params.get("NewUserName")
            if new_name and new_name.lower() != user.name_lower:
                clash = (await session.execute(select(User.user_id).where(
                    User.account_id == account.account_id,
                    User.name_lower == new_name.lower()))).first()
                if clash:
                    raise already_exists(f"User with name {new_name} already exists.")
            if new_name:
                user.name, user.name_lower = new_name, new_name.lower()
            if params.get("NewPath"):
                user.path = check_path(params["NewPath"])
        self.invalidate()
        return {}

    @operation("DeleteUser")
    async def delete_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            uid = user.user_id
            for table, column in ((AccessKey, AccessKey.user_id),
                                  (SigningCertificate, SigningCertificate.user_id),
                                  (GroupMember, GroupMember.user_id),
                                  (InlinePolicy, InlinePolicy.owner_id),
                                  (PolicyAttachment, PolicyAttachment.owner_id),
                                  (LoginProfile, LoginProfile.user_id)):
                if (await session.execute(select(func.count()).select_from(table)
                                          .where(column == uid))).scalar_one():
                    raise delete_conflict(f"Cannot delete entity, must {_what(table)} first.")
            await session.delete(user)
        self.invalidate()
        return {}

    @operation("TagUser")
    async def tag_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            user.tags_json = merge_tags(user.tags_json, params["Tags"])
        self.invalidate()
        return {}

    @operation("UntagUser")
    async def untag_user(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            user.tags_json = drop_tags(user.tags_json, params["TagKeys"])
        self.invalidate()
        return {}

    @operation("ListUserTags")
    async def list_user_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
        return {"Tags": tags_out(user.tags_json), "IsTruncated": False}

    @operation("CreateGroup")
    async def create_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name, path = params["GroupName"], check_path(params.get("Path"))
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            exists = (await session.execute(select(Group.group_id).where(
                Group.account_id == account.account_id, Group.name_lower == name.lower()))).first()
            if exists:
                raise already_exists(f"Group with name {name} already exists.")
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
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            rows, truncated = await page(session, Group, account.account_id, params)
        return paged("Groups", rows, truncated, group_out)

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
                clash = (await session.execute(select(Group.group_id).where(
                    Group.account_id == account.account_id,
                    Group.name_lower == new_name.lower()))).first()
                if clash:
                    raise already_exists(f"Group with name {new_name} already exists.")
                group.name, group.name_lower = new_name, new_name.lower()
            if params.get("NewPath"):
                group.path = check_path(params["NewPath"])
        return {}

    @operation("DeleteGroup")
    async def delete_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            group = await get_group(session, account.account_id, params["GroupName"])
            for table, column in ((GroupMember, GroupMember.group_id),
                                  (InlinePolicy, InlinePolicy.owner_id),
                                  (PolicyAttachment, PolicyAttachment.owner_id)):
                if (await session.execute(select(func.count()).select_from(table)
                                          .where(column == group.group_id))).scalar_one():
                    raise delete_conflict(f"Cannot delete entity, must {_what(table)} first.")
            await session.delete(group)
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


def _what(table: Any) -> str:
    return {AccessKey: "delete access keys", SigningCertificate: "delete signing certificates",
            GroupMember: "remove users from group", InlinePolicy: "delete policies",
            PolicyAttachment: "detach all policies", LoginProfile: "delete login profile"
            }.get(table, "delete dependent entities")
