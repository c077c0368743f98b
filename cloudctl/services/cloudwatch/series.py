"""Metric data in the store's shape: data points (``Datum``), the metric key, and the
roll-up of data into buckets at each resolution AWS keeps, with AWS's retention.

A bucket holds sample count, sum, minimum, maximum and (where percentiles are allowed)
the raw values with their counts; buckets of the same metric, resolution, start and
unit merge by adding counts and sums and keeping extremes, so a store merges them on
ingest and a query never re-reads finer data.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

# resolution (seconds) -> retention (seconds), finest first
RETENTION: dict[int, int] = {1: 3 * 3600, 60: 15 * 86400, 300: 63 * 86400,
                             3600: 455 * 86400}
RESOLUTIONS = tuple(RETENTION)


@dataclass(frozen=True)
class StatisticSet:
    """A pre-aggregated set of samples (PutMetricData ``StatisticValues``)."""

    sample_count: float
    sum: float
    minimum: float
    maximum: float

    def as_values(self) -> dict[float, float] | None:
        """The raw values the set stands for, when AWS can tell them (for percentiles):
        one sample, or every sample equal; else None."""
        if self.sample_count == 1 and self.minimum == self.maximum == self.sum:
            return {self.sum: 1.0}
        if self.minimum == self.maximum and self.sum == self.minimum * self.sample_count:
            return {self.minimum: self.sample_count}
        return None


class Datum(NamedTuple):
    """One metric datum as PutMetricData takes it (one value, values with counts, or a
    statistic set) for one metric (namespace, name, sorted dimensions). A named tuple:
    made 20 to 1,000 times a call, it costs a third of a frozen dataclass."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    value: float | None = None
    values: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    stats: StatisticSet | None = None
    unit: str = "None"
    storage_resolution: int = 60



_make_datum = Datum._make  # positional, without NamedTuple.__new__'s keyword handling


def plain_datum(namespace: str, name: str, dimensions: tuple[tuple[str, str], ...],
                timestamp: datetime, value: float, unit: str) -> Datum:
    """The usual datum (one value, 60-s resolution) built positionally, a third of the
    keyword constructor's cost; the order and defaults are :class:`Datum`'s, kept here
    beside it (``tests/unit/test_cloudwatch_series.py`` compares the two)."""
    return _make_datum((namespace, name, dimensions, timestamp, value, (), (), None, unit, 60))

def canonical_dimensions(dims: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(dims))


def metric_key(account_id: str, region: str, namespace: str, name: str,
               dimensions: Iterable[tuple[str, str]]) -> str:
    """The store's id of a metric (each dimension set is its own metric)."""
    return metric_key_of(account_id, region, namespace, name, canonical_dimensions(dimensions))


