"""CloudWatch alarm operations: PutMetricAlarm, PutCompositeAlarm, DescribeAlarms,
DescribeAlarmsForMetric, DescribeAlarmHistory, SetAlarmState, Enable/DisableAlarmActions,
DeleteAlarms, and the alarms' tags (TagResource, UntagResource, ListTagsForResource)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import (
    AwsError,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.cloudwatch import checks, composite, paging
from cloudctl.services.cloudwatch.evaluator import OPERATORS, TREATMENTS
from cloudctl.services.cloudwatch.metrics import ValidationError, parse_queries
from cloudctl.services.cloudwatch.models import CwAlarm, CwAlarmAction, CwAlarmHistory
from cloudctl.services.cloudwatch.query import QueryError
from cloudctl.services.cloudwatch.query import dependency_order as query_order
from cloudctl.services.cloudwatch.stats import is_percentile
from cloudctl.services.cloudwatch.transitions import record_config, transition

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
EC2_ACTION = re.compile(r"^arn:aws:automate:([a-z0-9-]+):ec2:(stop|terminate|reboot|recover)$")
SCALING_ACTION = re.compile(r"^arn:aws:autoscaling:([a-z0-9-]+):(\d{12}):scalingPolicy:")
MAX_ACTIONS = 5


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"
    status = 404


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidFormat(AwsError):
    code = "InvalidFormat"
    status = 400


class LimitExceeded(AwsError):
    code = "LimitExceeded"
    status = 400


def alarm_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def check_actions(params: dict[str, Any], region: str, ec2_ok: bool) -> None:
    for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        actions = list(params.get(key) or [])
        if len(actions) > MAX_ACTIONS:
            raise ValidationError(
                f"The collection {key} must not have a size greater than {MAX_ACTIONS}.")
        for action in actions:
            found = EC2_ACTION.match(str(action))
            if found:
                if found.group(1) != region:
                    raise ValidationError(f"Invalid region {found.group(1)} specified. "
                                          f"Only {region} is supported.")
                if not ec2_ok:
                    raise ValidationError(
                        "Invalid use of EC2 action. An EC2 action can only be used if the "
                        "alarm is monitoring an EC2 instance.")
                continue
            scaling = SCALING_ACTION.match(str(action))
            if scaling:
                if scaling.group(1) != region:
                    raise ValidationError(f"Invalid region {scaling.group(1)} specified. "
                                          f"Only {region} is supported.")
                continue  # the policy's existence is checked when the alarm is stored
            raise ValidationError(f"Invalid action {action}: this cloud carries out EC2 "
                                  "actions (arn:aws:automate:<region>:ec2:stop|terminate|"
                                  "reboot|recover) only.")


def _tags(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, tag in enumerate(list(items or []), 1):
        key = checks.text(tag, "Key", f"Tags.member.{i}.Key", high=128)
        value = checks.text(tag, "Value", f"Tags.member.{i}.Value", low=0, high=256)
        assert key is not None and value is not None
        if key.startswith("aws:"):
            raise InvalidParameterValue(f"Invalid tag key {key}: the prefix aws: is reserved.")
        out[key] = value
    if len(out) > 50:
        raise InvalidParameterValue("The collection Tags must not have a size greater than 50.")
    return out


async def _check_policies(cloud: Any, account: str, region: str,
                          definition: dict[str, Any]) -> None:
    """Auto Scaling policy actions name a policy of the alarm's account that exists."""
    from cloudctl.services.autoscaling import api as autoscaling

    for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        for action in definition.get(key) or []:
            found = SCALING_ACTION.match(str(action))
            if found and (found.group(2) != account or not await autoscaling.policy_exists(
                    cloud, account, region, str(action))):
                raise ValidationError(f"Invalid action {action}: no such Auto Scaling policy.")


