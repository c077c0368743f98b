"""Statistics of merged buckets over periods: the standard five, percentiles (``pNN``,
from raw values only) and the choice of stored resolution for a period and data age
(AWS: periods under a minute only for the last 3 hours, multiples of 60 s up to 15
days, of 300 s up to 63 days, of 3600 s beyond)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cloudctl.services.cloudwatch.series import RESOLUTIONS, RETENTION, Bucket

STANDARD = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")


def is_percentile(stat: str) -> bool:
    return bool(PERCENTILE.match(stat))


def choose_resolution(period: int, start: float, now: float) -> int | None:
    """The coarsest stored resolution that divides ``period`` and still holds data
    from ``start``; None when AWS would return no data for that period and age."""
    age = now - start
    usable = [res for res in RESOLUTIONS if period % res == 0 and age <= RETENTION[res]]
    return max(usable) if usable else None


def align(start: float, resolution: int) -> int:
    """Start rounded down as AWS rounds it for the resolution used."""
    return int(start // resolution) * resolution


@dataclass
class Aggregate:
    """The merge of every bucket in one period (and unit)."""

    count: float
    sum: float
    minimum: float
    maximum: float
    values: dict[float, float]
    raw: bool
    slot: int = 0  # the period start, when made from a database aggregate

    @classmethod
    def of(cls, buckets: Iterable[Bucket]) -> Aggregate | None:
        agg: Aggregate | None = None
        for b in buckets:
            if agg is None:
                agg = cls(b.count, b.sum, b.minimum, b.maximum, dict(b.values), b.raw)
                continue
            agg.count += b.count
            agg.sum += b.sum
            agg.minimum = min(agg.minimum, b.minimum)
            agg.maximum = max(agg.maximum, b.maximum)
            agg.raw = agg.raw and b.raw
            if agg.raw:
                for v, c in b.values.items():
                    agg.values[v] = agg.values.get(v, 0.0) + c
        return agg

    def standard(self, name: str) -> float:
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.sum
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        return self.sum / self.count if self.count else 0.0

    def percentile(self, name: str) -> float | None:
        """Nearest-rank percentile of the raw values; None without raw values."""
        if not self.raw or not self.values:
            return None
        p = float(name[1:])
        ordered = sorted(self.values.items())
        total = sum(c for _, c in ordered)
        rank = max(1.0, math.ceil(p / 100.0 * total))
        seen = 0.0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                return value
        return ordered[-1][0]

    def statistic(self, name: str) -> float | None:
        if name in STANDARD:
            return self.standard(name)
        return self.percentile(name)


def standard_points(rows: Sequence[tuple[str, int, float, float, float, float]],
                    name: str) -> dict[int, float]:
    """Period start -> standard statistic ``name`` of aggregated rows (metric key, period
    start, count, sum, minimum, maximum), as ``Aggregate.standard`` gives it, in one pass
    with no object per period."""
    if name == "SampleCount":
        return {r[1]: r[2] for r in rows}
    if name == "Sum":
        return {r[1]: r[3] for r in rows}
    if name == "Minimum":
        return {r[1]: r[4] for r in rows}
    if name == "Maximum":
        return {r[1]: r[5] for r in rows}
    return {r[1]: r[3] / r[2] if r[2] else 0.0 for r in rows}


def periods(buckets: Sequence[Bucket], start: int, end: float, period: int,
            unit: str | None) -> dict[tuple[int, str], Aggregate]:
    """(period start, unit) -> aggregate of the buckets in it (``unit`` filters)."""
    grouped: dict[tuple[int, str], list[Bucket]] = {}
    for b in buckets:
        if unit is not None and b.unit != unit:
            continue
        if b.ts < start or b.ts >= end:
            continue
        slot = start + (b.ts - start) // period * period
        grouped.setdefault((slot, b.unit), []).append(b)
    out: dict[tuple[int, str], Aggregate] = {}
    for key in sorted(grouped):
        agg = Aggregate.of(grouped[key])
        if agg is not None:
            out[key] = agg
    return out


def slots(buckets: Sequence[Bucket], start: int, end: float, period: int,
          unit: str | None) -> dict[int, Aggregate]:
    """Period start -> aggregate of its buckets of every unit (``unit`` filters)."""
    grouped: dict[int, list[Bucket]] = {}
    for b in buckets:
        if (unit is not None and b.unit != unit) or b.ts < start or b.ts >= end:
            continue
        grouped.setdefault(start + (b.ts - start) // period * period, []).append(b)
    out: dict[int, Aggregate] = {}
    for slot in sorted(grouped):
        agg = Aggregate.of(grouped[slot])
        if agg is not None:
            out[slot] = agg
    return out
