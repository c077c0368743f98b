"""Unix cron (``minute hour day-of-month month day-of-week``) as scheduled actions'
``Recurrence`` takes it: lists, ranges, steps, ``*``, month and day names; the next
time after a moment in a time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudctl.services.autoscaling.common import ValidationError

MONTHS = {n: i for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                      "sep", "oct", "nov", "dec"), start=1)}
DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, MONTHS), (0, 7, DAYS))


def _value(text: str, names: dict[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(base, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or step < 1 or start > end:
            raise ValueError(part)
        out.update(range(start, end + 1, step))
    return out


def parse(expression: str) -> tuple[set[int], ...]:
    parts = expression.split()
    if len(parts) != 5:
        raise ValidationError(f"Given recurrence string {expression} is invalid")
    try:
        fields = tuple(_field(p, lo, hi, names) for p, (lo, hi, names) in zip(
            parts, FIELDS, strict=True))
    except (ValueError, KeyError):
        raise ValidationError(f"Given recurrence string {expression} is invalid") from None
    days = fields[4]
    if 7 in days:
        days = (days - {7}) | {0}
    return fields[:4] + (days,)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Given time zone {name} is invalid") from None


def next_after(expression: str, after: datetime, tz_name: str | None) -> datetime:
    """The first minute strictly after ``after`` (aware) that the expression names."""
    minutes, hours, mdays, months, wdays = parse(expression)
    any_mday = len(mdays) == 31
    any_wday = len(wdays) == 7
    tz = zone(tz_name)
    at = after.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60 * 5):
        if at.month not in months:
            at = (at.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            continue
        wday = (at.weekday() + 1) % 7
        if any_mday and any_wday:
            day_ok = True
        elif any_mday:
            day_ok = wday in wdays
        elif any_wday:
            day_ok = at.day in mdays
        else:
            day_ok = at.day in mdays or wday in wdays
        if not day_ok:
            at = at.replace(hour=0, minute=0) + timedelta(days=1)
            continue
        if at.hour not in hours:
            at = at.replace(minute=0) + timedelta(hours=1)
            continue
        if at.minute not in minutes:
            at += timedelta(minutes=1)
            continue
        return at.astimezone(after.tzinfo)
    raise ValidationError(f"Given recurrence string {expression} never occurs")
