"""Target tracking: the policy's configuration checked, and the two CloudWatch alarms it
creates and owns (``TargetTracking-<group>-AlarmHigh-<id>``: 3 one-minute periods above
the target; ``...-AlarmLow-<id>``: 15 below 90 % of it), made and deleted through
CloudWatch's own PutMetricAlarm/DeleteAlarms as the policy's account."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from cloudctl.auth.credentials import Credential
from cloudctl.protocol.wire import WireRequest
from cloudctl.server.context import RequestContext
from cloudctl.services.autoscaling.common import ValidationError

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.services.autoscaling.models import AsGroup

PREDEFINED = {"ASGAverageCPUUtilization": ("AWS/EC2", "CPUUtilization", "Percent"),
              "ASGAverageNetworkIn": ("AWS/EC2", "NetworkIn", "Bytes"),
              "ASGAverageNetworkOut": ("AWS/EC2", "NetworkOut", "Bytes")}


def check(config: dict[str, Any]) -> None:
    if config.get("TargetValue") is None:
        raise ValidationError("TargetValue is required in TargetTrackingConfiguration.")
    predefined = config.get("PredefinedMetricSpecification")
    custom = config.get("CustomizedMetricSpecification")
    if bool(predefined) == bool(custom):
        raise ValidationError("Exactly one of PredefinedMetricSpecification and "
                              "CustomizedMetricSpecification must be specified.")
    if predefined:
        kind = predefined.get("PredefinedMetricType")
        if kind not in PREDEFINED:
            raise ValidationError(f"The predefined metric type {kind} is not supported by "
                                  f"this cloud; supported: {', '.join(sorted(PREDEFINED))}.")
    elif custom and not custom.get("Metrics") and not (
            custom.get("MetricName") and custom.get("Namespace") and custom.get("Statistic")):
        raise ValidationError("CustomizedMetricSpecification needs MetricName, Namespace and "
                              "Statistic.")
    if custom and custom.get("Metrics"):
        raise ValidationError("Metric math in CustomizedMetricSpecification is not supported "
                              "by this cloud.")


def _context(account: str, region: str, operation: str) -> RequestContext:
    credential = Credential(access_key_id="autoscaling-service", secret_access_key="",
                            account_id=account, principal_arn=f"arn:aws:iam::{account}:root",
                            user_id=account, principal_type="root")
    return RequestContext(request_id=str(uuid.uuid4()), service="cloudwatch",
                          operation=operation, region=region, credential=credential,
                          wire=WireRequest(method="POST", path="/", raw_query="", headers={}),
                          source_ip="127.0.0.1")


async def _cloudwatch(cloud: Cloud, account: str, region: str, operation: str,
                      params: dict[str, Any]) -> None:
    handler = cloud.handler("cloudwatch", operation)
    if handler is None:
        raise ValidationError("CloudWatch is not part of this cloud: target tracking needs "
                              "its alarms.")
    await handler(_context(account, region, operation), params)


def _metric(group: AsGroup, config: dict[str, Any]) -> dict[str, Any]:
    predefined = config.get("PredefinedMetricSpecification")
    if predefined:
        namespace, metric, unit = PREDEFINED[predefined["PredefinedMetricType"]]
        del unit
        return {"Namespace": namespace, "MetricName": metric, "Statistic": "Average",
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group.name}]}
    custom = config["CustomizedMetricSpecification"]
    out = {"Namespace": custom["Namespace"], "MetricName": custom["MetricName"],
           "Statistic": custom["Statistic"], "Dimensions": list(custom.get("Dimensions") or [])}
    if custom.get("Unit"):
        out["Unit"] = custom["Unit"]
    return out


async def replace_alarms(cloud: Cloud, account: str, region: str, group: AsGroup,
                         policy_arn: str, definition: dict[str, Any],
                         old: list[dict[str, str]]) -> list[dict[str, str]]:
    config = definition["TargetTrackingConfiguration"]
    target = float(config["TargetValue"])
    metric = _metric(group, config)
    suffix = str(uuid.uuid4())
    made = []
    alarms = [("AlarmHigh", "GreaterThanThreshold", target, 3)]
    if not config.get("DisableScaleIn"):
        alarms.append(("AlarmLow", "LessThanThreshold", round(target * 0.9, 6), 15))
    for label, operator, threshold, periods in alarms:
        alarm_name = f"TargetTracking-{group.name}-{label}-{suffix}"
        await _cloudwatch(cloud, account, region, "PutMetricAlarm", dict(
            metric, AlarmName=alarm_name, Period=60, EvaluationPeriods=periods,
            DatapointsToAlarm=periods, Threshold=threshold, ComparisonOperator=operator,
            AlarmActions=[policy_arn],
            AlarmDescription=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy "
                             f"{policy_arn}."))
        made.append({"AlarmName": alarm_name,
                     "AlarmARN": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_name}"})
    await delete_alarms(cloud, account, region, old)
    return made


async def delete_alarms(cloud: Cloud, account: str, region: str,
                        alarms: list[dict[str, str]]) -> None:
    if alarms:
        await _cloudwatch(cloud, account, region, "DeleteAlarms",
                          {"AlarmNames": [a["AlarmName"] for a in alarms]})
