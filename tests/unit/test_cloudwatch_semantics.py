"""CloudWatch semantics, table-driven, as the AWS documentation states them: alarm
evaluation (M of N, the four missing-data treatments, the premature-alarm rule, low
sample counts of percentiles), metric math, percentiles, composite alarm rules."""

from __future__ import annotations

import math

import pytest

from cloudctl.services.cloudwatch import composite, mathexpr
from cloudctl.services.cloudwatch.evaluator import Rule, evaluate
from cloudctl.services.cloudwatch.series import Bucket
from cloudctl.services.cloudwatch.stats import Aggregate, choose_resolution
from tests.unit.cloudwatch_cases import unusual_data


def _points(text: str) -> list[float | None]:
    """'0 - X' -> [0 (not breaching), missing, 5 (breaching)] for threshold 1."""
    return [None if c == "-" else (5.0 if c == "X" else 0.0) for c in text.split()]


# AWS's table for EvaluationPeriods 3, DatapointsToAlarm 3 (evaluation range of 5)
TABLE = [
    ("0 0 0 0 0", "OK", "OK", "OK", "OK"),
    ("0 - X - X", "OK", "OK", "ALARM", "OK"),
    ("- - - - -", "INSUFFICIENT_DATA", None, "ALARM", "OK"),
    ("0 X X - X", "ALARM", "ALARM", "ALARM", "OK"),
    ("- - X - -", "ALARM", "ALARM", "ALARM", "OK"),
    ("X X X X X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("X X X X 0", "OK", "OK", "OK", "OK"),
]


@pytest.mark.parametrize(("points", "missing", "ignore", "breaching", "not_breaching"), TABLE)
def test_missing_data_treatments(points: str, missing: str, ignore: str | None,
                                 breaching: str, not_breaching: str) -> None:
    for treat, want in (("missing", missing), ("ignore", ignore), ("breaching", breaching),
                        ("notBreaching", not_breaching)):
        rule = Rule("GreaterThanThreshold", 1.0, 3, 3, treat)
        assert evaluate(rule, _points(points)).state == want, (points, treat)


@pytest.mark.parametrize(("points", "m", "n", "want"), [
    ("0 0 X 0 X", 2, 3, "ALARM"),     # 2 of the last 3 breach
    ("0 0 X 0 0", 2, 3, "OK"),
    ("0 0 0 X X", 2, 2, "ALARM"),
    ("0 X 0 X 0", 2, 3, "OK"),        # X 0 X 0 -> last 3: X 0 ... 0 X 0 = 1
    ("X 0 X 0 X 0 X", 3, 5, "ALARM"),  # 3 of the last 5
    ("X 0 X 0 0 0 X", 3, 5, "OK"),
    ("0 0 0 0 X", 1, 1, "ALARM"),
    ("X X X X 0", 1, 1, "OK"),
])
def test_datapoints_to_alarm(points: str, m: int, n: int, want: str) -> None:
    assert evaluate(Rule("GreaterThanThreshold", 1.0, n, m), _points(points)).state == want


@pytest.mark.parametrize(("operator", "value", "want"), [
    ("GreaterThanOrEqualToThreshold", 10.0, "ALARM"), ("GreaterThanThreshold", 10.0, "OK"),
    ("LessThanThreshold", 9.99, "ALARM"), ("LessThanOrEqualToThreshold", 10.0, "ALARM"),
    ("LessThanThreshold", 10.0, "OK"),
])
def test_comparison_operators(operator: str, value: float, want: str) -> None:
    assert evaluate(Rule(operator, 10.0, 1, 1), [value]).state == want


def test_low_sample_count_percentile() -> None:
    rule = Rule("GreaterThanThreshold", 1.0, 1, 1, percentile=99.0, low_samples="ignore")
    assert evaluate(rule, [5.0], [10.0]).state is None  # p99 needs 1000 samples
    assert evaluate(rule, [5.0], [1000.0]).state == "ALARM"
    evaluating = Rule("GreaterThanThreshold", 1.0, 1, 1, percentile=99.0)
    assert evaluate(evaluating, [5.0], [10.0]).state == "ALARM"


def _agg(values: dict[float, float], raw: bool = True) -> Aggregate:
    b = Bucket("k", 60, 0, "None", sum(values.values()),
               sum(v * c for v, c in values.items()), min(values), max(values), values, raw)
    agg = Aggregate.of([b])
    assert agg is not None
    return agg


@pytest.mark.parametrize(("stat", "want"), [
    ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p100", 100.0), ("p0", 1.0),
    ("p99.9", 100.0), ("Average", 50.5), ("SampleCount", 100.0), ("Minimum", 1.0),
])
def test_extended_statistics(stat: str, want: float) -> None:
    assert _agg({float(v): 1.0 for v in range(1, 101)}).statistic(stat) == want


def test_percentiles_need_raw_values() -> None:
    assert _agg({1.0: 1.0, 3.0: 1.0}, raw=False).statistic("p50") is None


@pytest.mark.parametrize(("period", "age", "want"), [
    (60, 3600, 60), (10, 3600, 1), (10, 4 * 3600, None), (300, 3600, 300),
    (60, 16 * 86400, None), (300, 16 * 86400, 300), (300, 64 * 86400, None),
    (3600, 64 * 86400, 3600), (120, 3600, 60),
])
def test_period_vs_data_age(period: int, age: int, want: int | None) -> None:
    assert choose_resolution(period, 1_000_000_000 - age, 1_000_000_000) == want


SERIES = {"a": mathexpr.Labelled("A", {0: 1.0, 60: 2.0, 120: 4.0}),
          "b": mathexpr.Labelled("B", {0: 10.0, 120: 20.0})}


@pytest.mark.parametrize(("expression", "want"), [
    ("a + b", {0: 11.0, 120: 24.0}),
    ("a * 2 + 1", {0: 3.0, 60: 5.0, 120: 9.0}),
    ("(a + 1) * 2", {0: 4.0, 60: 6.0, 120: 10.0}),
    ("a ^ 2", {0: 1.0, 60: 4.0, 120: 16.0}),
    ("-a", {0: -1.0, 60: -2.0, 120: -4.0}),
    ("SUM(METRICS())", {0: 11.0, 60: 2.0, 120: 24.0}),
    ("AVG(METRICS())", {0: 5.5, 60: 2.0, 120: 12.0}),
    ("MAX(METRICS())", {0: 10.0, 60: 2.0, 120: 20.0}),
    ("MIN(METRICS())", {0: 1.0, 60: 2.0, 120: 4.0}),
    ("SUM(METRICS(\"B\"))", {0: 10.0, 120: 20.0}),
    ("a / SUM(a)", {0: 1 / 7, 60: 2 / 7, 120: 4 / 7}),
    ("RATE(a)", {60: 1 / 60, 120: 2 / 60}),
    ("DIFF(a)", {60: 1.0, 120: 2.0}),
    ("FILL(b, 0)", {0: 10.0, 60: 0.0, 120: 20.0, 180: 0.0}),
    ("FILL(b, REPEAT)", {0: 10.0, 60: 10.0, 120: 20.0, 180: 20.0}),
    ("FILL(b, LINEAR)", {0: 10.0, 60: 15.0, 120: 20.0}),
    ("IF(a > 1, a, 0)", {0: 0.0, 60: 2.0, 120: 4.0}),
    ("IF(a >= 2 AND a < 4, a)", {60: 2.0}),
    ("IF(a == 1 OR a == 4, 1, 0)", {0: 1.0, 60: 0.0, 120: 1.0}),
])
def test_metric_math(expression: str, want: dict[int, float]) -> None:
    ctx = mathexpr.Context(dict(SERIES), [0, 60, 120, 180], ["a", "b"])
    got = mathexpr.evaluate(expression, ctx)
    assert isinstance(got, mathexpr.Labelled)
    assert got.points.keys() == want.keys()
    assert all(math.isclose(got.points[t], want[t]) for t in want)


@pytest.mark.parametrize("expression", ["a +", "FOO(a)", "nope * 2", "(a", "FILL(a)"])
def test_metric_math_errors(expression: str) -> None:
    with pytest.raises(mathexpr.MathError):
        mathexpr.evaluate(expression, mathexpr.Context(dict(SERIES), [0], ["a", "b"]))


@pytest.mark.parametrize(("rule", "want"), [
    ('ALARM("a") AND OK(b)', True),
    ("ALARM(a) AND ALARM(b)", False),
    ("ALARM(a) OR ALARM(b)", True),
    ("NOT ALARM(b)", True),
    ("(ALARM(b) OR TRUE) AND NOT INSUFFICIENT_DATA(c)", False),
    ("FALSE OR OK(b) AND ALARM(a)", True),
])
def test_composite_rules(rule: str, want: bool) -> None:
    states = {"a": "ALARM", "b": "OK", "c": "INSUFFICIENT_DATA"}
    assert composite.holds(composite.parse(rule), states.get) is want


@pytest.mark.parametrize("rule", ["ALARM(a) AND", "ALARM a", "MAYBE(a)", "(ALARM(a)"])
def test_composite_rule_errors(rule: str) -> None:
    with pytest.raises(composite.RuleError):
        composite.parse(rule)


def test_put_metric_data_fast_check_agrees_with_the_full_one() -> None:
    """The usual datum takes ``_plain_datum``; whatever it accepts, ``_datum`` makes the
    same Datum of, and whatever would be an error (or is unusual) it leaves to ``_datum``."""
    from datetime import UTC, datetime, timedelta

    from cloudctl.errors import AwsError
    from cloudctl.services.cloudwatch.metrics import _datum, _plain_datum

    now = datetime(2026, 12, 5, 7, tzinfo=UTC)
    oldest, newest = now - timedelta(days=14), now + timedelta(hours=2)
    dims = [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "z"}]
    accepted = [
        {"MetricName": "M", "Value": 1.5},
        {"MetricName": "M", "Value": 0.0, "Unit": "Count", "Dimensions": dims},
        {"MetricName": "M" * 255, "Value": -2.0 ** 360, "Timestamp": oldest},
        {"MetricName": "M", "Value": 2.0 ** -360, "Timestamp": newest, "Dimensions": []},
        {"MetricName": "M", "Value": 3.0, "Unit": "Bytes", "Dimensions": dims[:1]},
    ]
    for item in accepted:
        fast = _plain_datum(item, "N", now, oldest, newest)
        assert fast is not None and fast == _datum(item, 1, "N", now), item
    left = unusual_data(oldest, newest, dims)
    for item in left:
        assert _plain_datum(item, "N", now, oldest, newest) is None, item
        try:
            _datum(item, 1, "N", now)
        except AwsError:
            pass



