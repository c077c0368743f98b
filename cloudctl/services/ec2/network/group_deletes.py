"""Many ``DeleteSecurityGroup`` in one transaction (EDGE and VPC groups).

What a stack's deletion asks of EC2 for its security groups (``ec2.api``): each group
checked by the same refusal as its own ``DeleteSecurityGroup``
(``security_groups.deletion_refusal``), in the order given (a group
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

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from cloudctl.errors import AwsError
from cloudctl.services.ec2.network.security_groups import (
    deletion_refusal,
    dependents_of,
    group_not_found,
    groups_by_ids,
)
from cloudctl.services.ec2.shared import tags as tags_mod
from cloudctl.services.ec2.shared.resources import SECURITY_GROUP
from cloudctl.services.network.models import SecurityGroupRow, SecurityGroupRuleRow
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
            found = await groups_by_ids(session, region, wanted)
            dependents = await dependents_of(session, found.values())
            doomed: list[SecurityGroupRow] = []
            deleted: set[str] = set()
            for index, group_id in enumerate(group_ids):
                if out[index] is not None:
                    continue
                row = found.get(group_id)
                if row is None or row.account_id != account or group_id in deleted:
                    out[index] = group_not_found(group_id)
                    continue
                refused = deletion_refusal(row, dependents[group_id], deleted)
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

