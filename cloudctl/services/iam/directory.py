"""What the authorizer needs from IAM: a principal's policy documents and tags.

Public functions over the IAM tables; the authorizer caches their results per
principal for a short time and drops them when IAM changes identities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.auth.credentials import Credential
from cloudctl.services.iam import awspolicies
from cloudctl.services.iam.boundary import boundary_document
from cloudctl.services.iam.models import (
    GroupMember,
    InlinePolicy,
    ManagedPolicy,
    PolicyAttachment,
    PolicyVersion,
    Role,
    User,
)


@dataclass
class PrincipalPolicies:
    """Identity policies (documents) of a principal, its session policy, its tags and
    the document of its permissions boundary (None: unbounded)."""

    documents: list[str] = field(default_factory=list)
    session_policy: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    boundary: str | None = None


async def _owner_documents(session: AsyncSession, owner_ids: list[str]) -> list[str]:
    if not owner_ids:
        return []
    docs = list((await session.execute(select(InlinePolicy.document).where(
        InlinePolicy.owner_id.in_(owner_ids)))).scalars().all())
    arns = set((await session.execute(select(PolicyAttachment.policy_arn).where(
        PolicyAttachment.owner_id.in_(owner_ids)))).scalars().all())
    for policy_arn in sorted(arns):
        builtin = awspolicies.BY_ARN.get(policy_arn)
        if builtin is not None:
            docs.append(builtin.document)
            continue
        doc = (await session.execute(
            select(PolicyVersion.document)
            .join(ManagedPolicy, ManagedPolicy.policy_id == PolicyVersion.policy_id)
            .where(ManagedPolicy.arn == policy_arn,
                   PolicyVersion.version_id == ManagedPolicy.default_version))).scalar()
        if doc is not None:
            docs.append(doc)
    return docs


def _tags(tags_json: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in json.loads(tags_json or "[]")}


async def owner_documents(session: AsyncSession, owner_ids: list[str]) -> list[str]:
    """Inline and attached (default version) policy documents of users, groups, roles."""
    return await _owner_documents(session, owner_ids)


async def policies_for(session: AsyncSession, credential: Credential) -> PrincipalPolicies:
    """The identity policies that apply to ``credential``'s principal."""
    attrs = credential.attributes
    result = PrincipalPolicies(session_policy=attrs.get("session_policy"))
    if credential.principal_type == "assumed-role":
        role = await session.get(Role, attrs.get("role_id", ""))
        if role is not None:
            result.documents = await _owner_documents(session, [role.role_id])
            result.tags = _tags(role.tags_json)
            if role.permissions_boundary:
                result.boundary = await boundary_document(session, role.permissions_boundary)
        return result
    user_id = attrs.get("iam_user_id") or credential.user_id
    user = await session.get(User, user_id)
    if user is None:
        return result
    groups = list((await session.execute(select(GroupMember.group_id).where(
        GroupMember.user_id == user.user_id))).scalars().all())
    result.documents = await _owner_documents(session, [user.user_id, *groups])
    result.tags = _tags(user.tags_json)
    if user.permissions_boundary:
        result.boundary = await boundary_document(session, user.permissions_boundary)
    return result
