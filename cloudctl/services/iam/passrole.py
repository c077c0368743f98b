"""``iam:PassRole``: may the caller hand a role to a service?

AWS checks ``iam:PassRole`` on the role's ARN whenever a request gives a role to a
service that will act with it later (EC2 instance profiles at RunInstances, Auto
Scaling launch configurations, CloudFormation ``RoleARN``, ELB...). The check is
not the action of the request itself, so the request's own authorisation never
covers it: every service that takes a role calls ``require_pass_role`` (or
``require_pass_profile_role`` for an instance profile) before recording it.

The caller's identity policies (and session policy) are evaluated by the cloud's
authorizer for ``iam:PassRole`` on the role ARN with the request's context; the
account's root and ``admin`` user pass (they have every permission in their
account). A denial answers as the calling service denies: ``UnauthorizedOperation``
with an encoded message for EC2, ``AccessDenied`` otherwise.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import select

from cloudctl.errors import AccessDenied, UnauthorizedOperation
from cloudctl.server.context import RequestContext
from cloudctl.services.authz import MESSAGE_CONTEXT, PolicyAuthorizer
from cloudctl.services.iam.common import arn as iam_arn
from cloudctl.services.iam.models import InstanceProfile, Role

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

ACTION = "iam:PassRole"


async def require_pass_role(cloud: Cloud, ctx: RequestContext, role_arn: str) -> None:
    """Raise the service's denial unless the caller may pass ``role_arn``."""
    credential = ctx.credential
    authorizer = cloud.authorizer
    allowed = False
    effect = "ImplicitDeny"
    if credential is not None and isinstance(authorizer, PolicyAuthorizer):
        effect, _ = await authorizer.decide(ctx, ACTION, [role_arn], None, None)
        allowed = effect == "Allow"
    elif credential is not None:  # another authorizer: only account admins pass
        allowed = bool(credential.attributes.get("account_admin"))
    if allowed:
        return
    principal = credential.principal_arn if credential else "anonymous"
    if ctx.service == "ec2":
        encoded = cloud.secrets.seal(json.dumps({
            "allowed": False, "explicitDeny": effect == "Deny",
            "matchedStatements": {"items": []},
            "context": {"principal": {"id": credential.user_id if credential else "",
                                      "arn": principal},
                        "action": ACTION, "resource": role_arn}}), context=MESSAGE_CONTEXT)
        raise UnauthorizedOperation("You are not authorized to perform this operation. "
                                    f"Encoded authorization failure message: {encoded}")
    raise AccessDenied(f"User: {principal} is not authorized to perform: {ACTION} "
                       f"on resource: {role_arn}")


async def profile_role_arn(cloud: Cloud, account_id: str, profile_name: str) -> str | None:
    """The ARN of the role in ``account_id``'s instance profile, or None (no role)."""
    async with cloud.sessions() as session:
        profile = (await session.execute(select(InstanceProfile).where(
            InstanceProfile.account_id == account_id,
            InstanceProfile.name_lower == profile_name.lower()))).scalar_one_or_none()
        if profile is None or profile.role_id is None:
            return None
        role = await session.get(Role, profile.role_id)
    if role is None:
        return None
    return iam_arn(role.account_id, "role", role.path, role.name)


async def require_pass_profile_role(cloud: Cloud, ctx: RequestContext, account_id: str,
                                    profile_name: str) -> None:
    """``require_pass_role`` for the role an instance profile holds (none: nothing)."""
    role_arn = await profile_role_arn(cloud, account_id, profile_name)
    if role_arn is not None:
        await require_pass_role(cloud, ctx, role_arn)