@functools.lru_cache(maxsize=65536)
def metric_key_of(account_id: str, region: str, namespace: str, name: str,
         dimensions: tuple[tuple[str, str], ...]) -> str:
    """``metric_key`` of dimensions already canonical (sorted), cached."""
    text = json.dumps([account_id, region, namespace, name, dimensions],
                      separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def epoch(when: datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass
class Bucket:
    """One bucket of one metric: ``resolution`` seconds from ``ts`` (epoch seconds)."""

    metric_key: str
    resolution: int
    ts: int
    unit: str
    count: float
    sum: float
    minimum: float
    maximum: float
    values: dict[float, float] = field(default_factory=dict)
    raw: bool = True

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.raw = self.raw and other.raw
        if self.raw:
            for v, c in other.values.items():
                self.values[v] = self.values.get(v, 0.0) + c
        else:
            self.values = {}


def encode_values(values: dict[float, float]) -> str:
    """Raw values as stored text (``v*c`` items joined by commas, with a leading comma,
    so stored texts concatenate)."""
    if len(values) == 1:  # the usual bucket of a call: one value
        ((v, c),) = values.items()
        return f",{v!r}" if c == 1 else f",{v!r}*{c!r}"
    return "".join(f",{v!r}" if c == 1 else f",{v!r}*{c!r}" for v, c in values.items())


def decode_values(text: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for item in text.split(","):
        if not item:
            continue
        value, _, count = item.partition("*")
        v = float(value)
        out[v] = out.get(v, 0.0) + (float(count) if count else 1.0)
    return out


def _sample(datum: Datum) -> tuple[float, float, float, float, dict[float, float], bool]:
    """count, sum, min, max, raw values, whether percentiles are possible."""
    if datum.stats is not None:
        s = datum.stats
        raw_values = s.as_values()
        return (s.sample_count, s.sum, s.minimum, s.maximum, raw_values or {},
                raw_values is not None)
    if datum.values:
        counts = datum.counts or tuple(1.0 for _ in datum.values)
        values: dict[float, float] = {}
        for v, c in zip(datum.values, counts, strict=True):
            values[v] = values.get(v, 0.0) + c
        total = sum(counts)
        return (total, sum(v * c for v, c in zip(datum.values, counts, strict=True)),
                min(datum.values), max(datum.values), values, True)
    assert datum.value is not None
    return 1.0, datum.value, datum.value, datum.value, {datum.value: 1.0}, True


def roll_up(keyed: Sequence[tuple[str, Datum]], now: float,
            coarse: bool = True) -> list[Bucket]:
    """The buckets ``keyed`` (metric key, datum) make at every resolution still
    retained for their timestamps (``coarse=False``: at the finest one only, the
    embedded store rolling the others up at compaction), merged per bucket (sorted, so
    concurrent writers lock rows in one order). The finest bucket of each datum is made
    first (as a plain list: most are never merged); the coarser ones are merges of
    those."""
    finest: dict[tuple[str, int, int, str], list[Any]] = {}
    high_after = now - RETENTION[1]
    for key, datum in keyed:
        v = datum.value
        if v is not None and datum.stats is None and not datum.values:
            sample: list[Any] = [1.0, v, v, v, {v: 1.0}, True]
        else:
            sample = list(_sample(datum))
            if sample[0] <= 0:
                continue
        when = epoch(datum.timestamp)
        res = 1 if datum.storage_resolution == 1 and (coarse or int(when) >= high_after) else 60
        start = int(when // res) * res
        slot = (key, res, start, datum.unit)
        known = finest.get(slot)
        if known is None:
            finest[slot] = sample
        else:
            _merge_sample(known, sample)
    if not coarse:
        return [Bucket(key, res, start, unit, *finest[(key, res, start, unit)])
                for key, res, start, unit in sorted(finest)]
    return _coarsen(finest, now)


def coarsen(buckets: Iterable[Bucket], now: float) -> list[Bucket]:
    """Finest buckets (1 s or 1 min, as the embedded store's ingest takes them) with
    their roll-up into every coarser resolution still retained: ``roll_up``'s buckets
    of the data they hold."""
    finest: dict[tuple[str, int, int, str], list[Any]] = {}
    for b in buckets:
        sample = [b.count, b.sum, b.minimum, b.maximum, dict(b.values), b.raw]
        slot = (b.metric_key, b.resolution, b.ts, b.unit)
        known = finest.get(slot)
        if known is None:
            finest[slot] = sample
        else:
            _merge_sample(known, sample)
    return _coarsen(finest, now)


def _coarsen(finest: dict[tuple[str, int, int, str], list[Any]],
             now: float) -> list[Bucket]:
    """Finest samples (bucket -> [count, sum, min, max, values, raw]) as buckets of
    their own and of every coarser resolution still retained, sorted."""
    merged: dict[tuple[str, int, int, str], Bucket] = {}
    for (key, res, start, unit), (count, total, low, high, values, raw) in finest.items():
        age = now - start
        for level in RESOLUTIONS:
            if level < res or age > RETENTION[level]:
                continue
            at = start // level * level
            slot = (key, level, at, unit)
            known_bucket = merged.get(slot)
            if known_bucket is None:
                merged[slot] = Bucket(key, level, at, unit, count, total, low, high,
                                      dict(values), raw)
            else:
                known_bucket.merge(Bucket(key, level, at, unit, count, total, low, high,
                                          values, raw))
    return [merged[k] for k in sorted(merged)]


def _merge_sample(known: list[Any], other: list[Any]) -> None:
    """``Bucket.merge`` on roll_up's [count, sum, min, max, values, raw] lists."""
    known[0] += other[0]
    known[1] += other[1]
    known[2] = min(known[2], other[2])
    known[3] = max(known[3], other[3])
    known[5] = known[5] and other[5]
    if known[5]:
        for value, count in other[4].items():
            known[4][value] = known[4].get(value, 0.0) + count
    else:
        known[4] = {}


def merge_buckets(buckets: Iterable[Bucket]) -> list[Bucket]:
    """Partial buckets (a store that appends) merged into one per bucket."""
    merged: dict[tuple[str, int, int, str], Bucket] = {}
    for b in buckets:
        k = (b.metric_key, b.resolution, b.ts, b.unit)
        known = merged.get(k)
        if known is None:
            merged[k] = Bucket(b.metric_key, b.resolution, b.ts, b.unit, b.count, b.sum,
                               b.minimum, b.maximum, dict(b.values), b.raw)
        else:
            known.merge(b)
    return [merged[k] for k in sorted(merged)]
