"""Carrying out alarm actions recorded as intent (``cw_alarm_actions``).

A row is ``pending`` when the transition is committed, ``running`` (committed, claimed by a
conditional update so one process carries it out) just before the action is carried
out, ``done`` or ``failed`` after. After a crash a ``running`` row is carried out again
only when the action is idempotent (EC2 stop and
terminate: the instance is already stopping or gone, nothing happens twice); a reboot
or recover found ``running`` is not repeated (recorded failed: interrupted), so no
action is ever done twice and none is lost. EC2 actions go through EC2's own
StopInstances/TerminateInstances/RebootInstances handlers as the alarm's account
(``recover`` reboots the guest: this cloud has no host to move it to).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from cloudctl.auth.credentials import Credential
from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest
from cloudctl.server.context import RequestContext
from cloudctl.services.cloudwatch.alarms import EC2_ACTION, SCALING_ACTION
from cloudctl.services.cloudwatch.models import CwAlarm, CwAlarmAction
from cloudctl.services.cloudwatch.transitions import history

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)
EC2_OPERATIONS = {"stop": "StopInstances", "terminate": "TerminateInstances",
                  "reboot": "RebootInstances", "recover": "RebootInstances"}
IDEMPOTENT = frozenset({"stop", "terminate"})


def _context(alarm: CwAlarm, operation: str) -> RequestContext:
    account = alarm.account_id
    credential = Credential(access_key_id="cloudwatch-alarm-action", secret_access_key="",
                            account_id=account, principal_arn=f"arn:aws:iam::{account}:root",
                            user_id=account, principal_type="root")
    return RequestContext(request_id=str(uuid.uuid4()), service="ec2", operation=operation,
                          region=alarm.region, credential=credential,
                          wire=WireRequest(method="POST", path="/", raw_query="", headers={}),
                          source_ip="127.0.0.1")


async def _scale(cloud: Cloud, alarm: CwAlarm, action: str) -> str:
    """Run an Auto Scaling policy for the alarm's new state (step and target tracking
    policies get the breaching value and the threshold)."""
    from cloudctl.services.autoscaling import api as autoscaling

    value: float | None = None
    threshold: float | None = None
    if alarm.state_reason_data:
        with contextlib.suppress(ValueError, TypeError):
            data = json.loads(alarm.state_reason_data)
            points = [float(p) for p in data.get("recentDatapoints") or []]
            if points:
                value = points[-1]
            if data.get("threshold") is not None:
                threshold = float(data["threshold"])
    await autoscaling.execute_policy_from_alarm(cloud, action, alarm.name, alarm.state,
                                                metric_value=value, threshold=threshold,
                                                account=alarm.account_id,
                                                region=alarm.region)
    return f"ExecutePolicy {action}"


async def _act(cloud: Cloud, alarm: CwAlarm, action: str) -> str:
    if SCALING_ACTION.match(action):
        return await _scale(cloud, alarm, action)
    found = EC2_ACTION.match(action)
    if found is None:
        raise AwsError(f"Unsupported action {action}", code="ValidationError")
    verb = found.group(2)
    definition = json.loads(alarm.definition)
    instances = sorted({d["Value"] for d in definition.get("Dimensions") or []
                        if d.get("Name") == "InstanceId"})
    for query in definition.get("Metrics") or []:
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        instances += [d["Value"] for d in metric.get("Dimensions") or []
                      if d.get("Name") == "InstanceId"]
    if not instances:
        raise AwsError("The alarm watches no InstanceId", code="ValidationError")
    operation = EC2_OPERATIONS[verb]
    handler = cloud.handler("ec2", operation)
    if handler is None:
        raise AwsError("EC2 is not installed in this cloud", code="ValidationError")
    await handler(_context(alarm, operation), {"InstanceIds": sorted(set(instances))})
    return f"{operation} {' '.join(sorted(set(instances)))}"


async def run_pending(cloud: Cloud, limit: int = 100, *, recover: bool = False) -> int:
    """Carry out owed actions; the number looked at.

    Any API worker may call it (SetAlarmState runs its actions at once): a row is
    claimed by a conditional update (``pending`` -> ``running``, the claim time in
    ``done_at``), so only one process carries it out. ``recover`` (the leader's
    controller) also handles rows left ``running`` by a process that died: claimed
    before this cloud started."""
    started = datetime.fromtimestamp(cloud.started_at, UTC)
    async with cloud.sessions() as session:
        query = select(CwAlarmAction).where(CwAlarmAction.status == "pending")
        if recover:
            query = select(CwAlarmAction).where(
                (CwAlarmAction.status == "pending") | (
                    (CwAlarmAction.status == "running") & (CwAlarmAction.done_at < started)))
        rows = list((await session.execute(query.order_by(CwAlarmAction.id)
                                           .limit(limit))).scalars())
    for row in rows:
        verb = (EC2_ACTION.match(row.action) or [None, None, ""])[2]
        async with cloud.sessions() as session, session.begin():
            alarm = await session.get(CwAlarm, row.alarm_id)
            if row.status == "running" and verb not in IDEMPOTENT:
                await _finish(session, row.id, alarm, row.action, "failed",
                              "interrupted by a restart; not repeated")
                continue
            if alarm is None:
                await _finish(session, row.id, None, row.action, "failed", "alarm deleted")
                continue
            claimed = await session.execute(
                update(CwAlarmAction).where(CwAlarmAction.id == row.id,
                                            CwAlarmAction.status == row.status)
                .values(status="running", done_at=utcnow())
                .execution_options(synchronize_session=False))
            if getattr(claimed, "rowcount", 0) != 1:
                continue  # another process took it
        try:
            done = await _act(cloud, alarm, row.action)
            status, result = "done", done
        except AwsError as exc:
            status, result = "failed", f"{exc.code}: {exc.message}"
        except Exception as exc:  # recorded on the row, never retried into a double
            log.exception("alarm action %s of %s failed", row.action, alarm.name)
            status, result = "failed", str(exc)
        async with cloud.sessions() as session, session.begin():
            await _finish(session, row.id, alarm, row.action, status, result)
    return len(rows)


async def _finish(session: object, action_id: int, alarm: CwAlarm | None, action: str,
                  status: str, result: str) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    now = utcnow()
    await session.execute(update(CwAlarmAction).where(CwAlarmAction.id == action_id)
                          .values(status=status, result=result, done_at=now))
    if alarm is not None:
        summary = (f"Successfully executed action {action}" if status == "done"
                   else f"Failed to execute action {action}")
        history(session, alarm, "Action", summary,
                {"actionState": "Succeeded" if status == "done" else "Failed",
                 "notificationResource": action, "result": result}, now)
