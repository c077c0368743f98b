"""EC2's batch of ``DeleteSecurityGroup`` (``group_deletes.delete_groups``, what a
stack's deletion calls) against a real (migrated) database: each group answered as its
own call would be, in the order given (a group referred to only by a group deleted
earlier in the batch goes; before that group, it is refused), the deletions with their
rules and tags in one transaction and one network view version."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services import ids
from cloudctl.services.ec2.network.group_deletes import delete_groups
from cloudctl.services.ec2.shared.tags import Tag
from cloudctl.services.network.models import (
    InstanceGroupRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)
from cloudctl.services.network.state import current_version

ACCOUNT, OTHER, REGION = "000000000001", "000000000002", "r1"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = "sqlite+aiosqlite:///" + str(Path(tmp_path_factory.mktemp("sgdel")) / "cloud.db")
    migrate.upgrade(url)
    return url


async def _groups(cloud: Any, *specs: tuple[str, str]) -> list[str]:
    """Groups ``(account, name)``, each with a rule of all egress and a tag."""
    made = []
    async with cloud.sessions() as session, session.begin():
        for account, name in specs:
            gid = ids.resource_id("sg")
            session.add(SecurityGroupRow(id=gid, account_id=account, region=REGION, name=name,
                                         description=name))
            made.append(gid)
        await session.flush()
        for gid in made:
            session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=gid,
                                             egress=True, protocol="-1", cidr="0.0.0.0/0"))
            session.add(Tag(account_id=ACCOUNT, region=REGION, resource_id=gid, key="k",
                            value="v", resource_type="security-group"))
    return made


async def _refer(cloud: Any, group_id: str, peer: str) -> None:
    async with cloud.sessions() as session, session.begin():
        session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=group_id,
                                         egress=False, protocol="tcp", from_port=22,
                                         to_port=22, peer_group_id=peer))


async def _left(cloud: Any, group_ids: list[str]) -> tuple[set[str], int, int, int]:
    """The groups among ``group_ids`` still there, their rules, their tags, the view
    version."""
    async with cloud.sessions() as session:
        groups = set((await session.execute(select(SecurityGroupRow.id).where(
            SecurityGroupRow.id.in_(group_ids)))).scalars())
        rules = len((await session.execute(select(SecurityGroupRuleRow.id).where(
            SecurityGroupRuleRow.group_id.in_(group_ids)))).all())
        tags = len((await session.execute(select(Tag.key).where(
            Tag.resource_id.in_(group_ids)))).all())
        return groups, rules, tags, await current_version(session)


def _codes(out: list[Any]) -> list[str | None]:
    return [None if error is None else error.code for error in out]


def test_each_group_answers_as_its_own_call_in_one_transaction(database: str) -> None:
    async def scenario() -> None:
        db = create_engine(database)
        cloud = SimpleNamespace(sessions=session_factory(db))
        try:
            a, b, used, default, theirs, fine = await _groups(
                cloud, (ACCOUNT, "a"), (ACCOUNT, "b"), (ACCOUNT, "used"),
                (ACCOUNT, "default"), (OTHER, "theirs"), (ACCOUNT, "fine"))
            await _refer(cloud, b, a)  # b's rule names a: a cannot go while b is there
            async with cloud.sessions() as session, session.begin():
                session.add(InstanceGroupRow(instance_id="i-0123456789abcdef0", group_id=used))
            *_, version = await _left(cloud, [])
            missing = "sg-0123456789abcdef0"
            out = await delete_groups(cloud, ACCOUNT, REGION,
                                      [a, b, used, default, theirs, fine, missing, fine, "x"])
            assert out is not None
            assert _codes(out) == ["DependencyViolation", None, "DependencyViolation",
                                   "CannotDelete", "InvalidGroup.NotFound", None,
                                   "InvalidGroup.NotFound", "InvalidGroup.NotFound",
                                   "InvalidGroupId.Malformed"]
            assert out[0] is not None and out[2] is not None and out[4] is not None
            assert out[0].message == f"resource {a} has a dependent object (group {b})"
            assert out[2].message == (f"resource {used} has a dependent object (instance "
                                      f"i-0123456789abcdef0)")
            assert out[4].message == f"The security group '{theirs}' does not exist"
            groups, rules, tags, after = await _left(cloud, [a, b, used, default, theirs, fine])
            assert groups == {a, used, default, theirs}
            assert (rules, tags) == (4, 4)  # the deleted groups' rules and tags went too
            assert after == version + 1  # one view version for the batch

            # b deleted earlier in a batch, a may go after it (as with separate calls)
            c, d = await _groups(cloud, (ACCOUNT, "c"), (ACCOUNT, "d"))
            await _refer(cloud, d, c)
            out = await delete_groups(cloud, ACCOUNT, REGION, [d, c, a])
            assert out is not None and _codes(out) == [None, None, None]
            assert (await _left(cloud, [a, c, d]))[:3] == (set(), 0, 0)
            # nothing to delete: no transaction, no version
            out = await delete_groups(cloud, ACCOUNT, REGION, ["x"])
            assert out is not None and _codes(out) == ["InvalidGroupId.Malformed"]
            assert (await _left(cloud, []))[3] == after + 1
        finally:
            await db.dispose()

    asyncio.run(scenario())
