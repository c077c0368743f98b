"""PutMetricData's usual call, checked straight into the embedded store's rows.

The usual datum is one finite value at 60-second resolution, text within AWS's limits,
a known unit, valid dimensions, a timestamp within two weeks back and two hours ahead
(or none). ``plain_fields`` checks one without building an error message (a JSON
call's data come checked already: ``usual.usual_params`` read them where ``json.loads``
left them, and carries each datum's fields); ``fresh_entries`` turns a call whose every
datum is usual into the ingest log's entries (metric key, part start, unit, value), with
no ``Datum`` or ``Bucket`` per datum; each is drained into its ``cw_fresh`` upsert row
(``fresh_rows``: what ``series.roll_up(coarse=False)`` and ``store.point_rows`` make of
it, each datum its own row: the upsert merges rows of one bucket in turn). ``put_plain``
hands them to the store's group commit when the store takes rows (file-backed SQLite,
the embedded store), which appends a flush's entries to the ingest log as one row
(``ingestlog``) and drains it into ``cw_fresh`` soon after.

A row is a ``PART``-second part of its 1-minute bucket (``ts`` the part's start, within
the bucket; resolution 60): a metric written many times a minute has its raw values
spread over up to 60 / ``PART`` rows instead of one row whose text grows with every
call and is rewritten whole by each (at 20 values a second a minute's row reaches
~7 kB: a standalone SQLite ingest of 1,000 such metrics cost 0.57 ms a call over a
minute, 0.27 ms with 5-second parts). Every reader of fresh rows already folds them into
buckets by ``ts // resolution`` (finer rows do the same), as compaction does.

Anything else (an unusual datum, PostgreSQL, Cassandra) returns None / False and the
call takes the general path (``metrics._datum``, ``api.publish``), which names what is
wrong. ``tests/unit/test_cloudwatch_ingest.py`` compares the two paths.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cloudctl.db.base import utcnow
from cloudctl.services.cloudwatch import ingestlog
from cloudctl.services.cloudwatch.checks import LIMIT, MAX_DIMENSIONS, UNITS
from cloudctl.services.cloudwatch.series import metric_key_of
from cloudctl.services.cloudwatch.store import CATALOG_REFRESH, StoreHolder

Dimensions = tuple[tuple[str, str], ...]
# metric name, dimensions as given, timestamp (None: the call's time), value, unit
Fields = tuple[str, Dimensions, "datetime | None", float, str]
Row = tuple[Any, ...]  # the cw_fresh upsert's parameters (``store.point_rows``)

PART = 5  # seconds of a 1-minute bucket one fresh row holds (divides 60)
# metric keys by (account, region, namespace) then (name, sorted dimensions): a dict
# lookup of the datum's own pair instead of ``metric_key_of``'s cache of the 5-tuple
# (hashed and compared a datum); each level emptied past this size
MAX_KEYS = 65536
_keys: dict[tuple[str, str, str], dict[tuple[str, Dimensions], str]] = {}
PLAIN = frozenset(("MetricName", "Dimensions", "Value", "Unit", "Timestamp"))
_SMALL = 1.0 / LIMIT


def plain_fields(item: dict[str, Any], oldest: datetime, newest: datetime) -> Fields | None:
    """The fields of a usual datum, checked inline; None for anything else (left to the
    full check, which builds AWS's message)."""
    if not PLAIN.issuperset(item):
        return None
    name = item.get("MetricName")
    value = item.get("Value")
    unit = item.get("Unit", "None")
    if name.__class__ is not str or not 1 <= len(name) <= 255 or value.__class__ is not float \
            or unit not in UNITS:
        return None
    if not (value == 0.0 or _SMALL <= abs(value) <= LIMIT):  # NaN, inf fail too
        return None
    stamp = item.get("Timestamp")
    if stamp is not None and (stamp.__class__ is not datetime or stamp.tzinfo is None
                              or not oldest <= stamp <= newest):
        return None
    raw = item.get("Dimensions")
    if not raw:
        return name, (), stamp, value, unit
    if len(raw) == 1:  # the usual one dimension: no list of pairs, no duplicate check
        d = raw[0]
        k, v = d.get("Name"), d.get("Value")
        if k.__class__ is not str or v.__class__ is not str or not 1 <= len(k) <= 255 \
                or not 1 <= len(v) <= 1024 or len(d) != 2:
            return None
        return name, ((k, v),), stamp, value, unit
    if len(raw) > MAX_DIMENSIONS:
        return None
    pairs = []
    for d in raw:
        k, v = d.get("Name"), d.get("Value")
        if k.__class__ is not str or v.__class__ is not str or not 1 <= len(k) <= 255 \
                or not 1 <= len(v) <= 1024 or len(d) != 2:
            return None
        pairs.append((k, v))
    if len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
        return None
    return name, tuple(pairs), stamp, value, unit


def fresh_entries(items: Sequence[dict[str, Any]], account_id: str, region: str,
                  namespace: str, now: datetime, oldest: datetime, newest: datetime
                  ) -> tuple[list[ingestlog.Logged], dict[str, tuple[str, Dimensions]]] | None:
    """The ingest log's entries of a call whose every datum is usual (one a datum, in
    the call's order, each at the ``PART`` of its minute: metric key, part start, unit,
    value) and its metrics (key -> name, sorted dimensions); None when a datum is not
    usual. From a ``usual.UsualData`` its carried fields (checked but for the
    timestamps' range, which depends on ``now``)."""
    fields: list[Fields] | None = getattr(items, "fields", None)
    if fields is None:
        fields = []
        for item in items:
            found = plain_fields(item, oldest, newest)
            if found is None:
                return None
            if len(found[1]) > 1:
                found = (found[0], tuple(sorted(found[1])), *found[2:])
            fields.append(found)
    current = int(now.timestamp() // PART) * PART
    keys = _keys.get((account_id, region, namespace))
    if keys is None or len(keys) > MAX_KEYS:
        keys = _keys[(account_id, region, namespace)] = {}
        if len(_keys) > MAX_KEYS:
            _keys.clear()
            _keys[(account_id, region, namespace)] = keys
    entries: list[ingestlog.Logged] = []
    add = entries.append
    named: dict[str, tuple[str, Dimensions]] = {}
    for name, dims, stamp, value, unit in fields:
        if stamp is None:
            ts = current
        elif oldest <= stamp <= newest:
            ts = int(stamp.timestamp() // PART) * PART
        else:
            return None
        metric = (name, dims)
        key = keys.get(metric)
        if key is None:
            key = keys[metric] = metric_key_of(account_id, region, namespace, name, dims)
        add((key, ts, unit, value))
        named[key] = metric
    return entries, named


def fresh_rows(items: Sequence[dict[str, Any]], account_id: str, region: str,
               namespace: str, now: datetime, oldest: datetime, newest: datetime
               ) -> tuple[list[Row], dict[str, tuple[str, Dimensions]]] | None:
    """``fresh_entries`` as ``cw_fresh`` upsert rows (``ingestlog.upsert_row``), one a
    datum (what the log's entries are drained into, one by one)."""
    found = fresh_entries(items, account_id, region, namespace, now, oldest, newest)
    if found is None:
        return None
    return [ingestlog.upsert_row(entry) for entry in found[0]], found[1]


def catalog_entry(key: str, account_id: str, region: str, namespace: str, name: str,
                  dims: Dimensions, stamp: datetime) -> dict[str, Any]:
    """A ``cw_metrics`` row (ListMetrics' catalog) of a metric seen at ``stamp``."""
    return {"key": key, "account_id": account_id, "region": region,
            "namespace": namespace, "name": name,
            "dimensions": json.dumps([list(d) for d in dims]), "last_seen": stamp}


async def put_plain(hold: StoreHolder, account_id: str, region: str,
                    namespace: str, items: Sequence[dict[str, Any]], now: datetime,
                    oldest: datetime, newest: datetime) -> bool:
    """Store a call of usual data through the store's row path; False (nothing done)
    when a datum is unusual or the store does not take rows."""
    if not hold.takes_rows():
        return False
    found = fresh_entries(items, account_id, region, namespace, now, oldest, newest)
    if found is None:
        return False
    entries, named = found
    clock = time.time()
    seen = hold.seen
    stale = [key for key in named if clock - seen.get(key, 0.0) > CATALOG_REFRESH]
    catalog: list[dict[str, Any]] = []
    if stale:
        stamp = utcnow()
        catalog = [catalog_entry(key, account_id, region, namespace, *named[key], stamp)
                   for key in sorted(stale)]
    await hold.ingest_rows(catalog, entries)
    for key in stale:
        seen[key] = clock
    return True
