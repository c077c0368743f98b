"""AWS::CloudWatch::Alarm over ``cloudctl.services.cloudwatch.api``: a metric alarm
(PutMetricAlarm; its actions may name scaling policies by ARN). Ref is the alarm name,
GetAtt Arn its ARN; an update puts the alarm again under the same name.
"""

from __future__ import annotations

from typing import Any

from cloudctl.services.cloudformation.resources.base import Act, Outcome, ResourceType
from cloudctl.services.cloudwatch import api as cloudwatch

_KEYS = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
         "InsufficientDataActions", "MetricName", "Namespace", "Statistic",
         "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
         "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
         "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")


class Alarm(ResourceType):
    type_name = "AWS::CloudWatch::Alarm"
    updatable = frozenset(_KEYS)
    drift_keys = ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods",
                  "Threshold", "ComparisonOperator", "ActionsEnabled", "AlarmActions",
                  "TreatMissingData")

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await cloudwatch.alarm(act.cloud, act.caller, physical_id)
        if found is None:
            return None
        return {key: found[key] for key in self.drift_keys if key in found}

    async def _put(self, act: Act, name: str, props: dict[str, Any]) -> dict[str, Any]:
        params = {k: props[k] for k in _KEYS if k in props}
        params["AlarmName"] = name
        await cloudwatch.put_metric_alarm(act.cloud, act.caller, params)
        found = await cloudwatch.alarm(act.cloud, act.caller, name) or {}
        return {"Arn": found.get("AlarmArn", "")}

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("AlarmName") or act.physical_name(255)
        return Outcome(name, await self._put(act, name, props))

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        return await self._put(act, physical_id, new)

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await cloudwatch.delete_alarm(act.cloud, act.caller, physical_id)


TYPES: tuple[type[ResourceType], ...] = (Alarm,)
