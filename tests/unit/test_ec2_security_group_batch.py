"""EC2's batch of CreateSecurityGroup (a stack's groups, ``create_groups``) against a
real (migrated) SQLite database: the names taken and the account's default group are
one read (the default made on first use, as before), then one INSERT a table; a name
taken, in the account or earlier in the batch, fails only its own group."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import event, select

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.errors import AwsError
from cloudctl.services.ec2.network.security_groups import DEFAULT_GROUP, NewGroup, create_groups
from cloudctl.services.ec2.shared.tags import MAX_TAGS
from cloudctl.services.network.models import SecurityGroupRow, SecurityGroupRuleRow

ACCOUNT, REGION = "000000000001", "r"


def _group(name: str) -> NewGroup:
    return NewGroup(name=name, description=f"for {name}", tags=[],
                    system_tags=[{"Key": "aws:cloudformation:logical-id", "Value": name}])


def test_a_batch_reads_names_and_default_once_and_inserts_a_table_each(tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "cloud.db")
    migrate.upgrade(url)

    async def scenario() -> None:
        db = create_engine(url)
        cloud = SimpleNamespace(sessions=session_factory(db),
                                properties={MAX_TAGS: MAX_TAGS.default})
        statements: list[str] = []
        event.listen(db.sync_engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2].split()[0]))
        try:
            first = await create_groups(cloud, ACCOUNT, REGION,
                                        [_group("a"), _group("b"), _group("a")])
            assert isinstance(first[0], str) and isinstance(first[1], str)
            assert isinstance(first[2], AwsError) and first[2].code == "InvalidGroup.Duplicate"
            made_default = list(statements)
            statements.clear()
            second = await create_groups(cloud, ACCOUNT, REGION,
                                         [_group("b"), _group("c"), _group(DEFAULT_GROUP)])
            assert isinstance(second[0], AwsError) and isinstance(second[2], AwsError)
            assert isinstance(second[1], str)
            # one SELECT (names and the default), the groups, their rules, their tags,
            # the network view's version
            assert [s for s in statements if s != "SAVEPOINT"] == \
                ["SELECT", "INSERT", "INSERT", "INSERT", "UPDATE"], statements
            assert made_default.count("SELECT") >= 2  # the default looked for, made
            async with cloud.sessions() as session:
                groups = (await session.execute(select(SecurityGroupRow.name).where(
                    SecurityGroupRow.account_id == ACCOUNT))).scalars().all()
                rules = (await session.execute(select(SecurityGroupRuleRow.group_id))).all()
            assert sorted(groups) == ["a", "b", "c", DEFAULT_GROUP]
            assert len(rules) == 2 + 3  # the default's two, an egress rule a group
        finally:
            await db.dispose()

    asyncio.run(scenario())
