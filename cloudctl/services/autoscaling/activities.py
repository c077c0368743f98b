"""DescribeScalingActivities: the group's activities, newest first, as AWS words them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.autoscaling.common import ValidationError, find_group, loads, page, where
from cloudctl.services.autoscaling.models import AsActivity


def view(row: AsActivity) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ActivityId": row.activity_id, "AutoScalingGroupName": row.group_name,
        "AutoScalingGroupARN": row.group_arn, "Description": row.description,
        "Cause": row.cause, "StartTime": row.started_at, "StatusCode": row.status_code,
        "Progress": row.progress, "Details": json_text(loads(row.details))}
    if row.ended_at is not None:
        item["EndTime"] = row.ended_at
    if row.status_message:
        item["StatusMessage"] = row.status_message
    return item


def json_text(details: dict[str, Any]) -> str:
    import json

    return json.dumps(details)


class ActivitiesProvider(Provider):
    service = "autoscaling"

    @operation("DescribeScalingActivities")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account, region = where(ctx)
        ids = [str(i) for i in params.get("ActivityIds") or []]
        group_name = params.get("AutoScalingGroupName")
        async with self.cloud.sessions() as session:
            query = select(AsActivity).where(AsActivity.account_id == account,
                                             AsActivity.region == region)
            if group_name:
                group = await find_group(session, account, region, str(group_name))
                if group is None and not params.get("IncludeDeletedGroups"):
                    return {"Activities": []}
                query = query.where(AsActivity.group_name == (
                    group.name if group else str(group_name)))
            if ids:
                if len(ids) > 50:
                    raise ValidationError("The number of activity ids is limited to 50.")
                query = query.where(AsActivity.activity_id.in_(ids))
            rows = list((await session.execute(query)).scalars())
        rows.sort(key=lambda r: (r.started_at, r.activity_id), reverse=True)
        ordered = [(i, r) for i, r in enumerate(rows)]
        chunk, token = page("DescribeScalingActivities", params, ordered, lambda p: p[0],
                            default=100, maximum=100)
        out: dict[str, Any] = {"Activities": [view(r) for _, r in chunk]}
        if token:
            out["NextToken"] = token
        return out
