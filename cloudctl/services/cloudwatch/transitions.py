"""Alarm state changes, one way for every caller (the evaluator, SetAlarmState): the
row is updated only if nobody changed it since it was read (``transitions`` is the
version), the history item and the actions owed (intent rows in ``cw_alarm_actions``)
are written in the same transaction. ``record_config`` writes configuration history."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.cloudwatch.models import CwAlarm, CwAlarmAction, CwAlarmHistory

ACTION_KEYS = {"ALARM": "AlarmActions", "OK": "OKActions",
               "INSUFFICIENT_DATA": "InsufficientDataActions"}


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history(session: AsyncSession, alarm: CwAlarm, item_type: str, summary: str,
            data: dict[str, Any], now: datetime) -> None:
    session.add(CwAlarmHistory(account_id=alarm.account_id, region=alarm.region,
                               alarm_name=alarm.name, alarm_type=alarm.kind, timestamp=now,
                               item_type=item_type, summary=summary,
                               data=json.dumps(data)))


def record_config(session: AsyncSession, alarm: CwAlarm, created: bool,
                  now: datetime) -> None:
    verb = "created" if created else "updated"
    history(session, alarm, "ConfigurationUpdate", f'Alarm "{alarm.name}" {verb}',
            {"version": "1.0", "type": "Create" if created else "Update",
             "createdAlarm" if created else "updatedAlarm": json.loads(alarm.definition)},
            now)


async def transition(session: AsyncSession, alarm: CwAlarm, state: str, reason: str,
                     reason_data: str | None, now: datetime, *,
                     evaluated_at: int | None = None) -> bool:
    """Move ``alarm`` to ``state`` (within the caller's transaction); False when another
    writer changed the alarm first (nothing written)."""
    old_state, old_reason = alarm.state, alarm.state_reason
    seq = alarm.transitions
    values: dict[str, Any] = {"state": state, "state_reason": reason,
                              "state_reason_data": reason_data, "state_updated": now,
                              "transitions": seq + 1}
    if state != old_state:
        values["state_transitioned"] = now
    if evaluated_at is not None:
        values["evaluated_at"] = evaluated_at
    result = await session.execute(
        update(CwAlarm).where(CwAlarm.id == alarm.id, CwAlarm.transitions == seq)
        .values(**values).execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    for key, value in values.items():
        setattr(alarm, key, value)
    data: dict[str, Any] = {
        "version": "1.0",
        "oldState": {"stateValue": old_state, "stateReason": old_reason},
        "newState": {"stateValue": state, "stateReason": reason}}
    if reason_data:
        data["newState"]["stateReasonData"] = json.loads(reason_data)
    history(session, alarm, "StateUpdate",
            f"Alarm updated from {old_state} to {state}", data, now)
    if alarm.actions_enabled and state != old_state:
        definition = json.loads(alarm.definition)
        for action in definition.get(ACTION_KEYS[state]) or []:
            session.add(CwAlarmAction(alarm_id=alarm.id, transition=seq + 1, action=action,
                                      status="pending", created=now, result=""))
    return True
