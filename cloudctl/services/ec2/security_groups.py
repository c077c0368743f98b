"""EC2 security groups (EDGE / EC2-classic semantics) and their rules.

Owns the `ec2_security_groups`, `ec2_security_group_rules` and
`ec2_instance_security_groups` tables (in `cloudctl.services.network.models`)
and the operations on them. Every change bumps the network view version so
the network controller pushes it to the hosts.

Public functions for the compute provider (RunInstances, ModifyInstanceAttribute,
DescribeInstances, TerminateInstances); all take the caller's session and run
inside the caller's transaction (they never commit):

- `resolve_groups_for_launch(session, account, region, names, ids) -> list[str]`
- `set_instance_groups(session, account, region, instance_id, group_ids) -> None`
- `instance_groups(session, instance_ids) -> dict[str, list[GroupRef]]`
- `forget_instance(session, instance_id) -> None`
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class GroupRef:
    """What DescribeInstances shows of a group (`GroupSet` item)."""

    group_id: str
    group_name: str


async def resolve_groups_for_launch(session: AsyncSession, account: str, region: str,
                                    names: list[str] | None,
                                    ids: list[str] | None) -> list[str]:
    """The group ids an instance launched with `SecurityGroups`/`SecurityGroupIds` gets.

    No names and no ids: the account's `default` group (created on first use,
    EDGE semantics: members talk to each other, all egress, no other ingress).
    Unknown names/ids raise `AwsError` InvalidGroup.NotFound. Order is kept,
    duplicates dropped.
    """
    raise NotImplementedError


async def set_instance_groups(session: AsyncSession, account: str, region: str,
                              instance_id: str, group_ids: list[str]) -> None:
    """Replace the groups of `instance_id` (ModifyInstanceAttribute --groups, RunInstances).

    Every id must be a group of `account` in `region` (InvalidGroup.NotFound);
    an empty list raises InvalidParameterValue. Bumps the network view version.
    """
    raise NotImplementedError


async def instance_groups(session: AsyncSession,
                          instance_ids: list[str]) -> dict[str, list[GroupRef]]:
    """The groups of each instance (for DescribeInstances `Groups`/`SecurityGroups`)."""
    raise NotImplementedError


async def forget_instance(session: AsyncSession, instance_id: str) -> None:
    """Drop the memberships of a terminated instance (bumps the view version)."""
    raise NotImplementedError