def metric_definition(params: dict[str, Any], region: str) -> dict[str, Any]:
    """The checked PutMetricAlarm parameters, as stored."""
    name = checks.text(params, "AlarmName", "AlarmName")
    evaluation = params.get("EvaluationPeriods")
    if evaluation is None:
        raise MissingParameter("The parameter EvaluationPeriods is required.")
    if int(evaluation) < 1:
        raise ValidationError("The parameter EvaluationPeriods must be greater than 0.")
    operator = params.get("ComparisonOperator")
    if operator is None:
        raise MissingParameter("The parameter ComparisonOperator is required.")
    if operator not in OPERATORS:
        if params.get("ThresholdMetricId") or "Band" in str(operator):
            raise ValidationError("Anomaly detection alarms are not supported by this cloud.")
        raise ValidationError(f"The value {operator} for parameter ComparisonOperator is "
                              "invalid.")
    if params.get("ThresholdMetricId"):
        raise ValidationError("Anomaly detection alarms are not supported by this cloud.")
    if params.get("EvaluationCriteria") is not None:
        raise ValidationError("EvaluationCriteria (PromQL alarms) are not supported by this "
                              "cloud.")
    if params.get("Threshold") is None:
        raise MissingParameter("The parameter Threshold is required.")
    threshold = checks.number(params["Threshold"], "Threshold")
    to_alarm = int(params.get("DatapointsToAlarm") or evaluation)
    if not 1 <= to_alarm <= int(evaluation):
        raise ValidationError("DatapointsToAlarm must be greater than 0 and less than or "
                              "equal to EvaluationPeriods.")
    treat = params.get("TreatMissingData") or "missing"
    if treat not in TREATMENTS:
        raise ValidationError(f"The value {treat} for parameter TreatMissingData is invalid.")
    has_single = any(params.get(k) is not None for k in ("MetricName", "Namespace",
                                                          "Statistic", "ExtendedStatistic"))
    metrics = params.get("Metrics")
    definition: dict[str, Any] = {
        "AlarmName": name, "AlarmDescription": params.get("AlarmDescription"),
        "ActionsEnabled": bool(params.get("ActionsEnabled", True)),
        "OKActions": list(params.get("OKActions") or []),
        "AlarmActions": list(params.get("AlarmActions") or []),
        "InsufficientDataActions": list(params.get("InsufficientDataActions") or []),
        "EvaluationPeriods": int(evaluation), "DatapointsToAlarm": to_alarm,
        "Threshold": threshold, "ComparisonOperator": operator, "TreatMissingData": treat}
    if params.get("DatapointsToAlarm") is None:
        definition.pop("DatapointsToAlarm")
    if metrics:
        if has_single:
            raise ValidationError("Metrics list and the MetricName, Namespace, Statistic "
                                  "and ExtendedStatistic parameters are mutually exclusive.")
        queries = parse_queries(list(metrics), where="Metrics")
        try:
            query_order(queries)  # every expression parses and names known ids
        except QueryError as exc:
            raise ValidationError(str(exc)) from exc
        if sum(q.return_data for q in queries) != 1:
            raise ValidationError("Exactly one element of the metrics list should return "
                                  "data.")
        definition["Metrics"] = metrics
        ec2 = any(d[0] == "InstanceId" for q in queries if q.metric
                  for d in q.metric.dimensions)
        period = next(q.period for q in queries if q.metric is not None) \
            if any(q.metric for q in queries) else 60
    else:
        namespace = checks.text(params, "Namespace", "Namespace")
        metric = checks.text(params, "MetricName", "MetricName")
        stat, ext = params.get("Statistic"), params.get("ExtendedStatistic")
        if stat and ext:
            raise InvalidParameterCombination(
                "Statistic and ExtendedStatistic are mutually exclusive.")
        if not stat and not ext:
            raise MissingParameter("One of Statistic or ExtendedStatistic must be specified.")
        if stat and stat not in checks.STATISTICS:
            raise ValidationError(f"The value {stat} for parameter Statistic is invalid.")
        if ext and not is_percentile(str(ext)):
            raise ValidationError(f"The value {ext} for parameter ExtendedStatistic is "
                                  "not supported.")
        dims = checks.full_dimensions(params.get("Dimensions"), "Dimensions")
        period = checks.period(params.get("Period"))
        if period < 60 and period not in (10, 20, 30):
            raise ValidationError("The parameter Period must be 10, 20, 30 or a multiple "
                                  "of 60 for an alarm.")
        definition.update({
            "Namespace": namespace, "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims], "Period": period})
        if stat:
            definition["Statistic"] = stat
        else:
            definition["ExtendedStatistic"] = ext
            low = params.get("EvaluateLowSampleCountPercentile")
            if low is not None:
                if low not in ("evaluate", "ignore"):
                    raise ValidationError(f"The value {low} for parameter "
                                          "EvaluateLowSampleCountPercentile is invalid.")
                definition["EvaluateLowSampleCountPercentile"] = low
        if params.get("Unit"):
            definition["Unit"] = checks.unit(params["Unit"], "Unit")
        ec2 = any(k == "InstanceId" for k, _ in dims)
    if params.get("EvaluateLowSampleCountPercentile") is not None and \
            "ExtendedStatistic" not in definition:
        raise ValidationError("EvaluateLowSampleCountPercentile may only be used with an "
                              "ExtendedStatistic.")
    limit = 86400 if period < 3600 else 7 * 86400
    if period * int(evaluation) > limit:
        raise ValidationError(f"The product of EvaluationPeriods and Period must not "
                              f"exceed {limit} seconds.")
    check_actions(definition, region, ec2)
    return definition


def _iso(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def describe(row: CwAlarm) -> dict[str, Any]:
    d = json.loads(row.definition)
    out: dict[str, Any] = {
        "AlarmName": row.name, "AlarmArn": row.arn,
        "AlarmConfigurationUpdatedTimestamp": _iso(row.config_updated),
        "ActionsEnabled": row.actions_enabled,
        "OKActions": d.get("OKActions", []), "AlarmActions": d.get("AlarmActions", []),
        "InsufficientDataActions": d.get("InsufficientDataActions", []),
        "StateValue": row.state, "StateReason": row.state_reason,
        "StateUpdatedTimestamp": _iso(row.state_updated),
        "StateTransitionedTimestamp": _iso(row.state_transitioned)}
    if d.get("AlarmDescription"):
        out["AlarmDescription"] = d["AlarmDescription"]
    if row.state_reason_data:
        out["StateReasonData"] = row.state_reason_data
    if row.kind == "CompositeAlarm":
        out["AlarmRule"] = d["AlarmRule"]
        return out
    for key in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions",
                "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
                "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile",
                "Metrics"):
        if d.get(key) is not None:
            out[key] = d[key]
    return out


class AlarmsProvider(Provider):
    service = "cloudwatch"

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud)
        self._tasks: set[asyncio.Task[int]] = set()

    async def start(self) -> None:
        """Start the alarm controller (it acts only on the leader)."""
        from cloudctl.services.cloudwatch import properties as props
        from cloudctl.services.cloudwatch.controller import CONTROLLER

        controller = self.cloud.runtime[CONTROLLER]

        async def wake(name: str, value: Any) -> None:
            controller.resync_now()

        async def compact_due(name: str, value: Any) -> None:
            controller.wake("compaction")  # its timer was set for the old interval

        self.cloud.properties.on_change(props.EVALUATION_INTERVAL.name, wake)
        self.cloud.properties.on_change(props.COMPACTION_INTERVAL.name, compact_due)
        self.cloud.spawn(controller.run(), "cloudwatch-alarms")

    async def stop(self) -> None:
        from cloudctl.services.cloudwatch.store import STORE

        hold = self.cloud.runtime.get(STORE)
        if hold is not None:
            await hold.close()

    def _wake(self) -> None:
        from cloudctl.services.cloudwatch.controller import CONTROLLER

        controller = self.cloud.runtime.get(CONTROLLER)
        if controller is not None:
            controller.resync_now()

    async def _find(self, session: AsyncSession, account: str, region: str,
                    name: str) -> CwAlarm | None:
        return (await session.execute(select(CwAlarm).where(
            CwAlarm.account_id == account, CwAlarm.region == region,
            CwAlarm.name == name))).scalar_one_or_none()

    async def _store(self, ctx: RequestContext, definition: dict[str, Any], kind: str,
                     tags: dict[str, str]) -> None:
        account = ctx.require_account()
        name = str(definition["AlarmName"])
        await _check_policies(self.cloud, account, ctx.region, definition)
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            row = await self._find(session, account, ctx.region, name)
            created = row is None
            if row is None:
                row = CwAlarm(account_id=account, region=ctx.region, name=name,
                              arn=alarm_arn(ctx.region, account, name), kind=kind,
                              state="INSUFFICIENT_DATA",
                              state_reason="Unchecked: Initial alarm creation",
                              state_updated=now, state_transitioned=now, transitions=0,
                              evaluated_at=0, tags=json.dumps(tags))
                session.add(row)
            elif row.kind != kind:
                raise ValidationError(f"An alarm named {name} of another type exists.")
            row.definition = json.dumps(definition)
            row.actions_enabled = bool(definition.get("ActionsEnabled", True))
            row.namespace = definition.get("Namespace")
            row.metric_name = definition.get("MetricName")
            row.dimensions = json.dumps(definition.get("Dimensions") or [])
            row.config_updated = now
            row.evaluated_at = 0
            await session.flush()
            record_config(session, row, created, now)
        self._wake()

    @operation("PutMetricAlarm")
    async def put_metric_alarm(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        definition = metric_definition(params, ctx.region)
        await self._store(ctx, definition, "MetricAlarm", _tags(params.get("Tags")))
        return {}

    @operation("PutCompositeAlarm")
    async def put_composite_alarm(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = checks.text(params, "AlarmName", "AlarmName")
        rule = checks.text(params, "AlarmRule", "AlarmRule", high=10240)
        assert name is not None and rule is not None
        try:
            parsed = composite.parse(rule)
        except composite.RuleError as exc:
            raise ValidationError(str(exc)) from exc
        async with self.cloud.sessions() as session:
            for target in composite.alarms(parsed):
                target_name = target.rsplit(":alarm:", 1)[-1]
                if target_name == name:
                    raise ValidationError("A composite alarm rule cannot name its own alarm.")
                if await self._find(session, account, ctx.region, target_name) is None:
                    raise ValidationError(f"Could not save the composite alarm as alarms "
                                          f"[{target}] in the alarm rule do not exist")
        if params.get("ActionsSuppressor"):
            raise ValidationError("ActionsSuppressor is not supported by this cloud.")
        definition: dict[str, Any] = {
            "AlarmName": name, "AlarmRule": rule,
            "AlarmDescription": params.get("AlarmDescription"),
            "ActionsEnabled": bool(params.get("ActionsEnabled", True)),
            "OKActions": list(params.get("OKActions") or []),
            "AlarmActions": list(params.get("AlarmActions") or []),
            "InsufficientDataActions": list(params.get("InsufficientDataActions") or [])}
        check_actions(definition, ctx.region, ec2_ok=False)
        await self._store(ctx, definition, "CompositeAlarm", _tags(params.get("Tags")))
        return {}

    async def _rows(self, ctx: RequestContext) -> list[CwAlarm]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            return list((await session.execute(select(CwAlarm).where(
                CwAlarm.account_id == account, CwAlarm.region == ctx.region)
                .order_by(CwAlarm.name))).scalars())

    @operation("DescribeAlarms")
    async def describe_alarms(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        names = list(params.get("AlarmNames") or [])
        prefix = params.get("AlarmNamePrefix")
        if names and prefix:
            raise InvalidParameterCombination(
                "AlarmNames and AlarmNamePrefix are mutually exclusive.")
        if len(names) > 100:
            raise InvalidParameterValue(
                "The collection AlarmNames must not have a size greater than 100.")
        types = list(params.get("AlarmTypes") or ["MetricAlarm"])
        state = params.get("StateValue")
        if state is not None and state not in STATES:
            raise InvalidParameterValue(f"The value {state} for parameter StateValue is "
                                        "invalid.")
        limit = int(checks.given(params, "MaxRecords", 50))
        if not 1 <= limit <= 100:
            raise InvalidParameterValue(
                f"The value {limit} for parameter MaxRecords is invalid. It must be between "
                "1 and 100.")
        skip = paging.offset("DescribeAlarms", params)
        rows = await self._rows(ctx)
        by_name = {r.name: r for r in rows}
        children = params.get("ChildrenOfAlarmName")
        parents = params.get("ParentsOfAlarmName")
        if children and parents:
            raise InvalidParameterCombination(
                "ChildrenOfAlarmName and ParentsOfAlarmName are mutually exclusive.")
        if children:
            parent = by_name.get(str(children))
            wanted: set[str] = set()
            if parent is not None and parent.kind == "CompositeAlarm":
                rule = json.loads(parent.definition)["AlarmRule"]
                wanted = {a.rsplit(":alarm:", 1)[-1] for a in
                          composite.alarms(composite.parse(rule))}
            rows = [r for r in rows if r.name in wanted]
            if params.get("AlarmTypes") is None:
                types = ["MetricAlarm", "CompositeAlarm"]
        if parents:
            rows = [r for r in rows if r.kind == "CompositeAlarm" and str(parents) in
                    {a.rsplit(":alarm:", 1)[-1] for a in composite.alarms(
                        composite.parse(json.loads(r.definition)["AlarmRule"]))}]
            if params.get("AlarmTypes") is None:
                types = ["CompositeAlarm"]
        if names:
            rows = [r for r in rows if r.name in names]
        if prefix:
            rows = [r for r in rows if r.name.startswith(str(prefix))]
        if state:
            rows = [r for r in rows if r.state == state]
        action_prefix = params.get("ActionPrefix")
        if action_prefix:
            rows = [r for r in rows if any(
                str(a).startswith(str(action_prefix)) for key in
                ("OKActions", "AlarmActions", "InsufficientDataActions")
                for a in json.loads(r.definition).get(key) or [])]
        rows = [r for r in rows if r.kind in types]
        page = rows[skip:skip + limit]
        answer: Result = {
            "MetricAlarms": [describe(r) for r in page if r.kind == "MetricAlarm"],
            "CompositeAlarms": [describe(r) for r in page if r.kind == "CompositeAlarm"]}
        if skip + limit < len(rows):
            answer["NextToken"] = paging.make("DescribeAlarms", params, skip + limit)
        return answer

    @operation("DescribeAlarmsForMetric")
    async def describe_alarms_for_metric(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        namespace = checks.text(params, "Namespace", "Namespace")
        name = checks.text(params, "MetricName", "MetricName")
        dims = checks.full_dimensions(params.get("Dimensions"), "Dimensions")
        out = []
        for row in await self._rows(ctx):
            if row.kind != "MetricAlarm" or row.namespace != namespace or \
                    row.metric_name != name:
                continue
            d = json.loads(row.definition)
            mine = tuple(sorted((x["Name"], x["Value"]) for x in d.get("Dimensions") or []))
            if params.get("Dimensions") is not None and mine != tuple(sorted(dims)):
                continue
            if any(params.get(k) is not None and d.get(k) != params[k]
                   for k in ("Statistic", "ExtendedStatistic", "Period", "Unit")):
                continue
            out.append(describe(row))
        return {"MetricAlarms": out}

    @operation("DescribeAlarmHistory")
    async def describe_alarm_history(self, ctx: RequestContext,
                                     params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        query = select(CwAlarmHistory).where(CwAlarmHistory.account_id == account,
                                             CwAlarmHistory.region == ctx.region)
        if params.get("AlarmName"):
            query = query.where(CwAlarmHistory.alarm_name == params["AlarmName"])
        item_type = params.get("HistoryItemType")
        if item_type is not None:
            if item_type not in ("ConfigurationUpdate", "StateUpdate", "Action",
                                 "AlarmContributorStateUpdate", "AlarmContributorAction"):
                raise InvalidParameterValue(
                    f"The value {item_type} for parameter HistoryItemType is invalid.")
            query = query.where(CwAlarmHistory.item_type == item_type)
        # as on AWS, only metric alarms' history unless AlarmTypes says otherwise
        types = list(params.get("AlarmTypes") or ["MetricAlarm"])
        query = query.where(CwAlarmHistory.alarm_type.in_(types))
        if params.get("StartDate"):
            query = query.where(CwAlarmHistory.timestamp >= checks.when(
                params["StartDate"], "StartDate"))
        if params.get("EndDate"):
            query = query.where(CwAlarmHistory.timestamp <= checks.when(
                params["EndDate"], "EndDate"))
        scan = params.get("ScanBy") or "TimestampDescending"
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise InvalidParameterValue(f"The value {scan} for parameter ScanBy is invalid.")
        if scan == "TimestampDescending":
            query = query.order_by(CwAlarmHistory.timestamp.desc(), CwAlarmHistory.id.desc())
        else:
            query = query.order_by(CwAlarmHistory.timestamp, CwAlarmHistory.id)
        limit = int(checks.given(params, "MaxRecords", 100))
        if not 1 <= limit <= 100:
            raise InvalidParameterValue(
                f"The value {limit} for parameter MaxRecords is invalid. It must be between "
                "1 and 100.")
        skip = paging.offset("DescribeAlarmHistory", params)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(query.offset(skip).limit(limit + 1))).scalars())
        answer: Result = {"AlarmHistoryItems": [
            {"AlarmName": r.alarm_name, "AlarmType": r.alarm_type,
             "Timestamp": _iso(r.timestamp), "HistoryItemType": r.item_type,
             "HistorySummary": r.summary, "HistoryData": r.data} for r in rows[:limit]]}
        if len(rows) > limit:
            answer["NextToken"] = paging.make("DescribeAlarmHistory", params, skip + limit)
        return answer

    @operation("SetAlarmState")
    async def set_alarm_state(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = str(params.get("AlarmName") or "")
        state = params.get("StateValue")
        if state not in STATES:
            raise InvalidParameterValue(f"The value {state} for parameter StateValue is "
                                        "invalid.")
        reason = checks.text(params, "StateReason", "StateReason", low=0, high=1023)
        data = params.get("StateReasonData")
        if data is not None:
            try:
                json.loads(str(data))
            except ValueError as exc:
                raise InvalidFormat("StateReasonData is not valid JSON.") from exc
        async with self.cloud.sessions() as session, session.begin():
            row = await self._find(session, account, ctx.region, name)
            if row is None:
                raise ResourceNotFound(f"Alarm {name} not found")
            await transition(session, row, str(state), reason or "", data, utcnow())
        self._run_actions()
        return {}

    def _run_actions(self) -> None:
        """Carry out the actions just recorded, in this worker (each row is claimed, so
        the leader's controller never does it twice)."""
        from cloudctl.services.cloudwatch.actions import run_pending

        task = asyncio.create_task(run_pending(self.cloud))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _set_actions(self, ctx: RequestContext, params: dict[str, Any],
                           enabled: bool) -> Result:
        account = ctx.require_account()
        names = list(params.get("AlarmNames") or [])
        if len(names) > 100:
            raise InvalidParameterValue(
                "The collection AlarmNames must not have a size greater than 100.")
        async with self.cloud.sessions() as session, session.begin():
            rows = (await session.execute(select(CwAlarm).where(
                CwAlarm.account_id == account, CwAlarm.region == ctx.region,
                CwAlarm.name.in_(names)))).scalars()
            for row in rows:
                row.actions_enabled = enabled
                d = json.loads(row.definition)
                d["ActionsEnabled"] = enabled
                row.definition = json.dumps(d)
        return {}

    @operation("EnableAlarmActions")
    async def enable_alarm_actions(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._set_actions(ctx, params, True)

    @operation("DisableAlarmActions")
    async def disable_alarm_actions(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> Result:
        return await self._set_actions(ctx, params, False)

    @operation("DeleteAlarms")
    async def delete_alarms(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = list(params.get("AlarmNames") or [])
        if len(names) > 100:
            raise InvalidParameterValue(
                "The collection AlarmNames must not have a size greater than 100.")
        async with self.cloud.sessions() as session, session.begin():
            rows = list((await session.execute(select(CwAlarm).where(
                CwAlarm.account_id == account, CwAlarm.region == ctx.region,
                CwAlarm.name.in_(names)))).scalars())
            missing = sorted(set(names) - {r.name for r in rows})
            if missing:
                raise ResourceNotFound(f"{missing[0]} does not exist")
            ids = [r.id for r in rows]
            await session.execute(delete(CwAlarmAction).where(
                CwAlarmAction.alarm_id.in_(ids), CwAlarmAction.status == "done"))
            for row in rows:
                await session.delete(row)
        return {}

    async def _by_arn(self, session: AsyncSession, ctx: RequestContext,
                      arn: str) -> CwAlarm:
        account = ctx.require_account()
        row = (await session.execute(select(CwAlarm).where(
            CwAlarm.account_id == account, CwAlarm.region == ctx.region,
            CwAlarm.arn == arn))).scalar_one_or_none()
        if row is None:
            raise ResourceNotFoundException(f"{arn} not found.", ResourceType="alarm",
                                            ResourceId=arn)
        return row

    @operation("TagResource")
    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        tags = _tags(params.get("Tags"))
        async with self.cloud.sessions() as session, session.begin():
            row = await self._by_arn(session, ctx, str(params.get("ResourceARN") or ""))
            merged = {**json.loads(row.tags), **tags}
            if len(merged) > 50:
                raise InvalidParameterValue("A resource may have at most 50 tags.")
            row.tags = json.dumps(merged)
        return {}

    @operation("UntagResource")
    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._by_arn(session, ctx, str(params.get("ResourceARN") or ""))
            kept = json.loads(row.tags)
            for key in params.get("TagKeys") or []:
                kept.pop(key, None)
            row.tags = json.dumps(kept)
        return {}

    @operation("ListTagsForResource")
    async def list_tags_for_resource(self, ctx: RequestContext,
                                     params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            row = await self._by_arn(session, ctx, str(params.get("ResourceARN") or ""))
        return {"Tags": [{"Key": k, "Value": v} for k, v in json.loads(row.tags).items()]}
