"""CloudWatch metric operations: PutMetricData, GetMetricStatistics, GetMetricData and
ListMetrics, with AWS's limits and errors."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudctl.errors import (
    AwsError,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.cloudwatch import api, checks, ingest, paging, query
from cloudctl.services.cloudwatch.series import Datum, StatisticSet, plain_datum
from cloudctl.services.cloudwatch.usual import MAX_DATA

MAX_VALUES = 150
MAX_POINTS_GMS = 1440
MAX_POINTS_GMD = 100_800
PAGE_STRIDE = 1 << 24  # token of a stats-only page: query index * stride + point index


class ValidationError(AwsError):
    code = "ValidationError"
    status = 400


def _plain_datum(item: dict[str, Any], namespace: str, now: datetime, oldest: datetime,
                 newest: datetime) -> Datum | None:
    """The usual datum (``ingest.plain_fields``) without building messages; None sends
    it to ``_datum``, which checks everything and names what is wrong."""
    fields = ingest.plain_fields(item, oldest, newest)
    if fields is None:
        return None
    name, dims, stamp, value, unit = fields
    return plain_datum(namespace, name, dims, now if stamp is None else stamp, value, unit)


def _datum(item: dict[str, Any], i: int, namespace: str, now: datetime) -> Datum:
    where = f"MetricData.member.{i}"
    name = checks.text(item, "MetricName", f"{where}.MetricName")
    assert name is not None
    dims = checks.full_dimensions(item.get("Dimensions"), f"{where}.Dimensions")
    stamp = item.get("Timestamp")
    when = now if stamp is None else checks.when(stamp, f"{where}.Timestamp")
    if when < now - timedelta(days=14):
        raise InvalidParameterValue(f"The parameter {where}.Timestamp must specify a time "
                                    "no more than two weeks in the past.")
    if when > now + timedelta(hours=2):
        raise InvalidParameterValue(f"The parameter {where}.Timestamp must specify a time "
                                    "no more than two hours in the future.")
    unit = checks.unit(item.get("Unit"), f"{where}.Unit") or "None"
    resolution = int(item.get("StorageResolution", 60))
    if resolution not in (1, 60):
        raise InvalidParameterValue(
            f"The value {resolution} for parameter {where}.StorageResolution is invalid. "
            "It must be 1 or 60.")
    given = [k for k in ("Value", "Values", "StatisticValues") if item.get(k) is not None]
    if "Values" in given and not item.get("Values"):
        given.remove("Values")
    if len(given) > 1:
        raise InvalidParameterCombination(
            f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually "
            "exclusive and you have specified both.")
    if item.get("Counts") and "Values" not in given:
        raise InvalidParameterCombination(
            f"The parameter {where}.Counts must be specified with {where}.Values.")
    if not given:
        raise MissingParameter(f"At least one of the parameters {where}.Value, "
                               f"{where}.Values or {where}.StatisticValues must be specified.")
    if given[0] == "Value":
        return Datum(namespace, name, dims, when, checks.number(item["Value"], f"{where}.Value"),
                     unit=unit, storage_resolution=resolution)
    if given[0] == "Values":
        values = [checks.number(v, f"{where}.Values") for v in item["Values"]]
        if len(values) > MAX_VALUES:
            raise InvalidParameterValue(f"The collection {where}.Values must not have a size "
                                        f"greater than {MAX_VALUES}.")
        counts = [checks.number(c, f"{where}.Counts") for c in item.get("Counts") or []]
        if counts and len(counts) != len(values):
            raise InvalidParameterValue(f"The parameters {where}.Values and {where}.Counts "
                                        "must be of the same size.")
        if any(c < 0 for c in counts):
            raise InvalidParameterValue(f"The parameter {where}.Counts must not be negative.")
        return Datum(namespace, name, dims, when, values=tuple(values), counts=tuple(counts),
                     unit=unit, storage_resolution=resolution)
    sv = item["StatisticValues"]
    for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
        if sv.get(key) is None:
            raise MissingParameter(
                f"The parameter {where}.StatisticValues.{key} is required.")
    stats = StatisticSet(*(checks.number(sv[k], f"{where}.StatisticValues.{k}")
                           for k in ("SampleCount", "Sum", "Minimum", "Maximum")))
    if stats.sample_count <= 0:
        raise InvalidParameterValue(
            f"The parameter {where}.StatisticValues.SampleCount must be greater than 0.")
    if stats.minimum > stats.maximum:
        raise InvalidParameterValue(f"The parameter {where}.StatisticValues.Minimum must be "
                                    f"less than or equal to {where}.StatisticValues.Maximum.")
    return Datum(namespace, name, dims, when, stats=stats, unit=unit,
                 storage_resolution=resolution)


def _metric(item: dict[str, Any], where: str) -> query.MetricRef:
    namespace = checks.text(item, "Namespace", f"{where}.Namespace")
    name = checks.text(item, "MetricName", f"{where}.MetricName")
    assert namespace is not None and name is not None
    return query.MetricRef(namespace, name,
                           checks.full_dimensions(item.get("Dimensions"), f"{where}.Dimensions"))


def parse_queries(items: list[dict[str, Any]], *, where: str = "MetricDataQueries",
                  error: type[AwsError] = ValidationError) -> list[query.Query]:
    """Checked MetricDataQuery items (GetMetricData, metric-math alarms)."""
    if not items:
        raise MissingParameter(f"The parameter {where} is required.")
    if len(items) > 500:
        raise error(f"The collection {where} must not have a size greater than 500.")
    out: list[query.Query] = []
    seen: set[str] = set()
    for i, item in enumerate(items, 1):
        at = f"{where}.member.{i}"
        qid = str(item.get("Id") or "")
        if not qid:
            raise MissingParameter(f"The parameter {at}.Id is required.")
        if not checks.ID.match(qid) or len(qid) > 255:
            raise error(f"The value {qid} for parameter {at}.Id is invalid. It must start "
                        "with a lowercase letter and contain only letters, numbers and "
                        "underscores.")
        if qid in seen:
            raise error(f"The value {qid} for parameter {at}.Id is not unique.")
        seen.add(qid)
        stat_item, expr = item.get("MetricStat"), item.get("Expression")
        if (stat_item is None) == (expr is None):
            raise error(f"Exactly one element of {at}.MetricStat and {at}.Expression must "
                        "be specified.")
        q = query.Query(qid, label=item.get("Label"),
                        return_data=bool(item.get("ReturnData", True)))
        if stat_item is not None:
            metric = stat_item.get("Metric")
            if not metric:
                raise MissingParameter(f"The parameter {at}.MetricStat.Metric is required.")
            q.metric = _metric(metric, f"{at}.MetricStat.Metric")
            q.period = checks.period(stat_item.get("Period"), f"{at}.MetricStat.Period")
            stat = str(stat_item.get("Stat") or "")
            if stat not in checks.STATISTICS and not _percentile(stat):
                raise error(f"The value {stat} for parameter {at}.MetricStat.Stat is invalid.")
            q.stat = stat
            q.unit = checks.unit(stat_item.get("Unit"), f"{at}.MetricStat.Unit")
        else:
            q.expression = str(expr)
            if not 1 <= len(q.expression) <= 2048:
                raise error(f"The parameter {at}.Expression must be between 1 and 2048 "
                            "characters long.")
            q.period = checks.period(item["Period"], f"{at}.Period") \
                if item.get("Period") is not None else 0
        out.append(q)
    if not any(q.return_data for q in out):
        raise error("No metric data queries have ReturnData set to true.")
    return out


def _percentile(stat: str) -> bool:
    from cloudctl.services.cloudwatch.stats import is_percentile

    return is_percentile(stat)


@functools.lru_cache(maxsize=65536)
def _utc(stamp: int) -> datetime:
    """Epoch seconds as a datetime (the queries of a page share their period starts)."""
    return datetime.fromtimestamp(stamp, UTC)


def _ordered(points: tuple[list[int], list[float]],
             descending: bool) -> tuple[list[int], list[float]]:
    """The finite points (timestamps ascending, values) in the order asked."""
    stamps, values = points
    if descending:
        stamps, values = stamps[::-1], values[::-1]
    if not all(map(math.isfinite, values)):
        stamps = [t for t, v in zip(stamps, values, strict=True) if math.isfinite(v)]
        values = [v for v in values if math.isfinite(v)]
    return stamps, values


def _finite(points: dict[int, float]) -> list[tuple[int, float]]:
    return [(t, v) for t, v in sorted(points.items()) if math.isfinite(v)]


class MetricsProvider(Provider):
    service = "cloudwatch"

    @operation("PutMetricData")
    async def put_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        namespace = checks.text(params, "Namespace", "Namespace")
        assert namespace is not None
        if namespace.startswith("AWS/") or namespace.startswith(":"):
            raise InvalidParameterValue(
                f"The value {namespace} for parameter Namespace is invalid.")
        items = params.get("MetricData") or []  # a list (``usual.UsualData`` kept)
        if not items:
            if params.get("EntityMetricData"):
                raise InvalidParameterValue("EntityMetricData is not supported by this cloud.")
            raise MissingParameter("The parameter MetricData is required.")
        if len(items) > MAX_DATA:
            raise InvalidParameterValue(
                f"The collection MetricData must not have a size greater than {MAX_DATA}.")
        now = datetime.now(UTC)
        oldest, newest = now - timedelta(days=14), now + timedelta(hours=2)
        if await ingest.put_plain(api.holder(self.cloud), account, ctx.region,
                                  namespace, items, now, oldest, newest):
            return {}
        data = [_plain_datum(item, namespace, now, oldest, newest) or
                _datum(item, i, namespace, now) for i, item in enumerate(items, 1)]
        await api.publish(self.cloud, account, ctx.region, data)
        return {}

    @operation("GetMetricStatistics")
    async def get_metric_statistics(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        metric = _metric(params, "")
        start = checks.when(params.get("StartTime"), "StartTime")
        end = checks.when(params.get("EndTime"), "EndTime")
        if start >= end:
            raise InvalidParameterValue(
                "The parameter StartTime must be less than the parameter EndTime.")
        if params.get("Statistics") and params.get("ExtendedStatistics"):
            raise InvalidParameterCombination(
                "Must specify either Statistics or ExtendedStatistics, but not both.")
        stats = checks.statistic_names(params.get("Statistics"),
                                       params.get("ExtendedStatistics"))
        period = checks.period(params.get("Period"))
        wanted = (end - start).total_seconds() / period
        if wanted > MAX_POINTS_GMS:
            raise InvalidParameterCombination(
                f"You have requested up to {int(math.ceil(wanted))} datapoints, which "
                f"exceeds the limit of {MAX_POINTS_GMS}. You may reduce the datapoints "
                "requested by increasing Period, or decreasing the time range.")
        unit = checks.unit(params.get("Unit"), "Unit")
        points = await api.statistics(self.cloud, account, ctx.region, metric.namespace,
                                      metric.name, metric.dimensions, start, end, period,
                                      stats, unit)
        return {"Label": metric.name, "Datapoints": points}

    @operation("GetMetricData")
    async def get_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        queries = parse_queries(list(params.get("MetricDataQueries") or []))
        start = checks.when(params.get("StartTime"), "StartTime")
        end = checks.when(params.get("EndTime"), "EndTime")
        if start >= end:
            raise ValidationError(
                "The parameter StartTime must be less than the parameter EndTime.")
        scan = params.get("ScanBy") or "TimestampDescending"
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise ValidationError(f"The value {scan} for parameter ScanBy is invalid.")
        limit = int(checks.given(params, "MaxDatapoints", MAX_POINTS_GMD))
        if limit < 1:
            raise ValidationError("The parameter MaxDatapoints must be greater than 0.")
        skip = paging.offset("GetMetricData", params)
        if all(q.expression is None for q in queries):
            return await self._stats_page(account, ctx.region, params, queries, start, end,
                                          scan, limit, skip)
        try:
            results = await query.run(self.cloud, account, ctx.region, queries, start, end)
        except query.QueryError as exc:
            raise ValidationError(str(exc)) from exc
        out: list[dict[str, Any]] = []
        position, served, more = 0, 0, False
        for result in results:
            points = _finite(result.points)
            if scan == "TimestampDescending":
                points.reverse()
            lo = max(0, skip - position)
            position += len(points)
            take = points[lo:lo + max(0, limit - served)] if lo < len(points) else []
            served += len(take)
            partial = lo + len(take) < len(points)
            more = more or partial
            if lo >= len(points) and points:
                continue
            entry: dict[str, Any] = {
                "Id": result.id, "Label": result.label,
                "Timestamps": [datetime.fromtimestamp(t, UTC) for t, _ in take],
                "Values": [v for _, v in take],
                "StatusCode": "PartialData" if partial else "Complete"}
            if result.error:
                entry["StatusCode"] = "InternalError"
                entry["Messages"] = [{"Code": "ArithmeticError", "Value": result.error}]
            out.append(entry)
        answer: Result = {"MetricDataResults": out, "Messages": []}
        if more:
            answer["NextToken"] = paging.make("GetMetricData", params, skip + served)
        return answer

    async def _stats_page(self, account: str, region: str, params: dict[str, Any],
                          queries: list[query.Query], start: datetime, end: datetime,
                          scan: str, limit: int, token: int) -> Result:
        """A page of metric stat queries only, computed query by query from where the
        token says (query index, point index): a page costs what it serves, not the whole
        answer again."""
        wanted = [q for q in queries if q.return_data]
        index, skip = divmod(token, PAGE_STRIDE)
        out: list[dict[str, Any]] = []
        served = 0
        begin, finish = start.timestamp(), end.timestamp()
        while index < len(wanted) and served < limit:
            chunk = wanted[index:index + 10]
            series = await query.stat_lists(self.cloud, account, region, chunk, begin,
                                            finish)
            for q, points in zip(chunk, series, strict=True):
                stamps, values = _ordered(points, scan == "TimestampDescending")
                total = len(stamps)
                stamps = stamps[skip:skip + limit - served]
                values = values[skip:skip + limit - served]
                served += len(stamps)
                assert q.metric is not None
                partial = skip + len(stamps) < total
                out.append({"Id": q.id, "Label": q.label or q.metric.name,
                            "Timestamps": list(map(_utc, stamps)), "Values": values,
                            "StatusCode": "PartialData" if partial else "Complete"})
                if partial:
                    answer: Result = {"MetricDataResults": out, "Messages": []}
                    answer["NextToken"] = paging.make("GetMetricData", params,
                                                      index * PAGE_STRIDE + skip + len(stamps))
                    return answer
                index, skip = index + 1, 0
                if served >= limit:
                    break
        answer = {"MetricDataResults": out, "Messages": []}
        if index < len(wanted):
            answer["NextToken"] = paging.make("GetMetricData", params, index * PAGE_STRIDE)
        return answer

    @operation("ListMetrics")
    async def list_metrics(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        namespace = checks.text(params, "Namespace", "Namespace", required=False)
        name = checks.text(params, "MetricName", "MetricName", required=False)
        dims = checks.dimensions(params.get("Dimensions"), "Dimensions",
                                 values_required=False)
        recent = params.get("RecentlyActive")
        if recent is not None and recent != "PT3H":
            raise InvalidParameterValue(
                f"The value {recent} for parameter RecentlyActive is invalid.")
        skip = paging.offset("ListMetrics", params)
        found = await api.list_metrics(self.cloud, account, ctx.region, namespace=namespace,
                                       name=name, dimensions=dims,
                                       recently_active=recent is not None)
        page = found[skip:skip + 500]
        answer: Result = {"Metrics": [
            {"Namespace": m.namespace, "MetricName": m.name,
             "Dimensions": [{"Name": k, "Value": v} for k, v in m.dimensions]}
            for m in page]}
        if skip + 500 < len(found):
            answer["NextToken"] = paging.make("ListMetrics", params, skip + 500)
        return answer
