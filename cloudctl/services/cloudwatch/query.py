"""GetMetricData's engine (also the evaluator's, for metric-math alarms): metric stat
queries read from the store, expressions evaluated over them in dependency order.

``run`` takes checked queries and returns one ``Result`` per returned series (an
expression giving an array of series returns one result per series, under its id).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cloudctl.services.cloudwatch import mathexpr
from cloudctl.services.cloudwatch.api import holder
from cloudctl.services.cloudwatch.series import Bucket, epoch, metric_key
from cloudctl.services.cloudwatch.slots import Points
from cloudctl.services.cloudwatch.stats import align, choose_resolution, slots

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass
class Query:
    """One checked MetricDataQuery."""

    id: str
    metric: MetricRef | None = None
    period: int = 60
    stat: str = "Average"
    unit: str | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = True


@dataclass
class Result:
    id: str
    label: str
    points: dict[int, float] = field(default_factory=dict)
    error: str | None = None


class QueryError(Exception):
    """A query set that cannot run (cycle, unknown id, math error)."""


async def metric_series(cloud: Cloud, account_id: str, region: str, q: Query, start: float,
                        end: float, now: float | None = None) -> dict[int, float]:
    """The statistic of a metric stat query per period start."""
    return (await stat_series(cloud, account_id, region, [q], start, end, now))[0]


async def stat_series(cloud: Cloud, account_id: str, region: str, queries: Sequence[Query],
                      start: float, end: float,
                      now: float | None = None) -> list[dict[int, float]]:
    """Each metric stat query's statistic per period start."""
    return [dict(zip(stamps, values, strict=True)) for stamps, values in
            await stat_lists(cloud, account_id, region, queries, start, end, now)]


async def stat_lists(cloud: Cloud, account_id: str, region: str, queries: Sequence[Query],
                     start: float, end: float, now: float | None = None) -> list[Points]:
    """Each metric stat query's period starts (ascending) and statistic; the queries
    sharing a resolution are read from the store together (one read for all their
    metrics)."""
    now = time.time() if now is None else now
    plans: dict[tuple[int, bool], list[int]] = {}
    keys: list[str] = []
    for i, q in enumerate(queries):
        assert q.metric is not None
        keys.append(metric_key(account_id, region, q.metric.namespace, q.metric.name,
                               q.metric.dimensions))
        resolution = choose_resolution(q.period, start, now)
        if resolution is not None:
            plans.setdefault((resolution, q.stat.startswith("p")), []).append(i)
    out: list[Points] = [([], []) for _ in queries]
    store = await holder(cloud).store()
    for (resolution, values), members in plans.items():
        first = align(start, resolution)
        if not values:  # the store computes the statistic: no bucket objects
            shapes: dict[tuple[int, str | None], list[int]] = {}
            for i in members:
                shapes.setdefault((queries[i].period, queries[i].unit), []).append(i)
            for (period, unit), group in shapes.items():
                wanted = sorted({keys[i] for i in group})
                by_stat: dict[str, dict[str, Points]] = {}
                for i in group:
                    stat = queries[i].stat
                    if stat not in by_stat:
                        by_stat[stat] = await store.stat_points(wanted, resolution, first,
                                                                end, period, unit, stat)
                    out[i] = by_stat[stat][keys[i]]
            continue
        buckets = await store.read(sorted({keys[i] for i in members}), resolution, first,
                                   int(end) + 1, values=values)
        by_key: dict[str, list[Bucket]] = {}
        for b in buckets:
            by_key.setdefault(b.metric_key, []).append(b)
        for i in members:
            q = queries[i]
            found: dict[int, float] = {}
            for slot, agg in slots(by_key.get(keys[i], []), first, end, q.period,
                                   q.unit).items():
                value = agg.statistic(q.stat)
                if value is not None:
                    found[slot] = value
            out[i] = (list(found), list(found.values()))
    return out


def dependency_order(queries: Sequence[Query]) -> list[Query]:
    """Queries with every expression after what it names (QueryError on a cycle)."""
    by_id = {q.id: q for q in queries}
    deps: dict[str, set[str]] = {}
    for q in queries:
        if q.expression is None:
            deps[q.id] = set()
            continue
        try:
            refs = mathexpr.references(mathexpr.parse(q.expression))
        except mathexpr.MathError as exc:
            raise QueryError(f"Error in expression '{q.id}': {exc}") from exc
        if "*" in refs:
            refs = {other.id for other in queries if other.metric is not None}
        for ref in refs:
            if ref not in by_id:
                raise QueryError(f"Error in expression '{q.id}': Unrecognized metric or "
                                 f"expression id: {ref}")
        deps[q.id] = refs - {q.id}
    done: list[Query] = []
    placed: set[str] = set()
    while len(done) < len(queries):
        ready = [q for q in queries if q.id not in placed and deps[q.id] <= placed]
        if not ready:
            raise QueryError("Circular dependency between metric math expressions.")
        for q in ready:
            done.append(q)
            placed.add(q.id)
    return done


async def run(cloud: Cloud, account_id: str, region: str, queries: Sequence[Query],
              start: datetime, end: datetime) -> list[Result]:
    """Every query's series; only those returning data are in the answer."""
    begin, finish = epoch(start), epoch(end)
    now = time.time()
    ordered = dependency_order(queries)
    stats = [q for q in ordered if q.metric is not None]
    values = await stat_series(cloud, account_id, region, stats, begin, finish, now)
    series: dict[str, mathexpr.Labelled] = {}
    for q, points in zip(stats, values, strict=True):
        assert q.metric is not None
        series[q.id] = mathexpr.Labelled(q.label or q.metric.name, points)
    step = min((q.period for q in stats), default=60)
    results: list[Result] = []
    for q in ordered:
        if q.expression is None:
            continue
        period = q.period or step
        first = align(begin, min(period, 60) if period < 60 else 60)
        grid = list(range(first, int(finish), period))
        ctx = mathexpr.Context(series, grid, [s.id for s in stats])
        try:
            value = mathexpr.evaluate(q.expression, ctx)
        except mathexpr.MathError as exc:
            results.append(Result(q.id, q.label or q.id, {}, str(exc)))
            continue
        if isinstance(value, float):
            series[q.id] = mathexpr.Labelled(q.label or q.id, dict.fromkeys(grid, value))
        elif isinstance(value, mathexpr.Labelled):
            series[q.id] = mathexpr.Labelled(q.label or q.id, value.points)
        else:
            for i, part in enumerate(value):
                if q.return_data:
                    results.append(Result(q.id, part.label if not q.label
                                          else f"{q.label} {part.label}", part.points))
                if i == 0:
                    series[q.id] = part
            continue
    for q in queries:
        if q.return_data and q.id in series and not any(r.id == q.id for r in results):
            found = series[q.id]
            results.append(Result(q.id, q.label or found.label, dict(found.points)))
    order = {q.id: i for i, q in enumerate(queries)}
    results.sort(key=lambda r: order[r.id])
    return results
