"""The arithmetic of scaling policies: a simple or step adjustment applied to a
capacity (AWS's rounding of percentages and MinAdjustmentMagnitude), the step a
metric's breach falls in, and target tracking's proportional capacity."""

from __future__ import annotations

import math
from typing import Any

from cloudctl.services.autoscaling.common import ValidationError

ADJUSTMENT_TYPES = ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")


def adjusted(current: int, adjustment_type: str, adjustment: int,
             min_magnitude: int | None) -> int:
    """The new capacity before clamping to the group's bounds."""
    if adjustment_type == "ExactCapacity":
        return adjustment
    if adjustment_type == "ChangeInCapacity":
        return current + adjustment
    delta = current * adjustment / 100.0
    if 0 < abs(delta) < 1:
        step = 1 if delta > 0 else -1
    else:
        step = int(delta)  # AWS rounds toward zero: 1.5 -> 1, -1.5 -> -1
    if min_magnitude and 0 < abs(step) < min_magnitude:
        step = min_magnitude if step > 0 else -min_magnitude
    elif min_magnitude and step == 0 and adjustment:
        step = min_magnitude if adjustment > 0 else -min_magnitude
    return current + step


def check_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Step adjustments sorted by lower bound; AWS's rules: no overlap, no gap, at most
    one open lower and one open upper bound."""
    if not steps:
        raise ValidationError("StepAdjustments is required for StepScaling policy type.")
    def low(s: dict[str, Any]) -> float:
        value = s.get("MetricIntervalLowerBound")
        return -math.inf if value is None else float(value)

    def high(s: dict[str, Any]) -> float:
        value = s.get("MetricIntervalUpperBound")
        return math.inf if value is None else float(value)

    ordered = sorted(steps, key=low)
    for step in ordered:
        if step.get("ScalingAdjustment") is None:
            raise ValidationError("ScalingAdjustment is required in each step adjustment.")
        if low(step) >= high(step):
            raise ValidationError("Step adjustment lower bound must be less than its upper "
                                  "bound.")
    if sum(1 for s in ordered if low(s) == -math.inf) > 1 or sum(
            1 for s in ordered if high(s) == math.inf) > 1:
        raise ValidationError("Only one step adjustment may have an unbounded lower or "
                              "upper bound.")
    for before, after in zip(ordered, ordered[1:], strict=False):
        if high(before) > low(after):
            raise ValidationError("Step adjustments may not overlap.")
        if high(before) < low(after):
            raise ValidationError("There is a gap between step adjustments.")
    return ordered


def step_for(steps: list[dict[str, Any]], metric: float, threshold: float
             ) -> dict[str, Any] | None:
    """The step whose interval holds ``metric - threshold``."""
    diff = metric - threshold
    for step in steps:
        low = step.get("MetricIntervalLowerBound")
        high = step.get("MetricIntervalUpperBound")
        lo = -math.inf if low is None else float(low)
        hi = math.inf if high is None else float(high)
        inside = (lo <= diff < hi) if diff >= 0 else (lo < diff <= hi)
        if inside:
            return step
    return None


def tracked(current: int, metric: float, target: float) -> int:
    """Target tracking: the capacity that brings the per-instance metric to the target."""
    if target <= 0 or current <= 0:
        return max(current, 1)
    wanted = current * metric / target
    return math.ceil(wanted) if metric > target else max(1, math.floor(wanted))
