"""Auto Scaling's public API: what other services call (CloudWatch's alarm actions).

- ``policy_exists(cloud, account, region, policy_arn)``: PutMetricAlarm's check of an
  action naming a scaling policy;
- ``execute_policy_from_alarm(cloud, policy_arn, alarm_name, state, ...)``: an alarm's
  action: the policy runs as AWS runs it for an alarm (a simple policy honours its
  cooldown; a step policy takes the breaching value and the threshold; nothing happens
  while the group's AlarmNotification process is suspended or the policy is gone).

Acting as a principal (``cloudctl.server.internal.Caller``, authorised as the same API
request would be; CloudFormation's Auto Scaling types): ``create_launch_configuration``,
``delete_launch_configuration``, ``create_group``, ``update_group``, ``group``,
``delete_group``, ``put_scaling_policy``, ``delete_policy``,
``put_scheduled_action``, ``delete_scheduled_action``, ``put_lifecycle_hook``,
``delete_lifecycle_hook``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call
from cloudctl.services.autoscaling.common import find_group, loads
from cloudctl.services.autoscaling.models import AsPolicy

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["Caller", "create_group", "create_launch_configuration", "delete_group",
           "delete_launch_configuration", "delete_lifecycle_hook", "delete_policy",
           "delete_scheduled_action", "execute_policy_from_alarm", "group", "policy_exists",
           "put_lifecycle_hook", "put_scaling_policy", "put_scheduled_action", "update_group"]


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


# -- as a principal --------------------------------------------------------------------------

def _missing(error: AwsError) -> bool:
    return error.code == "ValidationError" and (
        "not found" in error.message.lower() or "does not exist" in error.message.lower())


async def create_launch_configuration(cloud: Cloud, caller: Caller,
                                      params: dict[str, Any]) -> None:
    await call(cloud, caller, "autoscaling", "CreateLaunchConfiguration", params)


async def delete_launch_configuration(cloud: Cloud, caller: Caller, name: str) -> None:
    """Delete; one already gone is not an error."""
    try:
        await call(cloud, caller, "autoscaling", "DeleteLaunchConfiguration",
                   {"LaunchConfigurationName": name})
    except AwsError as error:
        if not _missing(error):
            raise


async def create_group(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    await call(cloud, caller, "autoscaling", "CreateAutoScalingGroup", params)


async def update_group(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    await call(cloud, caller, "autoscaling", "UpdateAutoScalingGroup", params)


async def group(cloud: Cloud, caller: Caller, name: str) -> dict[str, Any] | None:
    """DescribeAutoScalingGroups' description of ``name``, None when there is none."""
    found = await call(cloud, caller, "autoscaling", "DescribeAutoScalingGroups",
                       {"AutoScalingGroupNames": [name]})
    items = found.get("AutoScalingGroups") or []
    return dict(items[0]) if items else None


async def delete_group(cloud: Cloud, caller: Caller, name: str) -> None:
    """DeleteAutoScalingGroup with ForceDelete (its instances are terminated); a group
    already gone is not an error."""
    try:
        await call(cloud, caller, "autoscaling", "DeleteAutoScalingGroup",
                   {"AutoScalingGroupName": name, "ForceDelete": True})
    except AwsError as error:
        if not _missing(error):
            raise


async def put_scaling_policy(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> str:
    """PutScalingPolicy; the policy ARN."""
    found = await call(cloud, caller, "autoscaling", "PutScalingPolicy", params)
    return str(found["PolicyARN"])


async def delete_policy(cloud: Cloud, caller: Caller, group_name: str, name: str) -> None:
    try:
        await call(cloud, caller, "autoscaling", "DeletePolicy",
                   {"AutoScalingGroupName": group_name, "PolicyName": name})
    except AwsError as error:
        if not _missing(error):
            raise


async def put_scheduled_action(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    await call(cloud, caller, "autoscaling", "PutScheduledUpdateGroupAction", params)


async def delete_scheduled_action(cloud: Cloud, caller: Caller, group_name: str,
                                  name: str) -> None:
    try:
        await call(cloud, caller, "autoscaling", "DeleteScheduledAction",
                   {"AutoScalingGroupName": group_name, "ScheduledActionName": name})
    except AwsError as error:
        if not _missing(error):
            raise


async def put_lifecycle_hook(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    await call(cloud, caller, "autoscaling", "PutLifecycleHook", params)


async def delete_lifecycle_hook(cloud: Cloud, caller: Caller, group_name: str,
                                name: str) -> None:
    try:
        await call(cloud, caller, "autoscaling", "DeleteLifecycleHook",
                   {"AutoScalingGroupName": group_name, "LifecycleHookName": name})
    except AwsError as error:
        if not _missing(error):
            raise
