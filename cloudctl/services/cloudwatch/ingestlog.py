"""PutMetricData's ingest log: a group commit's usual data appended as one row.

On file-backed SQLite a flush of the usual calls (``ingest.fresh_rows``: one finite
value a datum at 60-second resolution, each at its ``ingest.PART`` of the minute) does
not upsert one ``cw_fresh`` row a datum: it appends one ``cw_ingest`` row holding the
flush's data packed (``pack``: metric key, part start, unit, value, in the calls'
order). Upserting a datum into its part row rewrote that row's growing text of raw
values (the percentiles' source) and dirtied the row's page, one page of the table a
datum for a hashed key: a commit of ~80 data wrote ~80 pages. An appended row is one or
two pages a commit; ``StoreHolder`` drains the log soon after (``DRAIN_AFTER``) and
compaction drains it first, folding each (metric, part, unit) of all drained rows into
one upsert (``expanded``: counts and sums added in the log's order, raw texts joined).

Every reader of ``cw_fresh`` reads the log too, in the same snapshot (``entries``
filters the decoded rows: 60-second data, so only reads at 60 s or coarser), and a
drain deletes log rows and writes their ``cw_fresh`` rows in one transaction: a read
counts each datum once whether it was drained or not. Durability is the log's commit
(the call is answered after it). PostgreSQL and Cassandra never write the log (they
keep the general path); their reads skip it.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Sequence
from functools import reduce
from operator import add
from typing import Any

TABLE = "cw_ingest"
APPEND = "INSERT INTO cw_ingest (data) VALUES (?)"
# seconds after a flush appended to the log before the holder drains it: a drain
# upserts each (metric, part) it holds once, rewriting that row's growing text of raw
# values, so draining less often upserts less (PutMetricData bench, 1,000 metrics at
# ~3,000 calls/s: 0.5 s 0.287-0.311, 1 s 0.277-0.286, 2 s 0.290 ms of CPU a call; p99
# unchanged; the standalone model of 0039 had 0.064 / 0.054 ms for 0.5 / 1 s)
DRAIN_AFTER = 1.0

Entry = tuple[int, str, float]  # part start, unit, value of one 60-second datum
Logged = tuple[str, int, str, float]  # a logged datum: metric key, part start, unit, value


class _Plain(pickle.Unpickler):
    """An unpickler of plain data only (lists, tuples, text, numbers): no class or
    function named in a log row is ever looked up."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"not plain data: {module}.{name}")


def unpack(data: bytes) -> list[Logged]:
    """The (metric key, part start, unit, value) of a log row, in order."""
    found: list[Logged] = _Plain(io.BytesIO(data)).load()
    return found


def pack(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """A log row of ``cw_fresh`` upsert rows of single 60-second values (``ingest.
    upsert_row``'s): ``pack_entries`` of their (metric key, ts, unit, value)."""
    return pack_entries([(r[0], r[2], r[3], r[5]) for r in rows])


def pack_entries(entries: list[Logged]) -> bytes:
    """A log row of (metric key, part start, unit, value) entries (``ingest.
    fresh_entries``), in order, as a pickle (protocol 5: readable by every later Python;
    a fifth of ``json``'s time to write and a third to read, measured on a flush of 80:
    10 / 8 µs against 47 / 28)."""
    return pickle.dumps(entries, 5)


def upsert_row(entry: Logged) -> tuple[Any, ...]:
    """The ``cw_fresh`` upsert row of one logged datum (``store.point_rows``' shape)."""
    key, ts, unit, value = entry
    return (key, 60, ts, unit, 1.0, value, value, value, f",{value!r}", True)


def expanded(texts: Iterable[bytes]) -> list[tuple[Any, ...]]:
    """The ``cw_fresh`` upsert rows of log rows (in log order): one a (metric, part,
    unit), its values added in order, sorted by key (the table's order)."""
    parts: dict[tuple[str, int, str], list[float]] = {}
    for text in texts:
        for entry in unpack(text):
            slot = entry[:3]
            known = parts.get(slot)
            if known is None:
                parts[slot] = [entry[3]]
            else:
                known.append(entry[3])
    out = []
    for (key, ts, unit), values in sorted(parts.items()):
        if len(values) == 1:
            value = values[0]
            out.append((key, 60, ts, unit, 1.0, value, value, value, f",{value!r}", True))
            continue
        # added in the log's order, as the upserts added them (not ``sum``: its start
        # and, from Python 3.12, its compensation differ in the last bit)
        out.append((key, 60, ts, unit, float(len(values)), reduce(add, values),
                    min(values), max(values),
                    "," + ",".join(map(repr, values)), True))
    return out


def entries(texts: Iterable[bytes], keys: Iterable[str], resolution: int, lo: int,
            hi: int) -> dict[str, list[Entry]]:
    """The logged data of ``keys`` a read at ``resolution`` sees (none below 60 s),
    whose part starts are in [lo, hi), by metric."""
    if resolution < 60:
        return {}
    wanted = set(keys)
    out: dict[str, list[Entry]] = {}
    for text in texts:
        for key, ts, unit, value in unpack(text):
            if key in wanted and lo <= ts < hi:
                out.setdefault(key, []).append((ts, unit, value))
    return out


# a drain's one statement (the rows it removes are the rows it expands, whatever the
# transaction's isolation) and a read's
DRAIN = f"DELETE FROM {TABLE} RETURNING id, data"
READ = f"SELECT data FROM {TABLE} ORDER BY id"


def drained(found: Iterable[tuple[int, bytes]]) -> list[tuple[Any, ...]]:
    """The ``cw_fresh`` upsert rows of the rows ``DRAIN`` returned (in any order)."""
    return expanded(text for _, text in sorted(found))
