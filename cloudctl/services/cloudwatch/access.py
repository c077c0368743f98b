"""How CloudWatch operations name their resources for IAM (``cloudwatch:<Operation>`` on
``arn:aws:cloudwatch:<region>:<account>:alarm:<name>`` for the alarm operations and on
``arn:aws:cloudwatch::<account>:dashboard/<name>`` for the dashboard ones; metric
operations name ``*``, as on AWS)."""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.services.cloudwatch.alarms import alarm_arn
from cloudctl.services.cloudwatch.dashboards import dashboard_arn

ALARM_ONE = frozenset({"PutMetricAlarm", "PutCompositeAlarm", "SetAlarmState"})
ALARM_MANY = frozenset({"DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions"})
DASHBOARD_ONE = frozenset({"PutDashboard", "GetDashboard"})
TAGGING = frozenset({"TagResource", "UntagResource", "ListTagsForResource"})


def resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    account = ctx.account_id or ""
    op = ctx.operation
    if op in ALARM_ONE and params.get("AlarmName"):
        return [alarm_arn(ctx.region, account, str(params["AlarmName"]))]
    if op in ALARM_MANY:
        return [alarm_arn(ctx.region, account, str(n)) for n in params.get("AlarmNames") or []]
    if op == "DescribeAlarmHistory" and params.get("AlarmName"):
        return [alarm_arn(ctx.region, account, str(params["AlarmName"]))]
    if op in DASHBOARD_ONE and params.get("DashboardName"):
        return [dashboard_arn(account, str(params["DashboardName"]))]
    if op == "DeleteDashboards":
        return [dashboard_arn(account, str(n)) for n in params.get("DashboardNames") or []]
    if op in TAGGING and params.get("ResourceARN"):
        return [str(params["ResourceARN"])]
    return []
