"""Which instance a scale-in terminates, and in which zone a launch goes.

AWS's order: among instances not protected from scale-in, first the zones with the
most instances (every policy balances zones first), then each termination policy of
the group in turn narrows the candidates (``Default`` is OldestLaunchConfiguration /
OldestLaunchTemplate, then ClosestToNextInstanceHour); what remains ties, broken here
by instance id (AWS picks at random) so the choice is repeatable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    instance_id: str
    zone: str
    launched_at: datetime
    source: str  # the launch configuration's name, or "template-id:version"
    source_age: float | None  # orders sources: a configuration's creation time (epoch
    # seconds) or a template's version number; smaller is older
    current: bool  # launched from the group's current configuration/template


def _oldest_source(items: list[Candidate]) -> list[Candidate]:
    stale = [c for c in items if not c.current]
    if stale:
        items = stale
    dated = [c for c in items if c.source_age is not None]
    if not dated:
        return items
    oldest = min(c.source_age for c in dated if c.source_age is not None)
    return [c for c in dated if c.source_age == oldest]


def _closest_to_hour(items: list[Candidate], now: datetime) -> list[Candidate]:
    def left(c: Candidate) -> float:
        return 3600 - (now - c.launched_at).total_seconds() % 3600

    best = min(left(c) for c in items)
    return [c for c in items if left(c) == best]


def _apply(policy: str, items: list[Candidate], now: datetime) -> list[Candidate]:
    if policy == "OldestInstance":
        first = min(c.launched_at for c in items)
        return [c for c in items if c.launched_at == first]
    if policy == "NewestInstance":
        last = max(c.launched_at for c in items)
        return [c for c in items if c.launched_at == last]
    if policy in ("OldestLaunchConfiguration", "OldestLaunchTemplate"):
        return _oldest_source(items)
    if policy == "ClosestToNextInstanceHour":
        return _closest_to_hour(items, now)
    if policy == "Default":
        return _closest_to_hour(_oldest_source(items), now)
    return items  # AllocationStrategy: one instance type here, nothing to choose by


def choose_victims(candidates: Sequence[Candidate], count: int, policies: Sequence[str],
                   now: datetime) -> list[str]:
    """``count`` instance ids to terminate, one at a time so zones stay balanced."""
    left = list(candidates)
    chosen: list[str] = []
    while left and len(chosen) < count:
        per_zone = Counter(c.zone for c in left)
        most = max(per_zone.values())
        items = [c for c in left if per_zone[c.zone] == most]
        for policy in list(policies) or ["Default"]:
            if len(items) == 1:
                break
            items = _apply(policy, items, now) or items
        victim = min(items, key=lambda c: c.instance_id)
        chosen.append(victim.instance_id)
        left = [c for c in left if c.instance_id != victim.instance_id]
    return chosen


def choose_zone(zones: Sequence[str], counts: Counter[str]) -> str:
    """The group's zone with the fewest instances (the first such, in the group's order)."""
    return min(zones, key=lambda z: (counts[z], list(zones).index(z)))
