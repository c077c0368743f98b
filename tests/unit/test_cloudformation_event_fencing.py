"""A superseded CloudFormation leader cannot commit a transaction that only adds stack
events: the queued events are inserted in the session's ``before_commit``, and they must
be written before fencing's check of that same hook decides whether the transaction
wrote anything, whichever of the two was registered first. The bad order (fencing
installed before the CloudFormation store is imported) needs a fresh interpreter, so
the scenario runs in one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_SETUP = textwrap.dedent('''
    import asyncio, sys
    from types import SimpleNamespace
    from cloudctl.core import fencing, terms
    fencing.install()  # before the CloudFormation modules register their hooks
    from cloudctl.core.fencing import TERM, Fenced, Term
    from cloudctl.db import migrate
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.cloudformation import store
    from cloudctl.services.cloudformation.engine import StackEngine
    from cloudctl.services.cloudformation.models import Stack, StackEvent, StackResource
    from sqlalchemy import func, select

    async def a_stack(url, *rows):
        """An engine, its sessions and claimer, and a stack (with ``rows``) written
        under leader 1's term."""
        engine = create_engine(url)
        sessions = session_factory(engine)
        claim, _release = terms.claimer(sessions, "a")
        assert await claim("cloudformation", 1)
        async with sessions() as session, session.begin():
            session.add(Stack(stack_id="arn:stack/s/1", name="s", account_id="000000000001",
                              region="r", status="CREATE_IN_PROGRESS", operation="CREATE",
                              template_body="{}", template={}, parameters={},
                              access_key_id="AK"))
            session.add_all(rows)
        return engine, sessions, claim

    def run(main):
        url = "sqlite+aiosqlite:///" + sys.argv[1]
        migrate.upgrade(url)
        asyncio.run(main(url))
''')


SCENARIO = _SETUP + textwrap.dedent('''
    async def main(url):
        engine, sessions, claim = await a_stack(url)
        assert await claim("cloudformation", 2)  # another leader took over
        token = TERM.set(Term("cloudformation", 1))
        try:
            async with sessions() as session, session.begin():
                await store.add_event(session, "arn:stack/s/1", "R", None, "AWS::S3::Bucket",
                                      "CREATE_IN_PROGRESS")
        except Fenced:
            refused = True
        else:
            refused = False
        finally:
            TERM.reset(token)
        async with sessions() as session:
            events = (await session.execute(select(func.count()).select_from(StackEvent))).scalar()
        await engine.dispose()
        print(refused, events)

    run(main)
''')


def test_an_event_only_transaction_of_a_superseded_leader_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path / "cloud.db")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "0"], done.stdout


ROWS_SCENARIO = _SETUP + textwrap.dedent('''
    async def main(url):
        row = StackResource(stack_id="arn:stack/s/1", logical_id="Handle",
                            type="AWS::CloudFormation::WaitConditionHandle",
                            status="CREATE_IN_PROGRESS", token="t", properties={},
                            attempts=1, step="create")
        engine, sessions, claim = await a_stack(url, row)
        stacks = StackEngine(SimpleNamespace(sessions=sessions), leader=lambda: True)
        assert await claim("cloudformation", 2)  # another leader took over
        token = TERM.set(Term("cloudformation", 1))
        try:
            batch = []  # a change without an event: the row's UPDATE is the only write
            stacks._created(batch, row, "made-1", {}, event=False, signals_within=60.0)
            await stacks._flush(batch)
        except Fenced:
            refused = True
        else:
            refused = False
        finally:
            TERM.reset(token)
        async with sessions() as session:
            stored = await session.get(StackResource, row.id)
        await engine.dispose()
        print(refused, stored.physical_id)

    run(main)
''')


def test_a_pass_end_of_a_superseded_leader_is_refused(tmp_path: Path) -> None:
    """The ends of a pass are driver-level statements the ORM does not see
    (``rawrows``): fencing is told of them, so a superseded leader's are refused too,
    even with no event in the transaction."""
    done = subprocess.run([sys.executable, "-c", ROWS_SCENARIO, str(tmp_path / "cloud.db")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "None"], done.stdout
