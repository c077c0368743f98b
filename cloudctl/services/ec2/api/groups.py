"""EC2's public API: security groups (one, or many in one transaction), their rules.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, each_authorized, refusal
from cloudctl.services.ec2.api.calls import Tags, ec2_call, not_found, tag_specs
from cloudctl.services.ec2.network import security_groups as groups_mod
from cloudctl.services.ec2.network.security_groups import NewGroup

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def create_security_group(cloud: Cloud, caller: Caller, *, name: str,
                                description: str, vpc_id: str | None = None,
                                tags: Tags | None = None) -> str:
    params: dict[str, Any] = {"GroupName": name, "Description": description,
                              "TagSpecifications": tag_specs("security-group", tags or [])}
    if vpc_id:
        params["VpcId"] = vpc_id
    return str((await ec2_call(cloud, caller, "CreateSecurityGroup", params))["GroupId"])


async def create_security_groups(cloud: Cloud, caller: Caller,
                                 groups: Sequence[NewGroup]) -> list[str | AwsError]:
    """Many ``CreateSecurityGroup`` as ``caller`` in one transaction (EC2-classic: no
    VPC; ``system_tags``: a stack's ``aws:`` tags): each group's id, or the error its
    own call would have answered (only that group is not made)."""
    async def make(allowed: list[int], _: list[Any]) -> list[str | AwsError]:
        return await groups_mod.create_groups(cloud, caller.credential.account_id,
                                              caller.region, [groups[i] for i in allowed])

    return await each_authorized(cloud, caller, "ec2", "CreateSecurityGroup", [
        {"GroupName": group.name, "Description": group.description,
         "TagSpecifications": tag_specs("security-group", group.tags)}
        for group in groups], make)


async def security_group(cloud: Cloud, caller: Caller, *, group_id: str | None = None,
                         name: str | None = None) -> dict[str, Any] | None:
    """The group (DescribeSecurityGroups' item) by id or name, None when missing."""
    params: dict[str, Any] = {}
    if group_id:
        params["GroupIds"] = [group_id]
    elif name:
        params["Filters"] = [{"Name": "group-name", "Values": [name]}]
    try:
        found = (await ec2_call(cloud, caller, "DescribeSecurityGroups", params))
    except AwsError as error:
        if not_found(error):
            return None
        raise
    groups = found.get("SecurityGroups") or []
    return dict(groups[0]) if groups else None


async def delete_security_group(cloud: Cloud, caller: Caller, group_id: str) -> None:
    try:
        await ec2_call(cloud, caller, "DeleteSecurityGroup", {"GroupId": group_id})
    except AwsError as error:
        if not not_found(error):
            raise


async def delete_security_groups(cloud: Cloud, caller: Caller,
                                 group_ids: Sequence[str]) -> list[AwsError | None]:
    """Many ``DeleteSecurityGroup`` as ``caller``, authorised each, in one transaction
    (one network view version): None for each group deleted or already gone (as
    ``delete_security_group``), or the error its own call would have answered (only
    that group stays). A concurrent change that fails the transaction: each is then
    its own call."""
    from cloudctl.services.ec2.network import group_deletes

    async def make(allowed: list[int], _: list[Any]) -> list[AwsError | None]:
        wanted = [group_ids[i] for i in allowed]
        done = await group_deletes.delete_groups(cloud, caller.credential.account_id,
                                                 caller.region, wanted)
        if done is not None:
            return done
        return [await refusal(ec2_call(cloud, caller, "DeleteSecurityGroup", {"GroupId": g}))
                for g in wanted]

    out = await each_authorized(cloud, caller, "ec2", "DeleteSecurityGroup",
                                [{"GroupId": g} for g in group_ids], make)
    return [None if o is not None and not_found(o) else o for o in out]


async def authorize_ingress(cloud: Cloud, caller: Caller, group_id: str,
                            permissions: list[dict[str, Any]]) -> None:
    await ec2_call(cloud, caller, "AuthorizeSecurityGroupIngress",
               {"GroupId": group_id, "IpPermissions": permissions})


async def authorize_egress(cloud: Cloud, caller: Caller, group_id: str,
                           permissions: list[dict[str, Any]]) -> None:
    await ec2_call(cloud, caller, "AuthorizeSecurityGroupEgress",
               {"GroupId": group_id, "IpPermissions": permissions})


async def _revoke(cloud: Cloud, caller: Caller, operation: str, group_id: str,
                  permissions: list[dict[str, Any]]) -> None:
    try:
        await ec2_call(cloud, caller, operation, {"GroupId": group_id,
                                              "IpPermissions": permissions})
    except AwsError as error:
        if not (not_found(error) or error.code == "InvalidPermission.NotFound"):
            raise


async def revoke_ingress(cloud: Cloud, caller: Caller, group_id: str,
                         permissions: list[dict[str, Any]]) -> None:
    await _revoke(cloud, caller, "RevokeSecurityGroupIngress", group_id, permissions)


async def revoke_egress(cloud: Cloud, caller: Caller, group_id: str,
                        permissions: list[dict[str, Any]]) -> None:
    await _revoke(cloud, caller, "RevokeSecurityGroupEgress", group_id, permissions)
