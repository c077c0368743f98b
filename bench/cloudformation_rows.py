"""The stack engine's own row writes for a pass of N resources, in one process against a
migrated SQLite database (no server, no HTTP, no service calls): ``_new_rows`` (the
pass's rows and their first events, one transaction) and ``_flush`` (the ends of the
pass: each resource made and complete, two events each, one transaction). Wall time
per pass, median of the passes after two warm ones.

A/B of two trees: run this file with each tree first on ``PYTHONPATH`` (it imports the
engine of whichever tree is first; trees before session 13's cfn2 branch took a row's
id, not the row, in ``_finish``):

    PYTHONPATH=<tree> python3 bench/cloudformation_rows.py [--count 100] [--passes 12]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

STACK = "arn:aws:cloudformation:r:000000000001:stack/bench/1"


async def measure(url: str, count: int, passes: int) -> dict[str, float]:
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.cloudformation.engine import NewRow, StackEngine
    from cloudctl.services.cloudformation.models import Stack
    from cloudctl.services.cloudformation.resources.base import Outcome

    takes_row = "row: StackResource" in inspect.getsource(StackEngine._finish)
    db = create_engine(url)
    sessions = session_factory(db)
    async with sessions() as session, session.begin():
        session.add(Stack(stack_id=STACK, name="bench", account_id="000000000001",
                          region="r", status="CREATE_IN_PROGRESS", operation="CREATE",
                          template_body="{}", template={}, parameters={}, access_key_id="AK"))
    engine = StackEngine(SimpleNamespace(sessions=sessions),  # type: ignore[arg-type]
                         leader=lambda: True)
    engine._secrets = {}
    new_rows: list[float] = []
    flushes: list[float] = []
    for round_ in range(passes):
        names = [f"Group{round_}x{i}" for i in range(count)]
        plan = SimpleNamespace(deps={n: set() for n in names},
                               template={"Resources": {n: {} for n in names}})
        wanted = [NewRow(n, "AWS::EC2::SecurityGroup", {"GroupDescription": f"bench {n}"},
                         "Delete", None) for n in names]
        started = time.perf_counter()
        made = await engine._new_rows(SimpleNamespace(stack_id=STACK),  # type: ignore[arg-type]
                                      plan, wanted)  # type: ignore[arg-type]
        written = time.perf_counter()
        batch: list[Any] = []
        for row in made:
            engine._finish(batch, row if takes_row else row.id,  # type: ignore[arg-type]
                           "CREATE_COMPLETE", {"GroupId": f"sg-{row.id}"},
                           made=Outcome(f"sg-{row.id}", {"GroupId": f"sg-{row.id}"}))
        await engine._flush(batch)
        flushed = time.perf_counter()
        if round_ >= 2:
            new_rows.append(written - started)
            flushes.append(flushed - written)
    await db.dispose()
    return {"new_rows_ms": 1000 * statistics.median(new_rows),
            "flush_ms": 1000 * statistics.median(flushes)}


def main() -> int:
    from cloudctl.db import migrate

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--passes", type=int, default=12)
    args = parser.parse_args()
    url = "sqlite+aiosqlite:///" + str(Path(tempfile.mkdtemp(prefix="cfnrows-")) / "cloud.db")
    migrate.upgrade(url)
    print(json.dumps(asyncio.run(measure(url, args.count, args.passes))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
