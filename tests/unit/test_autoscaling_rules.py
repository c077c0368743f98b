"""Auto Scaling's pure rules: which instance a scale-in terminates (zones first, then the
policies), where a launch goes, policy arithmetic (AWS's rounding of percentages, steps)
and cron recurrences in a time zone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from cloudctl.services.autoscaling import cron, scaling
from cloudctl.services.autoscaling.common import ValidationError
from cloudctl.services.autoscaling.termination import Candidate, choose_victims, choose_zone

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _c(iid: str, zone: str, minutes_ago: int, source: str = "lc1", age: float = 1.0,
       current: bool = True) -> Candidate:
    return Candidate(instance_id=iid, zone=zone, launched_at=NOW - timedelta(minutes=minutes_ago),
                     source=source, source_age=age, current=current)


def test_default_balances_zones_before_anything_else() -> None:
    items = [_c("i-a1", "a", 10), _c("i-a2", "a", 50), _c("i-b1", "b", 90)]
    # zone a has two: one of them goes, even though i-b1 is the oldest
    assert choose_victims(items, 1, ["OldestInstance"], NOW) == ["i-a2"]
    assert choose_victims(items, 2, ["OldestInstance"], NOW) == ["i-a2", "i-b1"]


def test_policies_in_order() -> None:
    items = [_c("i-1", "a", 10), _c("i-2", "a", 50), _c("i-3", "a", 30)]
    assert choose_victims(items, 1, ["NewestInstance"], NOW) == ["i-1"]
    assert choose_victims(items, 1, ["OldestInstance"], NOW) == ["i-2"]
    # closest to the next hour: 50 minutes in is 10 minutes from the hour
    assert choose_victims(items, 1, ["ClosestToNextInstanceHour"], NOW) == ["i-2"]
    stale = [_c("i-1", "a", 10, "lc2", 2.0), _c("i-2", "a", 50, "lc1", 1.0, current=False),
             _c("i-3", "a", 30, "lc2", 2.0)]
    assert choose_victims(stale, 1, ["Default"], NOW) == ["i-2"]
    assert choose_victims(stale, 1, ["OldestLaunchConfiguration"], NOW) == ["i-2"]


def test_launches_fill_the_emptiest_zone() -> None:
    assert choose_zone(["a", "b", "c"], Counter({"a": 2, "b": 1, "c": 1})) == "b"
    assert choose_zone(["a", "b"], Counter()) == "a"


def test_adjustments_round_as_aws() -> None:
    assert scaling.adjusted(4, "ChangeInCapacity", -1, None) == 3
    assert scaling.adjusted(4, "ExactCapacity", 7, None) == 7
    assert scaling.adjusted(4, "PercentChangeInCapacity", 10, None) == 5  # 0.4 -> 1
    assert scaling.adjusted(10, "PercentChangeInCapacity", 15, None) == 11  # 1.5 -> 1
    assert scaling.adjusted(10, "PercentChangeInCapacity", -15, None) == 9  # -1.5 -> -1
    assert scaling.adjusted(10, "PercentChangeInCapacity", 15, 3) == 13
    steps = scaling.check_steps([{"MetricIntervalLowerBound": 10, "ScalingAdjustment": 3},
                                 {"MetricIntervalLowerBound": 0,
                                  "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}])
    assert scaling.step_for(steps, 55, 50)["ScalingAdjustment"] == 1  # type: ignore[index]
    assert scaling.step_for(steps, 60, 50)["ScalingAdjustment"] == 3  # type: ignore[index]
    assert scaling.step_for(steps, 40, 50) is None
    with pytest.raises(ValidationError):
        scaling.check_steps([{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10,
                              "ScalingAdjustment": 1},
                             {"MetricIntervalLowerBound": 5, "ScalingAdjustment": 1}])
    assert scaling.tracked(4, 75.0, 50.0) == 6
    assert scaling.tracked(4, 20.0, 50.0) == 1


def test_cron_in_a_time_zone() -> None:
    after = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a Saturday
    at = cron.next_after("0 22 * * mon-fri", after, "Europe/Paris")
    assert at == datetime(2026, 12, 7, 21, 0, tzinfo=UTC)  # Monday 22:00 in Paris
    assert cron.next_after("*/15 * * * *", after, None) == after + timedelta(minutes=15)
    assert cron.next_after("0 0 1 jan *", after, "UTC") == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("* * *", "61 * * * *", "* * * * funday"):
        with pytest.raises(ValidationError):
            cron.parse(bad)
    with pytest.raises(ValidationError):
        cron.zone("Mars/Olympus")