def test_roll_up_finest_only_is_the_full_roll_up_folded() -> None:
    """The embedded store's ingest (``coarse=False``) writes the finest bucket of each
    datum only (1 s for high resolution while retained, else 1 min); those buckets with
    compaction's roll-up of them (``roll_rows``) are the buckets the full roll-up
    writes at every resolution."""
    from datetime import UTC, datetime

    from cloudctl.services.cloudwatch.series import Datum, merge_buckets, roll_up
    from cloudctl.services.cloudwatch.store import roll_rows

    now = 2_000_000_000.0
    keyed = [(f"k{i % 3}", Datum("N", "M", (), datetime.fromtimestamp(now - age, UTC),
                                 float(i), unit="Count",
                                 storage_resolution=1 if i % 2 else 60))
             for i, age in enumerate((5, 7, 65, 400, 4000, 3 * 3600 + 30, 86400, 12))]
    finest = roll_up(keyed, now, coarse=False)
    assert {b.resolution for b in finest} == {1, 60}
    assert all(now - b.ts <= 3 * 3600 for b in finest if b.resolution == 1)
    assert len(finest) == 8  # no two data share a finest bucket here
    assert [b.resolution for b in finest if b.metric_key == "k2" and b.sum == 5.0] == [60]
    rolled = []
    for res in (1, 60):
        rolled += roll_rows([(b.metric_key, b.ts, b.unit, b.count, b.sum, b.minimum,
                              b.maximum, "", b.raw) for b in finest if b.resolution == res],
                            res, now)
    folded = finest + [Bucket(k, r, ts, u, c, t, lo, hi, {}, raw)
                       for k, r, ts, u, c, t, lo, hi, _, raw in rolled]

    def shape(buckets: list[Bucket]) -> list[tuple[object, ...]]:
        return sorted((b.metric_key, b.resolution, b.ts, b.unit, b.count, b.sum,
                       b.minimum, b.maximum) for b in merge_buckets(buckets))

    assert shape(folded) == shape(roll_up(keyed, now))
