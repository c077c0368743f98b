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

SCENARIO = textwrap.dedent('''
    import asyncio, sys
    from cloudctl.core import fencing, terms
    fencing.install()  # before the store's module registers its hook
    from cloudctl.core.fencing import TERM, Fenced, Term
    from cloudctl.db import migrate
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.cloudformation import store
    from cloudctl.services.cloudformation.models import Stack, StackEvent
    from sqlalchemy import func, select

    async def main(url):
        engine = create_engine(url)
        sessions = session_factory(engine)
        claim, _release = terms.claimer(sessions, "a")
        assert await claim("cloudformation", 1)
        async with sessions() as session, session.begin():
            session.add(Stack(stack_id="arn:stack/s/1", name="s", account_id="000000000001",
                              region="r", status="CREATE_IN_PROGRESS", operation="CREATE",
                              template_body="{}", template={}, parameters={},
                              access_key_id="AK"))
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

    url = "sqlite+aiosqlite:///" + sys.argv[1]
    migrate.upgrade(url)
    asyncio.run(main(url))
''')


def test_an_event_only_transaction_of_a_superseded_leader_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path / "cloud.db")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "0"], done.stdout
