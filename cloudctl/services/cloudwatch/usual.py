"""PutMetricData's usual JSON document, checked where ``json.loads`` left it.

The JSON protocol's generic parse (``protocol.jsonlike``) copies every structure of a
request into new dicts, and ``ingest.plain_fields`` then read each datum again to
find the usual ones. ``usual_params`` does both in one pass over the decoded
document, without copying it: when the document is a ``Namespace`` and at most
``MAX_DATA`` usual data (``MetricName``, ``Dimensions``, ``Value`` (a float, or an
integer a float holds exactly), ``Unit``, ``Timestamp`` (epoch seconds); each within the
model's traits and ``plain_fields``' checks; no null, no other member) it returns the
document itself as the operation's parameters (equal to what the model's parse returns
for it: ``tests/unit/test_cloudwatch_usual.py`` compares them), its ``MetricData`` a
``UsualData`` list that also carries each datum's fields. Anything else returns
None and takes the model's parse, which converts it or names what is wrong, then
``plain_fields`` and the general path: the errors are theirs, unchanged.

The timestamp range (two weeks back, two hours ahead of the call's time) is left to
``ingest.fresh_entries``: it depends on when the handler runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloudctl.services.cloudwatch.checks import LIMIT, MAX_DIMENSIONS, UNITS

MAX_DATA = 1000  # PutMetricData's data a call (``metrics.MAX_DATA``)
_SMALL = 1.0 / LIMIT
_EXACT = 2 ** 53  # an integer Value up to this is exact as a float
_TOP = frozenset(("Namespace", "MetricData"))

Dimensions = tuple[tuple[str, str], ...]
# metric name, dimensions sorted by name, timestamp (None: the call's time), value, unit
Fields = tuple[str, Dimensions, "datetime | None", float, str]


class UsualData(list[dict[str, Any]]):
    """A call's ``MetricData`` (the decoded dicts themselves) whose every datum is usual,
    with ``fields``: one ``Fields`` a datum, in order."""

    fields: list[Fields]


def usual_params(document: Any) -> dict[str, Any] | None:
    """``document`` as PutMetricData's parameters when it is the usual call (see the
    module); None for anything else."""
    if document.__class__ is not dict or not _TOP.issuperset(document):
        return None
    namespace = document.get("Namespace")
    items = document.get("MetricData")
    if namespace.__class__ is not str or not 1 <= len(namespace) <= 255 \
            or items.__class__ is not list or not 1 <= len(items) <= MAX_DATA:
        return None
    fields: list[Fields] = []
    add = fields.append
    changes: list[tuple[dict[str, Any], datetime | float]] = []
    for item in items:
        if item.__class__ is not dict:
            return None
        name = item.get("MetricName")
        value = item.get("Value")
        unit = item.get("Unit")
        stamp = item.get("Timestamp")
        raw = item.get("Dimensions")
        # the members read are all it has, and none is null (the model's parse drops a
        # null member, ignores an unknown one): a name or value missing fails below
        if len(item) != 2 + (unit is not None) + (stamp is not None) + (raw is not None):
            return None
        if value.__class__ is not float:
            if value.__class__ is not int or not -_EXACT <= value <= _EXACT:
                return None
            value = float(value)  # what the model's parse makes of it (set below)
            changes.append((item, value))
        if unit is None:
            unit = "None"
        if name.__class__ is not str or not 1 <= len(name) <= 255 or unit not in UNITS \
                or not (value == 0.0 or _SMALL <= abs(value) <= LIMIT):  # NaN, inf fail
            return None
        if stamp is not None:
            stamp = _epoch(stamp)
            if stamp is None:
                return None
            changes.append((item, stamp))
        if raw is None:
            add((name, (), stamp, value, unit))
            continue
        if raw.__class__ is list and len(raw) == 1:  # the usual one dimension
            pair = _pair(raw[0])
            if pair is None:
                return None
            add((name, (pair,), stamp, value, unit))
            continue
        dims = _dimensions(raw)
        if dims is None:
            return None
        add((name, dims, stamp, value, unit))
    for item, converted in changes:  # the document changes only once it is usual
        item["Value" if converted.__class__ is float else "Timestamp"] = converted
    data = UsualData(items)
    data.fields = fields
    document["MetricData"] = data
    return document


def _pair(d: Any) -> tuple[str, str] | None:
    """A dimension's (name, value) when it is a usual one: two strings within their
    lengths, no other member; else None."""
    if d.__class__ is not dict or len(d) != 2:
        return None
    k, v = d.get("Name"), d.get("Value")
    if k.__class__ is not str or v.__class__ is not str or not 1 <= len(k) <= 255 \
            or not 1 <= len(v) <= 1024:
        return None
    return k, v


def _dimensions(raw: Any) -> Dimensions | None:
    """The (name, value) pairs of a datum's ``Dimensions`` list, sorted by name; None
    unless each is a usual one (two strings within their lengths, no other member), they
    are at most ``MAX_DIMENSIONS`` and no name repeats."""
    if raw.__class__ is not list or len(raw) > MAX_DIMENSIONS:
        return None
    pairs = []
    for d in raw:
        pair = _pair(d)
        if pair is None:
            return None
        pairs.append(pair)
    if len({k for k, _ in pairs}) != len(pairs):
        return None
    return tuple(sorted(pairs))


def _epoch(stamp: Any) -> datetime | None:
    """An epoch timestamp as the model's parse makes it (``common.parse_timestamp``);
    None for anything else (text, out of range: the parse names it)."""
    if stamp.__class__ is not float and stamp.__class__ is not int:
        return None
    try:
        return datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None
