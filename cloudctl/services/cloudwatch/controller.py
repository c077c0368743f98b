"""The alarm controller: evaluates every alarm each evaluation interval (AWS: every
minute), leader only, on the reconcile base, and carries out the actions owed.

Keys: ``shard:<n>`` (the metric alarms whose id is n modulo ``SHARDS``, read and
evaluated together: one store read per window for a whole shard; listed when one of
them is due this tick, found by one read: an idle cloud does not read ``SHARDS``
empty shards a round), ``composite`` (the
composite alarms, from the states of the alarms they name), ``actions`` (the outbox),
``retention`` (expired points) and ``compaction`` (closed buckets into blocks). An alarm is evaluated once per tick
(``evaluated_at``); a state change is a conditional update (``transitions.transition``),
so neither two evaluators nor a restart change an alarm twice for one tick.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from cloudctl.core.reconcile import Leadership, Reconciler, Retry, always_leader
from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.cloudwatch import actions, composite, query
from cloudctl.services.cloudwatch import properties as props
from cloudctl.services.cloudwatch.api import holder
from cloudctl.services.cloudwatch.evaluator import EXTRA, Outcome, Rule, evaluate
from cloudctl.services.cloudwatch.metrics import parse_queries
from cloudctl.services.cloudwatch.models import CwAlarm
from cloudctl.services.cloudwatch.series import metric_key
from cloudctl.services.cloudwatch.stats import choose_resolution, slots
from cloudctl.services.cloudwatch.transitions import transition

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)
SHARDS = 8


def rule_of(definition: dict[str, Any]) -> Rule:
    ext = definition.get("ExtendedStatistic")
    return Rule(definition["ComparisonOperator"], float(definition["Threshold"]),
                int(definition["EvaluationPeriods"]),
                int(definition.get("DatapointsToAlarm") or definition["EvaluationPeriods"]),
                definition.get("TreatMissingData") or "missing",
                float(ext[1:]) if ext else None,
                definition.get("EvaluateLowSampleCountPercentile") or "evaluate")


def window(period: int, periods: int, now: float) -> tuple[int, int, list[int]]:
    """The evaluation range: start, end and the period starts (oldest first)."""
    end = int(now // period) * period
    start = end - (periods + EXTRA) * period
    return start, end, list(range(start, end, period))


class AlarmController(Reconciler):
    name = "cloudwatch-alarms"
    workers = 2

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader,
                 clock: Any = time.time) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.clock = clock
        self.evaluations = 0
        self._swept = 0.0
        self._compacted = 0.0

    def interval(self) -> float:
        return float(self.cloud.properties.get(props.EVALUATION_INTERVAL))

    def tick(self, now: float) -> int:
        step = max(1, int(self.interval()))
        return int(now // step) * step

    async def list_keys(self) -> list[str]:
        tick = self.tick(self.clock())
        async with self.cloud.sessions() as session:
            due = (await session.execute(select(CwAlarm.id % SHARDS).where(
                CwAlarm.kind == "MetricAlarm", CwAlarm.evaluated_at < tick).distinct(
            ))).scalars().all()
        return [*(f"shard:{int(i)}" for i in sorted(due)), "composite", "actions",
                "retention", "compaction"]

    async def sync(self, key: str) -> None:
        if key == "actions":
            while await actions.run_pending(self.cloud, recover=True) >= 100:
                pass
        elif key == "retention":
            await self._retention()
        elif key == "compaction":
            await self._compaction()
        elif key == "composite":
            if await self._composites():
                self.wake("actions")
        elif key.startswith("shard:"):
            if await self._shard(int(key.split(":", 1)[1])):
                self.wake("composite")
                self.wake("actions")

    async def _retention(self) -> None:
        now = self.clock()
        every = float(self.cloud.properties.get(props.RETENTION_INTERVAL))
        if now < self._swept + every:
            raise Retry(self._swept + every - now)  # its own timer, not the next round
        store = await holder(self.cloud).store()
        removed = await store.expire(now)
        self._swept = now
        self._later("retention", every)
        if removed:
            log.info("cloudwatch: %d expired metric buckets removed", removed)

    async def _compaction(self) -> None:
        """Compact every ``cloudwatch.compaction_interval_sec`` on the key's own timer
        (not the evaluation rounds'); a changed interval wakes it (alarms.py) and a wake
        before it is due waits for the rest of the interval."""
        now = self.clock()
        every = float(self.cloud.properties.get(props.COMPACTION_INTERVAL))
        if now < self._compacted + every:
            raise Retry(self._compacted + every - now)
        store = await holder(self.cloud).store()
        moved = await store.compact(now)
        self._compacted = now
        self._later("compaction", every)
        if moved:
            log.info("cloudwatch: %d metric buckets compacted into blocks", moved)

    async def _shard(self, shard: int) -> int:
        now = self.clock()
        tick = self.tick(now)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(CwAlarm).where(
                CwAlarm.kind == "MetricAlarm", CwAlarm.evaluated_at < tick,
                CwAlarm.id % SHARDS == shard))).scalars())
        if not rows:
            return 0
        outcomes = await self.outcomes(rows, now)
        return await self._apply(rows, outcomes, tick)

    async def outcomes(self, rows: Sequence[CwAlarm], now: float) -> list[Outcome]:
        """Each alarm's outcome now (simple alarms read per window in one batch)."""
        simple: dict[tuple[int, int, int], list[int]] = defaultdict(list)
        defs = [json.loads(r.definition) for r in rows]
        results: list[Outcome | None] = [None] * len(rows)
        for i, (row, d) in enumerate(zip(rows, defs, strict=True)):
            if d.get("Metrics"):
                try:
                    results[i] = await self._math_outcome(row, d, now)
                except (query.QueryError, AwsError) as exc:  # one alarm never blocks a shard
                    results[i] = Outcome("INSUFFICIENT_DATA",
                                         f"Unable to evaluate the metric math: {exc}", 0, [])
                continue
            period = int(d["Period"])
            start, end, _ = window(period, int(d["EvaluationPeriods"]), now)
            resolution = choose_resolution(period, start, now) or 60
            simple[(resolution, start, end)].append(i)
        store = await holder(self.cloud).store()
        for (resolution, start, end), members in simple.items():
            keys = {i: metric_key(rows[i].account_id, rows[i].region, defs[i]["Namespace"],
                                  defs[i]["MetricName"],
                                  [(x["Name"], x["Value"]) for x in defs[i]["Dimensions"]])
                    for i in members}
            wants = any("ExtendedStatistic" in defs[i] for i in members)
            buckets = await store.read(sorted(set(keys.values())), resolution, start, end,
                                       values=wants)
            by_key: dict[str, list[Any]] = defaultdict(list)
            for b in buckets:
                by_key[b.metric_key].append(b)
            for i in members:
                d = defs[i]
                period = int(d["Period"])
                _, _, grid = window(period, int(d["EvaluationPeriods"]), now)
                stat = d.get("Statistic") or d.get("ExtendedStatistic")
                aggs = slots(by_key.get(keys[i], []), start, end, period, d.get("Unit"))
                values = [aggs[t].statistic(stat) if t in aggs else None for t in grid]
                samples = [aggs[t].count if t in aggs else None for t in grid]
                results[i] = evaluate(rule_of(d), values, samples)
        self.evaluations += len(rows)
        return [r if r is not None else Outcome(None, "", 0, []) for r in results]

    async def _math_outcome(self, row: CwAlarm, d: dict[str, Any], now: float) -> Outcome:
        queries = parse_queries(list(d["Metrics"]), where="Metrics")
        period = next((q.period for q in queries if q.metric is not None), 60)
        for q in queries:
            if q.expression is not None and not q.period:
                q.period = period
        start, end, grid = window(period, int(d["EvaluationPeriods"]), now)
        results = await query.run(self.cloud, row.account_id, row.region, queries,
                                  datetime.fromtimestamp(start, UTC),
                                  datetime.fromtimestamp(end, UTC))
        points = results[0].points if results else {}
        return evaluate(rule_of(d), [points.get(t) for t in grid])

    async def _apply(self, rows: Sequence[CwAlarm], outcomes: Sequence[Outcome],
                     tick: int) -> int:
        changed = 0
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            quiet: list[int] = []
            for row, outcome in zip(rows, outcomes, strict=True):
                if outcome.state is None or outcome.state == row.state:
                    quiet.append(row.id)
                    continue
                data = json.dumps({"version": "1.0", "queryDate": now.isoformat(),
                                   "recentDatapoints": list(outcome.considered),
                                   "threshold": json.loads(row.definition).get("Threshold")})
                # ``row`` stays detached: a lost race (another writer moved the alarm
                # first) then changes nothing in this session
                if await transition(session, row, outcome.state, outcome.reason, data, now,
                                    evaluated_at=tick):
                    changed += 1
            for i in range(0, len(quiet), 500):
                await session.execute(update(CwAlarm).where(
                    CwAlarm.id.in_(quiet[i:i + 500]), CwAlarm.evaluated_at < tick)
                    .values(evaluated_at=tick).execution_options(synchronize_session=False))
        return changed

    async def _composites(self) -> int:
        now = self.clock()
        tick = self.tick(now)
        async with self.cloud.sessions() as session, session.begin():
            rows = list((await session.execute(select(CwAlarm).where(
                CwAlarm.kind == "CompositeAlarm"))).scalars())
            if not rows:
                return 0
            states: dict[tuple[str, str, str], str] = {}
            accounts = {(r.account_id, r.region) for r in rows}
            for account, region in accounts:
                for name, arn, state in (await session.execute(
                        select(CwAlarm.name, CwAlarm.arn, CwAlarm.state).where(
                            CwAlarm.account_id == account, CwAlarm.region == region))):
                    states[(account, region, name)] = state
                    states[(account, region, arn)] = state
            changed = 0
            stamp = utcnow()
            for row in rows:
                rule = json.loads(row.definition)["AlarmRule"]
                scope = (row.account_id, row.region)

                def state_of(target: str, scope: tuple[str, str] = scope) -> str | None:
                    return states.get((*scope, target))

                ok = composite.holds(composite.parse(rule), state_of)
                state = "ALARM" if ok else "OK"
                if state == row.state:
                    row.evaluated_at = tick
                    continue
                reason = f"{'At least one' if ok else 'No'} alarm rule condition holds: {rule}"
                if await transition(session, row, state, reason, None, stamp,
                                    evaluated_at=tick):
                    changed += 1
        return changed


CONTROLLER = RuntimeKey[AlarmController]("cloudwatch.alarms")
