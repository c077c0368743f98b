"""IAM operations other services perform as a principal (CloudFormation's IAM types).

Re-exported by ``cloudctl.services.iam.api``: each function is the IAM operation of
its name, authorised as ``caller`` exactly as the same request would be (through
``cloudctl.server.internal``). Deletions treat a missing entity as deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call, each_authorized, refusal

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.context import RequestContext

Tags = list[dict[str, str]]


async def iam_call(cloud: Cloud, caller: Caller, operation: str,
                   params: dict[str, Any]) -> dict[str, Any]:
    """IAM's ``operation`` as ``caller`` (members as IAM's API names them)."""
    return await call(cloud, caller, "iam", operation, {k: v for k, v in params.items()
                                                        if v is not None})


async def iam_delete(cloud: Cloud, caller: Caller, operation: str,
                     params: dict[str, Any]) -> None:
    """A delete/detach/remove: an entity already gone is fine."""
    try:
        await iam_call(cloud, caller, operation, params)
    except AwsError as error:
        if error.code != "NoSuchEntity":
            raise


async def create_user(cloud: Cloud, caller: Caller, name: str, *, path: str | None = None,
                      boundary: str | None = None, tags: Tags | None = None) -> dict[str, Any]:
    found = await iam_call(cloud, caller, "CreateUser", {
        "UserName": name, "Path": path, "PermissionsBoundary": boundary, "Tags": tags or None})
    return dict(found["User"])


async def create_users(cloud: Cloud, caller: Caller, names: Sequence[str], *,
                       paths: Sequence[str | None]) -> list[dict[str, Any] | AwsError]:
    """Many ``CreateUser`` (no tags, no boundary) as ``caller``, in one transaction:
    each user, or the error its own call would have answered (only that one is not
    made)."""
    from cloudctl.services.iam import users

    async def make(allowed: list[int], ctxs: list[RequestContext]
                   ) -> list[dict[str, Any] | AwsError]:
        return await users.create_users(cloud, ctxs, [names[i] for i in allowed],
                                        [paths[i] for i in allowed])

    return await each_authorized(cloud, caller, "iam", "CreateUser", [
        {k: v for k, v in (("UserName", name), ("Path", path)) if v is not None}
        for name, path in zip(names, paths, strict=True)], make)


async def delete_users(cloud: Cloud, caller: Caller, names: Sequence[str]
                       ) -> list[AwsError | None]:
    """Many ``DeleteUser`` as ``caller``, authorised each, in one transaction (one bump
    of the credential epoch): None for each user deleted or already gone (as
    ``iam_delete``), or the error its own call would have answered (DeleteConflict...:
    only that one stays). A concurrent change that fails the transaction: each is then
    its own call."""
    from cloudctl.services.iam import users

    async def make(allowed: list[int], ctxs: list[RequestContext]
                   ) -> list[AwsError | None]:
        wanted = [names[i] for i in allowed]
        done = await users.delete_users(cloud, ctxs, wanted)
        if done is not None:
            return done
        return [await refusal(iam_call(cloud, caller, "DeleteUser", {"UserName": name}))
                for name in wanted]

    out = await each_authorized(cloud, caller, "iam", "DeleteUser",
                                [{"UserName": name} for name in names], make)
    return [None if o is not None and o.code == "NoSuchEntity" else o for o in out]


async def get_user(cloud: Cloud, caller: Caller, name: str) -> dict[str, Any] | None:
    try:
        return dict((await iam_call(cloud, caller, "GetUser", {"UserName": name}))["User"])
    except AwsError as error:
        if error.code == "NoSuchEntity":
            return None
        raise


async def create_group(cloud: Cloud, caller: Caller, name: str,
                       path: str | None = None) -> dict[str, Any]:
    found = await iam_call(cloud, caller, "CreateGroup", {"GroupName": name, "Path": path})
    return dict(found["Group"])


async def create_role(cloud: Cloud, caller: Caller, name: str, trust_policy: str, *,
                      path: str | None = None, description: str | None = None,
                      max_session: int | None = None, boundary: str | None = None,
                      tags: Tags | None = None) -> dict[str, Any]:
    found = await iam_call(cloud, caller, "CreateRole", {
        "RoleName": name, "AssumeRolePolicyDocument": trust_policy, "Path": path,
        "Description": description, "MaxSessionDuration": max_session,
        "PermissionsBoundary": boundary, "Tags": tags or None})
    return dict(found["Role"])


async def create_policy(cloud: Cloud, caller: Caller, name: str, document: str, *,
                        path: str | None = None,
                        description: str | None = None) -> dict[str, Any]:
    found = await iam_call(cloud, caller, "CreatePolicy", {
        "PolicyName": name, "PolicyDocument": document, "Path": path,
        "Description": description})
    return dict(found["Policy"])


async def create_instance_profile(cloud: Cloud, caller: Caller, name: str,
                                  path: str | None = None) -> dict[str, Any]:
    found = await iam_call(cloud, caller, "CreateInstanceProfile",
                           {"InstanceProfileName": name, "Path": path})
    return dict(found["InstanceProfile"])


async def create_access_key(cloud: Cloud, caller: Caller, user: str) -> dict[str, Any]:
    return dict((await iam_call(cloud, caller, "CreateAccessKey",
                                {"UserName": user}))["AccessKey"])


async def assume_service_role(cloud: Cloud, role_arn: str, service: str,
                              session_name: str, duration: int = 3600) -> str | None:
    """Session credentials of ``role_arn`` for an AWS service principal (``service``,
    e.g. ``cloudformation.amazonaws.com``) that the role's trust policy allows; the
    access key id of the session, None when the role is missing or does not trust it."""
    from sqlalchemy import select

    from cloudctl.services.iam.common import arn as iam_arn
    from cloudctl.services.iam.models import Role
    from cloudctl.services.iam.policy import AuthzRequest, evaluate
    from cloudctl.services.sts.provider import StsProvider

    parts = role_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return None
    account_id, name = parts[4], parts[5].rsplit("/", 1)[-1]
    async with cloud.sessions() as session:
        role = (await session.execute(select(Role).where(
            Role.account_id == account_id, Role.name_lower == name.lower()))).scalars().first()
    if role is None or iam_arn(role.account_id, "role", role.path, role.name) != role_arn:
        return None
    request = AuthzRequest(action="sts:AssumeRole", resources=[role_arn],
                           principal_arn=service, principal_type="service",
                           principal_ids=(f"service:{service}",))
    try:
        trusted = evaluate(request, None, role.trust_policy, resource_account=None).allowed
    except Exception:  # a trust policy the engine cannot read trusts nobody
        trusted = False
    if not trusted:
        return None
    assumed = f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session_name}"
    attributes: dict[str, Any] = {
        "role_id": role.role_id, "role_arn": role_arn, "role_session_name": session_name,
        "session_tags": {}, "source_identity": None}
    creds = await StsProvider(cloud)._issue(
        role.account_id, "assumed-role", assumed, f"{role.role_id}:{session_name}",
        role.role_id, duration, None, attributes)
    return str(creds["AccessKeyId"])
