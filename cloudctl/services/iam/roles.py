"""IAM roles (trust policies, session duration, tags) and instance profiles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.iam.boundary import boundary_out, check_boundary
from cloudctl.services.iam.common import (
    IamBase,
    arn,
    check_path,
    check_policy,
    delete_conflict,
    limit_exceeded,
    merge_tags,
    no_such_entity,
    tags_out,
    validation,
)
from cloudctl.services.iam.entities import (
    POLICY_DEPENDENTS,
    check_name_free,
    delete_entity,
    get_named,
    list_entity_tags,
    list_named,
    page,
    paged,
    tag_entity,
    untag_entity,
)
from cloudctl.services.iam.models import InstanceProfile, Role


def role_out(role: Role) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": role.path, "RoleName": role.name, "RoleId": role.role_id,
        "Arn": arn(role.account_id, "role", role.path, role.name),
        "CreateDate": role.created_at, "AssumeRolePolicyDocument": quote(role.trust_policy, safe=""),
        "MaxSessionDuration": role.max_session_duration}
    if role.description:
        out["Description"] = role.description
    boundary = boundary_out(role.permissions_boundary)
    if boundary:
        out["PermissionsBoundary"] = boundary
    tags = tags_out(role.tags_json)
    if tags:
        out["Tags"] = tags
    return out


def role_detail(role: Role) -> dict[str, Any]:
    """``role_out`` with ``RoleLastUsed`` (GetRole; AWS lists roles without it)."""
    out = role_out(role)
    last: dict[str, Any] = {}
    if role.last_used_at:
        last["LastUsedDate"] = role.last_used_at
        if role.last_used_region:
            last["Region"] = role.last_used_region
    out["RoleLastUsed"] = last
    return out


async def get_role(session: AsyncSession, account_id: str, name: str) -> Role:
    return await get_named(session, Role, account_id, name,
                           f"The role with name {name} cannot be found.")


def _duration(value: Any) -> int:
    seconds = int(value or 3600)
    if not 3600 <= seconds <= 43200:
        raise validation("1 validation error detected: Value at 'maxSessionDuration' failed to "
                         "satisfy constraint: Member must have value between 3600 and 43200")
    return seconds


class RolesProvider(IamBase):

    async def _profile(self, session: AsyncSession, account_id: str,
                       name: str) -> InstanceProfile:
        return await get_named(session, InstanceProfile, account_id, name,
                               f"Instance Profile {name} cannot be found.")

    async def _profile_out(self, session: AsyncSession, row: InstanceProfile) -> dict[str, Any]:
        roles = []
        if row.role_id:
            role = await session.get(Role, row.role_id)
            if role is not None:
                roles.append(role_out(role))
        return {"Path": row.path, "InstanceProfileName": row.name,
                "InstanceProfileId": row.profile_id,
                "Arn": arn(row.account_id, "instance-profile", row.path, row.name),
                "CreateDate": row.created_at, "Roles": roles,
                **({"Tags": tags} if (tags := tags_out(row.tags_json)) else {})}

    async def _profiles_page(self, session: AsyncSession, account_id: str,
                             params: dict[str, Any], *where: Any) -> Result:
        """One page of the account's instance profiles (each with its role), as AWS lists them."""
        rows, truncated = await page(session, InstanceProfile, account_id, params, *where)
        out = paged("InstanceProfiles", rows, truncated, lambda r: r)
        out["InstanceProfiles"] = [await self._profile_out(session, r) for r in rows]
        return out

    @operation("CreateRole")
    async def create_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name, path = params["RoleName"], check_path(params.get("Path"))
        trust = params["AssumeRolePolicyDocument"]
        check_policy(trust, "trust", 2048)
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            await check_name_free(session, Role, account.account_id, name,
                                  f"Role with name {name} already exists.")
            tags_json = merge_tags("[]", params.get("Tags") or [])
            boundary = None
            if params.get("PermissionsBoundary") is not None:
                boundary = await check_boundary(session, account.account_id,
                                                params["PermissionsBoundary"])
            role = Role(permissions_boundary=boundary, role_id=ids.role_id(), account_id=account.account_id, name=name,
                        name_lower=name.lower(), path=path, trust_policy=trust,
                        description=params.get("Description"),
                        max_session_duration=_duration(params.get("MaxSessionDuration")),
                        tags_json=tags_json)
            session.add(role)
            await session.flush()
        return {"Role": role_out(role)}

    @operation("GetRole")
    async def get_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            role = await get_role(session, account.account_id, params["RoleName"])
        return {"Role": role_detail(role)}

    @operation("ListRoles")
    async def list_roles(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await list_named(self, ctx, params, Role, "Roles", role_out)

    @operation("UpdateRole")
    async def update_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            role = await get_role(session, account.account_id, params["RoleName"])
            if params.get("Description") is not None:
                role.description = params["Description"]
            if params.get("MaxSessionDuration") is not None:
                role.max_session_duration = _duration(params["MaxSessionDuration"])
        return {}

    @operation("UpdateRoleDescription")
    async def update_role_description(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            role = await get_role(session, account.account_id, params["RoleName"])
            role.description = params["Description"]
        return {"Role": role_out(role)}

    @operation("UpdateAssumeRolePolicy")
    async def update_assume_role_policy(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        trust = params["PolicyDocument"]
        check_policy(trust, "trust", 2048)
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            role = await get_role(session, account.account_id, params["RoleName"])
            role.trust_policy = trust
        return {}

    @operation("DeleteRole")
    async def delete_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await delete_entity(self, ctx, params, "RoleName", get_role, lambda r: r.role_id, (
            (InstanceProfile, InstanceProfile.role_id, "remove role from instance profile"),
            *POLICY_DEPENDENTS))
        self.invalidate()
        return {}

    @operation("PutRolePermissionsBoundary")
    async def put_role_permissions_boundary(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        await self.set_boundary(ctx, params, self._role(params), params["PermissionsBoundary"])
        return {}

    @operation("DeleteRolePermissionsBoundary")
    async def delete_role_permissions_boundary(self, ctx: RequestContext,
                                               params: dict[str, Any]) -> Result:
        await self.set_boundary(ctx, params, self._role(params), None)
        return {}

    @staticmethod
    def _role(params: dict[str, Any]) -> Callable[[AsyncSession, str], Awaitable[Any]]:
        return lambda session, account_id: get_role(session, account_id, params["RoleName"])

    @operation("TagInstanceProfile")
    async def tag_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await tag_entity(self, ctx, params, "InstanceProfileName", self._profile)
        return {}

    @operation("UntagInstanceProfile")
    async def untag_instance_profile(self, ctx: RequestContext,
                                     params: dict[str, Any]) -> Result:
        await untag_entity(self, ctx, params, "InstanceProfileName", self._profile)
        return {}

    @operation("ListInstanceProfileTags")
    async def list_instance_profile_tags(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        return await list_entity_tags(self, ctx, params, "InstanceProfileName", self._profile)

    @operation("TagRole")
    async def tag_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await tag_entity(self, ctx, params, "RoleName", get_role)
        return {}

    @operation("UntagRole")
    async def untag_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await untag_entity(self, ctx, params, "RoleName", get_role)
        return {}

    @operation("ListRoleTags")
    async def list_role_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await list_entity_tags(self, ctx, params, "RoleName", get_role)

    @operation("CreateInstanceProfile")
    async def create_instance_profile(self, ctx: RequestContext,
                                      params: dict[str, Any]) -> Result:
        name, path = params["InstanceProfileName"], check_path(params.get("Path"))
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            await check_name_free(session, InstanceProfile, account.account_id, name,
                                  f"Instance Profile {name} already exists.")
            row = InstanceProfile(profile_id="AIPA" + ids.user_id()[4:],
                                  account_id=account.account_id, name=name,
                                  name_lower=name.lower(), path=path,
                                  tags_json=merge_tags("[]", params.get("Tags") or []))
            session.add(row)
            await session.flush()
            return {"InstanceProfile": await self._profile_out(session, row)}

    @operation("GetInstanceProfile")
    async def get_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await self._profile(session, account.account_id, params["InstanceProfileName"])
            return {"InstanceProfile": await self._profile_out(session, row)}

    @operation("ListInstanceProfiles")
    async def list_instance_profiles(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            return await self._profiles_page(session, account.account_id, params)

    @operation("ListInstanceProfilesForRole")
    async def list_instance_profiles_for_role(self, ctx: RequestContext,
                                              params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            role = await get_role(session, account.account_id, params["RoleName"])
            return await self._profiles_page(session, account.account_id, params,
                                             InstanceProfile.role_id == role.role_id)

    @operation("AddRoleToInstanceProfile")
    async def add_role_to_instance_profile(self, ctx: RequestContext,
                                           params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._profile(session, account.account_id, params["InstanceProfileName"])
            role = await get_role(session, account.account_id, params["RoleName"])
            if row.role_id is not None:
                raise limit_exceeded("Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
            row.role_id = role.role_id
        return {}

    @operation("RemoveRoleFromInstanceProfile")
    async def remove_role_from_instance_profile(self, ctx: RequestContext,
                                                params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._profile(session, account.account_id, params["InstanceProfileName"])
            role = await get_role(session, account.account_id, params["RoleName"])
            if row.role_id != role.role_id:
                raise no_such_entity(f"Role {role.name} is not in instance profile {row.name}.")
            row.role_id = None
        return {}

    @operation("DeleteInstanceProfile")
    async def delete_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._profile(session, account.account_id, params["InstanceProfileName"])
            if row.role_id is not None:
                raise delete_conflict("Cannot delete entity, must remove roles from instance "
                                      "profile first.")
            await session.delete(row)
        return {}
