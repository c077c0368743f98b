"""Permissions boundaries: which managed policy bounds a user or role, and its document.

A boundary is the ARN of a managed policy (customer managed in the entity's account,
or AWS managed) stored on the user or role. It is resolved to the policy's default
version at evaluation time, so a new default version applies at once. A boundary
whose policy no longer resolves bounds to nothing (every action implicitly denied):
a guardrail never silently disappears. Deleting a policy in use as a boundary is a
DeleteConflict (``usage_count``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services.iam import awspolicies
from cloudctl.services.iam.models import ManagedPolicy, PolicyVersion, Role, User

BOUNDARY_TYPE = "PermissionsBoundaryPolicy"
DENY_ALL = ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*",'
            '"Resource":"*"}]}')


async def check_boundary(session: AsyncSession, account_id: str, policy_arn: Any) -> str:
    """The ARN of an existing managed policy usable as a boundary in ``account_id``."""
    text = str(policy_arn or "")
    if not text.startswith("arn:aws:iam::") or ":policy/" not in text:
        raise AwsError(f"ARN {text} is not valid.", code="InvalidInput", status=400)
    if text in awspolicies.BY_ARN:
        return text
    row = (await session.execute(select(ManagedPolicy.account_id).where(
        ManagedPolicy.arn == text))).scalar_one_or_none()
    if row is None or row != account_id:
        raise AwsError(f"Policy {text} does not exist or is not attachable.",
                       code="NoSuchEntity", status=404)
    return text


def boundary_out(policy_arn: str | None) -> dict[str, Any] | None:
    """The ``PermissionsBoundary`` member of a user or role, or None without one."""
    if not policy_arn:
        return None
    return {"PermissionsBoundaryType": BOUNDARY_TYPE, "PermissionsBoundaryArn": policy_arn}


async def boundary_document(session: AsyncSession, policy_arn: str) -> str:
    """The default version of the boundary policy (deny-all when it no longer exists)."""
    builtin = awspolicies.BY_ARN.get(policy_arn)
    if builtin is not None:
        return builtin.document
    doc = (await session.execute(
        select(PolicyVersion.document)
        .join(ManagedPolicy, ManagedPolicy.policy_id == PolicyVersion.policy_id)
        .where(ManagedPolicy.arn == policy_arn,
               PolicyVersion.version_id == ManagedPolicy.default_version))).scalar()
    return str(doc) if doc is not None else DENY_ALL


async def usage_count(session: AsyncSession, account_id: str, policy_arn: str) -> int:
    """How many users and roles of the account have ``policy_arn`` as their boundary."""
    total = 0
    for table in (User, Role):
        model: Any = table
        total += int((await session.execute(select(func.count()).select_from(model).where(
            model.account_id == account_id, model.permissions_boundary == policy_arn))
        ).scalar_one())
    return total
