"""Failover of the elected controllers, and what fencing costs each write.

1. Failover: two cloud hosts (``cloudctl up``, no node) on one PostgreSQL and one
   ZooKeeper (session timeout 4 s). Ten times: kill -9 the host that leads the
   CloudFormation engine, send CreateStack (one security group) to the survivor, and
   time from the kill to (a) the survivor's term recorded (DescribeServices shows it
   leading) and (b) the stack CREATE_COMPLETE; then restart the killed host (it comes
   back a standby).
2. Fencing: 400 write transactions (one UPDATE each, through the ORM) in one process
   without a term and with one (each commit then also runs the term check), on
   PostgreSQL and SQLite: the per-transaction difference.

Run: ``python -m bench.failover``; writes bench/results/failover.md.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.api.test_failover import SESSION_TIMEOUT, HostCloud, _host, _leader
from tests.infra.postgres import start_postgres
from tests.infra.zookeeper import start_zookeeper

RESULTS = Path(__file__).resolve().parent / "results" / "failover.md"
KILLS = 10
WRITES = 400
TEMPLATE = json.dumps({"Resources": {"Group": {
    "Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "bench"}}}})


def _name(host: HostCloud) -> str:
    return host.extra["CLOUDCTL_HOST_ID"]


def _poll(fn: Any, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return time.monotonic()
        except Exception:
            pass
        time.sleep(0.02)
    raise RuntimeError("timed out")


def _leads(empyrean: Any, host: str) -> bool:
    """Whether DescribeServices shows ``host`` leading the CloudFormation engine (one
    client reused: creating a botocore client per poll costs more than the poll)."""
    return any(s["ServiceId"]["Name"] == f"{host}.cloudformation" and s["LocalState"] ==
               "ENABLED" for s in empyrean.describe_services()["ServiceStatuses"])


def failover() -> tuple[list[float], list[float]]:
    pg, zk = start_postgres(), start_zookeeper()
    hosts: list[HostCloud] = []
    takeovers: list[float] = []
    works: list[float] = []
    try:
        url = pg.create_database("bench_failover")
        hosts.append(_host("ha-a", url, zk.connect, None))
        hosts[0].start()
        hosts.append(_host("ha-b", url, zk.connect, hosts[0]))
        hosts[1].start()
        for i in range(KILLS):
            _poll(lambda: _leader(hosts[0]) is not None)
            leader_name = _leader(hosts[0])
            leader = next(h for h in hosts if _name(h) == leader_name)
            survivor = next(h for h in hosts if h is not leader)
            survivor_name = _name(survivor)
            empyrean = survivor.client("empyrean", path="/services/Empyrean")
            cfn = survivor.client("cloudformation")
            assert leader.process is not None
            leader.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            leader.process.wait()
            stack = f"bench-failover-{i}"
            cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE)
            took = _poll(lambda e=empyrean, n=survivor_name: _leads(e, n)) - killed
            done = _poll(lambda c=cfn, n=stack: c.describe_stacks(StackName=n)["Stacks"][0][
                "StackStatus"] == "CREATE_COMPLETE") - killed
            takeovers.append(took)
            works.append(done)
            print(f"kill {i + 1}: term after {took:.2f}s, stack done after {done:.2f}s")
            leader.start()
    finally:
        for host in hosts:
            host.stop()
            shutil.rmtree(host.data_dir, ignore_errors=True)
        zk.remove()
        pg.stop()
    return takeovers, works


async def _writes(url: str, fenced: bool) -> float:
    from cloudctl.core import fencing, terms
    from cloudctl.core.fencing import TERM, Term
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.empyrean.models import ServiceHost

    fencing.install()
    engine = create_engine(url)
    sessions = session_factory(engine)
    claim, _release = terms.claimer(sessions, "bench")
    await claim("bench", 1)
    now = time.time()
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, UTC)
    async with sessions() as session, session.begin():
        if await session.get(ServiceHost, "bench") is None:
            session.add(ServiceHost(host="bench", endpoint="", state="ENABLED",
                                    controllers=[], leading=[], heartbeat=stamp,
                                    started_at=stamp))
    token = TERM.set(Term("bench", 1) if fenced else None)
    try:
        start = time.perf_counter()
        for i in range(WRITES):
            async with sessions() as session, session.begin():
                row = await session.get(ServiceHost, "bench")
                assert row is not None
                row.endpoint = str(i)
        return (time.perf_counter() - start) / WRITES * 1000
    finally:
        TERM.reset(token)
        await engine.dispose()


def fencing_cost() -> dict[str, tuple[float, float]]:
    from cloudctl.db import migrate

    out: dict[str, tuple[float, float]] = {}
    pg = start_postgres()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fencing-"))
    try:
        urls = {"PostgreSQL": pg.create_database("bench_fencing"),
                "SQLite": f"sqlite+aiosqlite:///{tmp / 'cloud.db'}"}
        for name, url in urls.items():
            migrate.upgrade(url)
            asyncio.run(_writes(url, False))  # warm up
            plain = statistics.median(asyncio.run(_writes(url, False)) for _ in range(3))
            fenced = statistics.median(asyncio.run(_writes(url, True)) for _ in range(3))
            out[name] = (plain, fenced)
            print(f"{name}: {plain:.3f} ms plain, {fenced:.3f} ms fenced per transaction")
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    cost = fencing_cost()
    takeovers, works = failover()
    lines = [
        "# Controller failover and fencing",
        "",
        f"Two cloud hosts on one PostgreSQL and one ZooKeeper (session timeout "
        f"{SESSION_TIMEOUT:.0f} s), 2 shared cores; `python -m bench.failover`.",
        "",
        f"## Failover over {KILLS} kill -9 of the CloudFormation leader",
        "",
        "| from the kill to | p50 | max |",
        "|---|---|---|",
        f"| the survivor's term recorded | {statistics.median(takeovers):.2f} s | "
        f"{max(takeovers):.2f} s |",
        f"| a stack sent after the kill CREATE_COMPLETE | {statistics.median(works):.2f} s | "
        f"{max(works):.2f} s |",
        "",
        "Bounded by the session timeout (the dead leader's ephemeral znode lives until its "
        "session expires), plus the standby's watch, its claim in `leader_terms` and the "
        "engine's first resync. Each value: "
        + ", ".join(f"{t:.2f}" for t in takeovers) + " s (term); "
        + ", ".join(f"{t:.2f}" for t in works) + " s (stack).",
        "",
        f"## Fencing cost per write transaction ({WRITES} ORM updates, median of 3 runs)",
        "",
        "| database | without a term | with a term (checked) | difference |",
        "|---|---|---|---|",
    ]
    for name, (plain, fenced) in cost.items():
        lines.append(f"| {name} | {plain:.3f} ms | {fenced:.3f} ms | "
                     f"{fenced - plain:+.3f} ms ({(fenced / plain - 1) * 100:+.0f}%) |")
    lines += ["", "The check is one `UPDATE leader_terms ... WHERE kind AND epoch` in the "
              "transaction, before its COMMIT; read-only transactions and API requests "
              "(no term) skip it.", ""]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
