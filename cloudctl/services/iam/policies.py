"""IAM policies: inline policies of users, groups and roles; managed policies.

Managed policies have up to five versions, one default; they attach by ARN to
users, groups and roles (AWS managed ones from ``awspolicies`` too). Documents
are validated on input (MalformedPolicyDocument) and returned URL-encoded, as
AWS does (botocore decodes them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.iam import awspolicies
from cloudctl.services.iam.boundary import usage_count
from cloudctl.services.iam.common import (
    INLINE_LIMITS,
    MANAGED_LIMIT,
    IamBase,
    already_exists,
    arn,
    check_path,
    check_policy,
    delete_conflict,
    limit_exceeded,
    merge_tags,
    no_such_entity,
    paginate,
    policy_size,
    tags_out,
    validation,
)
from cloudctl.services.iam.entities import list_entity_tags, tag_entity, untag_entity
from cloudctl.services.iam.models import (
    Group,
    InlinePolicy,
    ManagedPolicy,
    PolicyAttachment,
    PolicyVersion,
    Role,
    User,
)
from cloudctl.services.iam.roles import get_role
from cloudctl.services.iam.users import get_group, get_user

KINDS = {"User": ("user", "UserName"), "Group": ("group", "GroupName"),
         "Role": ("role", "RoleName")}
MAX_VERSIONS = 5
MAX_ATTACHED = 10


def _enc(document: str) -> str:
    return quote(document, safe="")


async def owner_of(session: AsyncSession, account_id: str, kind: str,
                   name: str) -> tuple[str, str]:
    """(owner id, exact name) of a user/group/role."""
    if kind == "user":
        user = await get_user(session, account_id, name)
        return user.user_id, user.name
    if kind == "group":
        group = await get_group(session, account_id, name)
        return group.group_id, group.name
    role = await get_role(session, account_id, name)
    return role.role_id, role.name


def _policy_out(row: ManagedPolicy, attachments: int, boundaries: int = 0,
                tags: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PolicyName": row.name, "PolicyId": row.policy_id, "Arn": row.arn, "Path": row.path,
        "DefaultVersionId": row.default_version, "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundaries, "IsAttachable": True,
        "CreateDate": row.created_at, "UpdateDate": row.updated_at}
    if row.description:
        out["Description"] = row.description
    if tags and tags_out(row.tags_json):
        out["Tags"] = tags_out(row.tags_json)
    return out


class PoliciesProvider(IamBase):

    # ---- inline policies -------------------------------------------------------------
    async def _put_inline(self, ctx: RequestContext, params: dict[str, Any], kind: str) -> Result:
        entity, field = KINDS[kind]
        document = params["PolicyDocument"]
        check_policy(document, "identity", INLINE_LIMITS[entity])
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            owner_id, name = await owner_of(session, account.account_id, entity, params[field])
            others = (await session.execute(select(InlinePolicy.document).where(
                InlinePolicy.owner_id == owner_id, InlinePolicy.name != params["PolicyName"])
            )).scalars().all()
            limit = INLINE_LIMITS[entity]
            if sum(map(policy_size, others)) + policy_size(document) > limit:
                # AWS: the quota is on the sum of an entity's inline policies
                raise limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for "
                                     f"{entity} {name}")
            row = (await session.execute(select(InlinePolicy).where(
                InlinePolicy.owner_id == owner_id, InlinePolicy.name == params["PolicyName"])
            )).scalar_one_or_none()
            if row is None:
                session.add(InlinePolicy(account_id=account.account_id, owner_type=entity,
                                         owner_id=owner_id, name=params["PolicyName"],
                                         document=document))
            else:
                row.document = document
        self.invalidate()
        return {}

    async def _get_inline(self, ctx: RequestContext, params: dict[str, Any], kind: str) -> Result:
        entity, field = KINDS[kind]
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            owner_id, name = await owner_of(session, account.account_id, entity, params[field])
            row = (await session.execute(select(InlinePolicy).where(
                InlinePolicy.owner_id == owner_id, InlinePolicy.name == params["PolicyName"])
            )).scalar_one_or_none()
        if row is None:
            raise no_such_entity(f"The {entity} policy with name {params['PolicyName']} "
                                 "cannot be found.")
        return {field: name, "PolicyName": row.name, "PolicyDocument": _enc(row.document)}

    async def _delete_inline(self, ctx: RequestContext, params: dict[str, Any],
                             kind: str) -> Result:
        entity, field = KINDS[kind]
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            owner_id, _ = await owner_of(session, account.account_id, entity, params[field])
            result = await session.execute(delete(InlinePolicy).where(
                InlinePolicy.owner_id == owner_id, InlinePolicy.name == params["PolicyName"]))
            if not getattr(result, "rowcount", 0):
                raise no_such_entity(f"The {entity} policy with name {params['PolicyName']} "
                                     "cannot be found.")
        self.invalidate()
        return {}

    async def _list_inline(self, ctx: RequestContext, params: dict[str, Any],
                           kind: str) -> Result:
        entity, field = KINDS[kind]
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            owner_id, _ = await owner_of(session, account.account_id, entity, params[field])
            names = (await session.execute(select(InlinePolicy.name).where(
                InlinePolicy.owner_id == owner_id).order_by(InlinePolicy.name))).scalars().all()
        return paginate(list(names), params, lambda n: n, "PolicyNames")

    @operation("PutUserPolicy")
    async def put_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._put_inline(ctx, p, "User")

    @operation("PutGroupPolicy")
    async def put_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._put_inline(ctx, p, "Group")

    @operation("PutRolePolicy")
    async def put_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._put_inline(ctx, p, "Role")

    @operation("GetUserPolicy")
    async def get_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._get_inline(ctx, p, "User")

    @operation("GetGroupPolicy")
    async def get_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._get_inline(ctx, p, "Group")

    @operation("GetRolePolicy")
    async def get_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._get_inline(ctx, p, "Role")

    @operation("DeleteUserPolicy")
    async def delete_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._delete_inline(ctx, p, "User")

    @operation("DeleteGroupPolicy")
    async def delete_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._delete_inline(ctx, p, "Group")

    @operation("DeleteRolePolicy")
    async def delete_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._delete_inline(ctx, p, "Role")

    @operation("ListUserPolicies")
    async def list_user_policies(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._list_inline(ctx, p, "User")

    @operation("ListGroupPolicies")
    async def list_group_policies(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._list_inline(ctx, p, "Group")

    @operation("ListRolePolicies")
    async def list_role_policies(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._list_inline(ctx, p, "Role")

    # ---- managed policies ------------------------------------------------------------
    async def _managed(self, session: AsyncSession, account_id: str,
                       policy_arn: str) -> ManagedPolicy | awspolicies.AwsPolicy:
        if policy_arn in awspolicies.BY_ARN:
            return awspolicies.BY_ARN[policy_arn]
        row = (await session.execute(select(ManagedPolicy).where(
            ManagedPolicy.arn == policy_arn))).scalar_one_or_none()
        if row is None or row.account_id != account_id:
            raise no_such_entity(f"Policy {policy_arn} does not exist or is not attachable.")
        return row

    async def _attachments(self, session: AsyncSession, account_id: str, policy_arn: str) -> int:
        return int((await session.execute(select(func.count()).select_from(PolicyAttachment)
                                          .where(PolicyAttachment.policy_arn == policy_arn,
                                                 PolicyAttachment.account_id == account_id))
                    ).scalar_one())

    @operation("CreatePolicy")
    async def create_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name, path = params["PolicyName"], check_path(params.get("Path"))
        document = params["PolicyDocument"]
        check_policy(document, "identity", MANAGED_LIMIT, managed=True)
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            if (await session.execute(select(ManagedPolicy.policy_id).where(
                    ManagedPolicy.account_id == account.account_id,
                    ManagedPolicy.name_lower == name.lower()))).first():
                raise already_exists(f"A policy called {name} already exists. Duplicate names "
                                     "are not allowed.")
            row = ManagedPolicy(policy_id=ids.policy_id(), account_id=account.account_id,
                                arn=arn(account.account_id, "policy", path, name), name=name,
                                name_lower=name.lower(), path=path,
                                description=params.get("Description"),
                                tags_json=merge_tags("[]", params.get("Tags") or []))
            session.add(row)
            await session.flush()
            session.add(PolicyVersion(policy_id=row.policy_id, version_id="v1", document=document))
        return {"Policy": _policy_out(row, 0, tags=True)}

    @operation("GetPolicy")
    async def get_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            count = await self._attachments(session, account.account_id, params["PolicyArn"])
            bounded = await usage_count(session, account.account_id, params["PolicyArn"])
        if isinstance(row, awspolicies.AwsPolicy):
            out = awspolicies.policy_out(row, count)
            out["PermissionsBoundaryUsageCount"] = bounded
            return {"Policy": out}
        return {"Policy": _policy_out(row, count, bounded, tags=True)}

    @operation("ListPolicies")
    async def list_policies(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        scope = params.get("Scope") or "All"
        prefix = params.get("PathPrefix") or "/"
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            counts = dict((await session.execute(
                select(PolicyAttachment.policy_arn, func.count())
                .where(PolicyAttachment.account_id == account.account_id)
                .group_by(PolicyAttachment.policy_arn))).tuples().all())
            items: list[dict[str, Any]] = []
            if scope in ("All", "AWS"):
                items += [awspolicies.policy_out(p, counts.get(p.arn, 0))
                          for p in awspolicies.all_policies()]
            if scope in ("All", "Local"):
                rows = (await session.execute(select(ManagedPolicy).where(
                    ManagedPolicy.account_id == account.account_id))).scalars().all()
                items += [_policy_out(r, counts.get(r.arn, 0)) for r in rows]
        items = [i for i in items if i["Path"].startswith(prefix)
                 and (not params.get("OnlyAttached") or i["AttachmentCount"])]
        items.sort(key=lambda i: (i["PolicyName"].lower(), i["Arn"]))
        return paginate(items, params, lambda i: i["PolicyName"].lower() + "\x00" + i["Arn"],
                        "Policies")

    @operation("DeletePolicy")
    async def delete_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            if isinstance(row, awspolicies.AwsPolicy):
                raise validation("AWS managed policies cannot be deleted.")
            if await self._attachments(session, account.account_id, row.arn) or \
                    await usage_count(session, account.account_id, row.arn):
                raise delete_conflict("Cannot delete a policy attached to entities.")
            versions = (await session.execute(select(func.count()).select_from(PolicyVersion)
                                              .where(PolicyVersion.policy_id == row.policy_id))
                        ).scalar_one()
            if versions > 1:
                raise delete_conflict("Cannot delete a policy with non-default versions; "
                                      "delete them first.")
            await session.delete(row)
        return {}

    @operation("CreatePolicyVersion")
    async def create_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        document = params["PolicyDocument"]
        check_policy(document, "identity", MANAGED_LIMIT, managed=True)
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            if isinstance(row, awspolicies.AwsPolicy):
                raise validation("AWS managed policies cannot be changed.")
            count = (await session.execute(select(func.count()).select_from(PolicyVersion)
                                           .where(PolicyVersion.policy_id == row.policy_id))
                     ).scalar_one()
            if count >= MAX_VERSIONS:
                raise limit_exceeded("A managed policy can have up to 5 versions. Before you "
                                     "create a new version, you must delete an existing version.")
            version = PolicyVersion(policy_id=row.policy_id, version_id=f"v{row.next_version}",
                                    document=document)
            row.next_version += 1
            row.updated_at = utcnow()
            if params.get("SetAsDefault"):
                row.default_version = version.version_id
            session.add(version)
            await session.flush()
        self.invalidate()
        return {"PolicyVersion": {"VersionId": version.version_id,
                                  "IsDefaultVersion": row.default_version == version.version_id,
                                  "CreateDate": version.created_at}}

    async def _tagged_policy(self, session: AsyncSession, account_id: str,
                             policy_arn: str) -> ManagedPolicy:
        row = await self._managed(session, account_id, policy_arn)
        if isinstance(row, awspolicies.AwsPolicy):
            raise no_such_entity(f"Policy {policy_arn} was not found.")
        return row

    @operation("TagPolicy")
    async def tag_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await tag_entity(self, ctx, params, "PolicyArn", self._tagged_policy)
        return {}

    @operation("UntagPolicy")
    async def untag_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await untag_entity(self, ctx, params, "PolicyArn", self._tagged_policy)
        return {}

    @operation("ListPolicyTags")
    async def list_policy_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await list_entity_tags(self, ctx, params, "PolicyArn", self._tagged_policy)

    @operation("GetPolicyVersion")
    async def get_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            if isinstance(row, awspolicies.AwsPolicy):
                if params["VersionId"] != "v1":
                    raise no_such_entity(f"Policy version {params['VersionId']} does not exist.")
                return {"PolicyVersion": {"Document": _enc(row.document), "VersionId": "v1",
                                          "IsDefaultVersion": True,
                                          "CreateDate": awspolicies.CREATED}}
            version = await session.get(PolicyVersion, (row.policy_id, params["VersionId"]))
        if version is None:
            raise no_such_entity(f"Policy {row.arn} version {params['VersionId']} does not exist.")
        return {"PolicyVersion": {"Document": _enc(version.document),
                                  "VersionId": version.version_id,
                                  "IsDefaultVersion": version.version_id == row.default_version,
                                  "CreateDate": version.created_at}}

    @operation("ListPolicyVersions")
    async def list_policy_versions(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            items: list[dict[str, Any]]
            if isinstance(row, awspolicies.AwsPolicy):
                items = [{"VersionId": "v1", "IsDefaultVersion": True,
                          "CreateDate": awspolicies.CREATED}]
            else:
                versions = (await session.execute(select(PolicyVersion).where(
                    PolicyVersion.policy_id == row.policy_id))).scalars().all()
                items = [{"VersionId": v.version_id,
                          "IsDefaultVersion": v.version_id == row.default_version,
                          "CreateDate": v.created_at}
                         for v in sorted(versions, key=lambda v: -int(v.version_id[1:]))]
        return paginate(items, params, lambda v: f"{10**6 - int(v['VersionId'][1:]):07d}",
                        "Versions")

    @operation("DeletePolicyVersion")
    async def delete_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            if isinstance(row, awspolicies.AwsPolicy):
                raise validation("AWS managed policies cannot be changed.")
            if params["VersionId"] == row.default_version:
                raise delete_conflict("Cannot delete the default version of a policy.")
            version = await session.get(PolicyVersion, (row.policy_id, params["VersionId"]))
            if version is None:
                raise no_such_entity(f"Policy version {params['VersionId']} does not exist.")
            await session.delete(version)
        return {}

    @operation("SetDefaultPolicyVersion")
    async def set_default_policy_version(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await self._managed(session, account.account_id, params["PolicyArn"])
            if isinstance(row, awspolicies.AwsPolicy):
                raise validation("AWS managed policies cannot be changed.")
            if await session.get(PolicyVersion, (row.policy_id, params["VersionId"])) is None:
                raise no_such_entity(f"Policy version {params['VersionId']} does not exist.")
            row.default_version = params["VersionId"]
        self.invalidate()
        return {}

    async def _attach(self, ctx: RequestContext, params: dict[str, Any], kind: str,
                      attach: bool) -> Result:
        entity, field = KINDS[kind]
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            owner_id, _ = await owner_of(session, account.account_id, entity, params[field])
            policy_arn = params["PolicyArn"]
            await self._managed(session, account.account_id, policy_arn)
            existing = await session.get(PolicyAttachment, (policy_arn, owner_id))
            if attach and existing is None:
                count = (await session.execute(select(func.count()).select_from(PolicyAttachment)
                                               .where(PolicyAttachment.owner_id == owner_id))
                         ).scalar_one()
                if count >= MAX_ATTACHED:
                    raise limit_exceeded(f"Cannot exceed quota for PoliciesPer{kind}: "
                                         f"{MAX_ATTACHED}")
                session.add(PolicyAttachment(policy_arn=policy_arn, owner_id=owner_id,
                                             owner_type=entity, account_id=account.account_id))
            elif not attach:
                if existing is None:
                    raise no_such_entity(f"Policy {policy_arn} was not found.")
                await session.delete(existing)
        self.invalidate()
        return {}

    @operation("AttachUserPolicy")
    async def attach_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._attach(ctx, p, "User", True)

    @operation("AttachGroupPolicy")
    async def attach_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._attach(ctx, p, "Group", True)

    @operation("AttachRolePolicy")
    async def attach_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._attach(ctx, p, "Role", True)

    @operation("DetachUserPolicy")
    async def detach_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._attach(ctx, p, "User", False)

    @operation("DetachGroupPolicy")
    async def detach_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._attach(ctx, p, "Group", False)

    @operation("DetachRolePolicy")
    async def detach_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._attach(ctx, p, "Role", False)

    async def _list_attached(self, ctx: RequestContext, params: dict[str, Any],
                             kind: str) -> Result:
        entity, field = KINDS[kind]
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            owner_id, _ = await owner_of(session, account.account_id, entity, params[field])
            arns = (await session.execute(select(PolicyAttachment.policy_arn).where(
                PolicyAttachment.owner_id == owner_id))).scalars().all()
        items = [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in sorted(arns)]
        prefix = params.get("PathPrefix")
        if prefix:
            items = [i for i in items if i["PolicyArn"].split(":policy", 1)[1].startswith(prefix)]
        return paginate(items, params, lambda i: i["PolicyArn"], "AttachedPolicies")

    @operation("ListAttachedUserPolicies")
    async def list_attached_user_policies(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._list_attached(ctx, p, "User")

    @operation("ListAttachedGroupPolicies")
    async def list_attached_group_policies(self, ctx: RequestContext,
                                           p: dict[str, Any]) -> Result:
        return await self._list_attached(ctx, p, "Group")

    @operation("ListAttachedRolePolicies")
    async def list_attached_role_policies(self, ctx: RequestContext, p: dict[str, Any]) -> Result:
        return await self._list_attached(ctx, p, "Role")

    @operation("ListEntitiesForPolicy")
    async def list_entities_for_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            await self._managed(session, account.account_id, params["PolicyArn"])
            rows = (await session.execute(select(PolicyAttachment).where(
                PolicyAttachment.policy_arn == params["PolicyArn"],
                PolicyAttachment.account_id == account.account_id))).scalars().all()
            out: dict[str, list[dict[str, str]]] = {"PolicyUsers": [], "PolicyGroups": [],
                                                    "PolicyRoles": []}
            for row in rows:
                table: Any = {"user": User, "group": Group, "role": Role}[row.owner_type]
                entity = await session.get(table, row.owner_id)
                if entity is None:
                    continue
                kind = row.owner_type.capitalize()
                out[f"Policy{kind}s"].append({f"{kind}Name": entity.name,
                                              f"{kind}Id": row.owner_id})
        wanted = params.get("EntityFilter")
        result: dict[str, Any] = {"IsTruncated": False}
        for key, items in out.items():
            if wanted in (None, key[6:-1]):
                result[key] = sorted(items, key=lambda i: next(iter(i.values())))
        return result
