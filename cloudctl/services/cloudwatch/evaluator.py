"""Alarm evaluation semantics, pure (no I/O): the state a metric alarm goes to given the
datapoints of its evaluation range.

The range is ``N + 2`` periods (N = EvaluationPeriods), oldest first, ``None`` for a
period without data. M = DatapointsToAlarm (default N). As AWS documents it:

- ``breaching`` / ``notBreaching``: the last N periods, missing ones counted as
  breaching / not breaching; ALARM when at least M breach, else OK;
- ``missing`` / ``ignore``: the most recent N datapoints present in the range; ALARM
  when at least M breach; with none at all, INSUFFICIENT_DATA (``missing``) or the
  current state kept (``ignore``); else OK, except by the premature-alarm rule: when
  the oldest breaching datapoint of the last N periods is at least M periods old and
  every more recent period breaches or is missing, the alarm goes to ALARM when
  fewer than M datapoints are present in the range;
- a percentile alarm with ``EvaluateLowSampleCountPercentile = ignore`` keeps its state
  while a period of the range has too few samples for that percentile (fewer than
  ``10 / (1 - p/100)``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": (">=", operator.ge),
    "GreaterThanThreshold": (">", operator.gt),
    "LessThanThreshold": ("<", operator.lt),
    "LessThanOrEqualToThreshold": ("<=", operator.le),
}
TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")
EXTRA = 2  # periods of the evaluation range beyond EvaluationPeriods


@dataclass(frozen=True)
class Rule:
    """What the evaluator needs of an alarm."""

    operator: str
    threshold: float
    periods: int
    to_alarm: int
    treat_missing: str = "missing"
    percentile: float | None = None  # p of a percentile statistic
    low_samples: str = "evaluate"  # EvaluateLowSampleCountPercentile


@dataclass(frozen=True)
class Outcome:
    state: str | None  # None: keep the current state
    reason: str
    breaching: int
    considered: Sequence[float]


def breaches(rule: Rule, value: float) -> bool:
    return OPERATORS[rule.operator][1](value, rule.threshold)


def _reason(rule: Rule, state: str, values: Sequence[float], bad: int) -> str:
    shown = ", ".join(f"{v:g}" for v in values)
    symbol = OPERATORS[rule.operator][0]
    verdict = "was" if state == "ALARM" else "was not"
    count = f"{bad} out of the last {rule.periods}" if rule.to_alarm != rule.periods or \
        state != "ALARM" else f"{rule.periods}"
    return (f"Threshold Crossed: {count} datapoint{'s' if len(values) != 1 else ''} "
            f"[{shown}] {verdict} {symbol} the threshold ({rule.threshold:g}) "
            f"(minimum {rule.to_alarm} datapoint{'s' if rule.to_alarm != 1 else ''} for "
            f"{'OK -> ALARM' if state == 'ALARM' else 'ALARM -> OK'} transition).")


def low_sample_floor(p: float) -> float:
    return 10.0 / (1.0 - p / 100.0) if p < 100 else float("inf")


def evaluate(rule: Rule, points: Sequence[float | None],
             samples: Sequence[float | None] = ()) -> Outcome:
    """The outcome for ``points`` (the range, oldest first; ``samples`` the sample count
    of each period, for the low-sample rule)."""
    if rule.percentile is not None and rule.low_samples == "ignore" and samples:
        floor = low_sample_floor(rule.percentile)
        if any(s is not None and s < floor for s in samples):
            return Outcome(None, "Insufficient samples for the percentile: state kept.", 0, [])
    recent = list(points[-rule.periods:])
    if rule.treat_missing in ("breaching", "notBreaching"):
        missing_bad = rule.treat_missing == "breaching"
        flags = [missing_bad if v is None else breaches(rule, v) for v in recent]
        shown = [v for v in recent if v is not None]
        bad = sum(flags)
        if not shown and not missing_bad:
            return Outcome("OK", "Threshold Crossed: no datapoints were received for "
                           f"{rule.periods} period{'s' if rule.periods != 1 else ''} and "
                           "missing data is treated as not breaching.", 0, [])
        if not shown:
            return Outcome("ALARM", "Threshold Crossed: no datapoints were received for "
                           f"{rule.periods} period{'s' if rule.periods != 1 else ''} and "
                           "missing data is treated as breaching.", bad, [])
        state = "ALARM" if bad >= rule.to_alarm else "OK"
        return Outcome(state, _reason(rule, state, shown, bad), bad, shown)
    present = [v for v in points if v is not None]
    if not present:
        if rule.treat_missing == "ignore":
            return Outcome(None, "No datapoints: state kept (missing data ignored).", 0, [])
        return Outcome("INSUFFICIENT_DATA", "Insufficient Data: "
                       f"{len(points)} datapoint{'s were' if len(points) != 1 else ' was'} "
                       "unknown.", 0, [])
    considered = present[-rule.periods:]
    bad = sum(breaches(rule, v) for v in considered)
    if bad >= rule.to_alarm:
        return Outcome("ALARM", _reason(rule, "ALARM", considered, bad), bad, considered)
    # premature-alarm rule (fewer than M datapoints in the range): the oldest breaching
    # point of the last N periods is at least M periods old and everything after it
    # breaches or is missing
    for age, value in zip(range(len(recent), 0, -1), recent, strict=True):
        if value is None:
            continue
        if len(present) < rule.to_alarm and breaches(rule, value):
            later = recent[len(recent) - age + 1:]
            if age >= rule.to_alarm and all(v is None or breaches(rule, v) for v in later):
                shown = [v for v in recent if v is not None]
                return Outcome("ALARM", _reason(rule, "ALARM", shown, len(shown)),
                               len(shown), shown)
        break
    return Outcome("OK", _reason(rule, "OK", considered, bad), bad, considered)
