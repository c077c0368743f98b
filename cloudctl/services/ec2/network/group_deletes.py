"""Many ``DeleteSecurityGroup`` in one transaction (EDGE and VPC groups).

What a stack's deletion asks of EC2 for its security groups (``ec2.api``): each group
checked as its own ``DeleteSecurityGroup`` would be, in the order given (a group
another group of the batch refers to goes when that group went earlier in the batch,
as with separate calls), with the same errors (``InvalidGroup.NotFound``,
``CannotDelete``, ``DependencyViolation``); the deletions, their rules and tags in one
transaction, one network view version for all.

Must not: authorise (the caller did, each group as its own call), commit a partial
batch (a concurrent change that fails the transaction answers None: the caller makes
each deletion its own call).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from cloudctl.errors import AwsError
from cloudctl.services.ec2.network.security_groups import (
    DEFAULT_GROUP,
    _by_ids,
    _interface_using,
    _not_found,
)
from cloudctl.services.ec2.shared import tags as tags_mod
from cloudctl.services.ec2.shared.resources import SECURITY_GROUP
from cloudctl.services.network.models import (
    InstanceGroupRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)
from cloudctl.services.network.state import bump_version, notify


async def delete_groups(cloud: Any, account: str, region: str,
                        group_ids: Sequence[str]) -> list[AwsError | None] | None:
    """Delete the account's groups ``group_ids`` in one transaction: None for each group
    deleted, or the error its own ``DeleteSecurityGroup`` would answer (only that group
    stays). None when a concurrent change failed the transaction (nothing deleted)."""
    out: list[AwsError | None] = [None] * len(group_ids)
    for index, group_id in enumerate(group_ids):
        try:
            SECURITY_GROUP.check(group_id)
        except AwsError as error:
            out[index] = error
    wanted = [g for g, o in zip(group_ids, out, strict=True) if o is None]
    if not wanted:
        return out
    try:
        async with cloud.sessions() as session, session.begin():
            found = await _by_ids(session, region, wanted)
            users: dict[str, str] = {}
            for group_id, instance_id in await session.execute(select(
                    InstanceGroupRow.group_id, InstanceGroupRow.instance_id).where(
                    InstanceGroupRow.group_id.in_(list(found)))):
                users.setdefault(group_id, instance_id)
            referrers: dict[str, list[str]] = {}
            for peer_id, group_id in await session.execute(select(
                    SecurityGroupRuleRow.peer_group_id, SecurityGroupRuleRow.group_id).where(
                    SecurityGroupRuleRow.peer_group_id.in_(list(found)),
                    SecurityGroupRuleRow.group_id != SecurityGroupRuleRow.peer_group_id)):
                referrers.setdefault(str(peer_id), []).append(group_id)
            doomed: list[SecurityGroupRow] = []
            deleted: set[str] = set()
            for index, group_id in enumerate(group_ids):
                if out[index] is not None:
                    continue
                row = found.get(group_id)
                if row is None or row.account_id != account or group_id in deleted:
                    out[index] = _not_found(group_id)
                    continue
                refused = await _refused(session, row, users, [
                    r for r in referrers.get(group_id, []) if r not in deleted])
                if refused is not None:
                    out[index] = refused
                    continue
                doomed.append(row)
                deleted.add(group_id)
            if doomed:
                gone = [row.id for row in doomed]
                await session.execute(delete(SecurityGroupRuleRow).where(
                    SecurityGroupRuleRow.group_id.in_(gone)))
                await tags_mod.delete_resource_tags(session, account, region, gone)
                await session.execute(delete(SecurityGroupRow).where(
                    SecurityGroupRow.id.in_(gone)))
                await bump_version(session)
    except (IntegrityError, StaleDataError):
        return None
    if deleted:
        notify()
    return out


async def _refused(session: Any, row: SecurityGroupRow, users: dict[str, str],
                   referrers: list[str]) -> AwsError | None:
    """Why ``DeleteSecurityGroup`` would refuse the group now (its checks in its order),
    None when it may go."""
    if row.name == DEFAULT_GROUP:
        return AwsError("cannot delete the default security group", code="CannotDelete")
    if row.id in users:
        return AwsError(f"resource {row.id} has a dependent object (instance "
                        f"{users[row.id]})", code="DependencyViolation")
    if await _interface_using(session, row) is not None:
        return AwsError(f"resource {row.id} has a dependent object",
                        code="DependencyViolation")
    if referrers:
        return AwsError(f"resource {row.id} has a dependent object (group {referrers[0]})",
                        code="DependencyViolation")
    return None
