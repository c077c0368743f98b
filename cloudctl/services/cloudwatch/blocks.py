"""Packed blocks of the embedded store: ``SLOTS`` consecutive buckets of one metric,
resolution and unit in one row (``cw_blocks``), as arrays of sample count, sum, minimum
and maximum (little-endian float64), whether each slot still has its raw values, and
those values (JSON ``{slot: "v*c,..."}``).

Ingest upserts one ``cw_points`` row a bucket (cheap to merge into); compaction moves
closed buckets into blocks, so that a week of 1-minute data is 7 rows a metric and a
statistics query is array arithmetic over whole blocks instead of one Python object per
bucket. An empty slot has count 0 (ingest never stores a bucket of no samples).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cloudctl.services.cloudwatch.slots import SLOTS, Points, block_start, span

__all__ = ["FLOAT", "SLOTS", "Block", "Dense", "Floats", "Points", "block_start", "floats",
           "span"]

FLOAT = np.dtype("<f8")
Floats = npt.NDArray[np.float64]


def floats(data: bytes) -> Floats:
    return np.frombuffer(data, dtype=FLOAT)


@dataclass
class Block:
    """One block being merged into (compaction)."""

    count: Floats = field(default_factory=lambda: np.zeros(SLOTS, FLOAT))
    sum: Floats = field(default_factory=lambda: np.zeros(SLOTS, FLOAT))
    minimum: Floats = field(default_factory=lambda: np.full(SLOTS, np.inf, FLOAT))
    maximum: Floats = field(default_factory=lambda: np.full(SLOTS, -np.inf, FLOAT))
    raw: npt.NDArray[np.uint8] = field(default_factory=lambda: np.ones(SLOTS, np.uint8))
    vals: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: Any) -> Block:
        """From a stored row (count, sum, min, max, raw, vals)."""
        count, total, low, high, raw, vals = row
        return cls(floats(count).copy(), floats(total).copy(), floats(low).copy(),
                   floats(high).copy(), np.frombuffer(raw, dtype=np.uint8).copy(),
                   {int(k): v for k, v in json.loads(vals or "{}").items()})

    def add(self, slot: int, count: float, total: float, low: float, high: float,
            vals: str, raw: bool) -> None:
        """Merge one bucket into ``slot`` (as the store's upsert merges rows)."""
        self.count[slot] += count
        self.sum[slot] += total
        self.minimum[slot] = min(self.minimum[slot], low)
        self.maximum[slot] = max(self.maximum[slot], high)
        if self.raw[slot] and raw:
            if vals:
                self.vals[slot] = self.vals.get(slot, "") + vals
        else:
            self.raw[slot] = 0
            self.vals.pop(slot, None)

    def clear_before(self, slot: int) -> bool:
        """Empty the slots before ``slot`` (past the retention); whether any had samples."""
        if not self.count[:slot].any():
            return False
        self.count[:slot] = 0.0
        self.sum[:slot] = 0.0
        self.minimum[:slot] = np.inf
        self.maximum[:slot] = -np.inf
        self.raw[:slot] = 1
        self.vals = {k: v for k, v in self.vals.items() if k >= slot}
        return True

    def columns(self) -> tuple[bytes, bytes, bytes, bytes, bytes, str]:
        return (self.count.astype(FLOAT).tobytes(), self.sum.astype(FLOAT).tobytes(),
                self.minimum.astype(FLOAT).tobytes(), self.maximum.astype(FLOAT).tobytes(),
                self.raw.tobytes(), json.dumps({str(k): v for k, v in self.vals.items()},
                                               separators=(",", ":")))


class Dense:
    """One metric's buckets from ``first`` at ``resolution`` over ``n`` slots as arrays,
    filled from blocks and from buckets not yet compacted."""

    def __init__(self, first: int, resolution: int, n: int) -> None:
        self.first, self.resolution, self.n = first, resolution, n
        self.count = np.zeros(n, FLOAT)
        self.sum = np.zeros(n, FLOAT)
        self.minimum = np.full(n, np.inf, FLOAT)
        self.maximum = np.full(n, -np.inf, FLOAT)

    def add_block(self, start: int, count: bytes, total: bytes, low: bytes | None,
                  high: bytes | None) -> None:
        offset = (start - self.first) // self.resolution
        lo, hi = max(0, -offset), min(SLOTS, self.n - offset)
        if lo >= hi:
            return
        at = slice(offset + lo, offset + hi)
        self.count[at] += floats(count)[lo:hi]
        self.sum[at] += floats(total)[lo:hi]
        if low is not None and high is not None:
            np.minimum(self.minimum[at], floats(low)[lo:hi], out=self.minimum[at])
            np.maximum(self.maximum[at], floats(high)[lo:hi], out=self.maximum[at])

    def add_rows(self, rows: list[tuple[int, float, float, float, float]]) -> None:
        """Buckets (ts, count, sum, min, max) not in a block."""
        if not rows:
            return
        table = np.array(rows, dtype=FLOAT)
        index = ((table[:, 0].astype(np.int64) - self.first) // self.resolution)
        keep = (index >= 0) & (index < self.n)
        index, table = index[keep], table[keep]
        np.add.at(self.count, index, table[:, 1])
        np.add.at(self.sum, index, table[:, 2])
        np.minimum.at(self.minimum, index, table[:, 3])
        np.maximum.at(self.maximum, index, table[:, 4])

    def statistic(self, stat: str, period: int, end: float) -> Points:
        """The period starts and the standard statistic ``stat`` of the periods with
        samples (as ``stats.Aggregate.standard``), starting before ``end``."""
        k = period // self.resolution
        m = -(-self.n // k)
        pad = m * k - self.n

        def fold(values: Floats, fill: float, op: Any) -> Floats:
            if k == 1:
                return values
            table = np.concatenate([values, np.full(pad, fill, FLOAT)]).reshape(m, k)
            acc = table[:, 0].copy()
            for j in range(1, k):  # one column at a time: the order a sequential sum adds
                op(acc, table[:, j], out=acc)
            return acc

        count = fold(self.count, 0.0, np.add)
        starts = self.first + np.arange(m, dtype=np.int64) * period
        mask = (count > 0) & (starts < end)
        if stat == "SampleCount":
            values = count
        elif stat == "Minimum":
            values = fold(self.minimum, np.inf, np.minimum)
        elif stat == "Maximum":
            values = fold(self.maximum, -np.inf, np.maximum)
        else:
            values = fold(self.sum, 0.0, np.add)
            if stat != "Sum":
                values = np.divide(values, count, out=np.zeros(m, FLOAT), where=mask)
        return starts[mask].tolist(), values[mask].tolist()
