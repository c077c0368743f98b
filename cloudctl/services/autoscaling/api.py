"""Auto Scaling's public API: what other services call (CloudWatch's alarm actions).

- ``policy_exists(cloud, account, region, policy_arn)``: PutMetricAlarm's check of an
  action naming a scaling policy;
- ``execute_policy_from_alarm(cloud, policy_arn, alarm_name, state, ...)``: an alarm's
  action: the policy runs as AWS runs it for an alarm (a simple policy honours its
  cooldown; a step policy takes the breaching value and the threshold; nothing happens
  while the group's AlarmNotification process is suspended or the policy is gone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from cloudctl.services.autoscaling.common import find_group, loads
from cloudctl.services.autoscaling.models import AsPolicy

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["execute_policy_from_alarm", "policy_exists"]


def _where(policy_arn: str) -> tuple[str, str]:
    parts = policy_arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


async def policy_exists(cloud: Cloud, account: str, region: str, policy_arn: str) -> bool:
    async with cloud.sessions() as session:
        return (await session.execute(select(AsPolicy.arn).where(
            AsPolicy.account_id == account, AsPolicy.region == region,
            AsPolicy.arn == policy_arn))).first() is not None


async def execute_policy_from_alarm(cloud: Cloud, policy_arn: str, alarm_name: str, state: str,
                                    *, metric_value: float | None = None,
                                    threshold: float | None = None,
                                    account: str | None = None,
                                    region: str | None = None) -> None:
    from cloudctl.services.autoscaling.policies import run_policy

    arn_account, arn_region = _where(policy_arn)
    account, region = account or arn_account, region or arn_region
    async with cloud.sessions() as session:
        policy = (await session.execute(select(AsPolicy).where(
            AsPolicy.account_id == account, AsPolicy.region == region,
            AsPolicy.arn == policy_arn))).scalar_one_or_none()
        if policy is None:
            return
        group = await find_group(session, account, region, policy.group_name)
        if group is None:
            return
        suspended = {p["ProcessName"] for p in
                     loads(group.definition).get("SuspendedProcesses") or []}
        if "AlarmNotification" in suspended:
            return
    await run_policy(cloud, account, region, policy_arn, None,
                     cause=f"a monitor alarm {alarm_name} in state {state} triggered policy",
                     honor_cooldown=True, metric=metric_value, threshold=threshold,
                     strict=False)
