"""CloudWatch dashboards: PutDashboard (body validated as AWS does: a JSON object with
a ``widgets`` array of typed, placed widgets), GetDashboard, ListDashboards and
DeleteDashboards."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError, InvalidParameterValue, MissingParameter
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.cloudwatch import paging
from cloudctl.services.cloudwatch.alarms import ResourceNotFound
from cloudctl.services.cloudwatch.models import CwDashboard

NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer", "custom")
MAX_BODY = 1 << 20


class InvalidDashboard(AwsError):
    code = "InvalidParameterInput"
    status = 400


def _problems(body: str) -> list[dict[str, str]]:
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        return [{"DataPath": "", "Message": f"Should be a valid JSON document: {exc.msg}"}]
    if not isinstance(doc, dict):
        return [{"DataPath": "", "Message": "Should be object"}]
    widgets = doc.get("widgets")
    if not isinstance(widgets, list):
        return [{"DataPath": "/widgets", "Message": "Should be array"}]
    out: list[dict[str, str]] = []
    for i, widget in enumerate(widgets):
        at = f"/widgets/{i}"
        if not isinstance(widget, dict):
            out.append({"DataPath": at, "Message": "Should be object"})
            continue
        if widget.get("type") not in WIDGET_TYPES:
            out.append({"DataPath": f"{at}/type",
                        "Message": f"Should be equal to one of the allowed values "
                                   f"{list(WIDGET_TYPES)}"})
        props = widget.get("properties")
        if not isinstance(props, dict):
            out.append({"DataPath": f"{at}/properties", "Message": "Should be object"})
        elif widget.get("type") == "metric" and not (
                isinstance(props.get("metrics"), list) or "query" in props
                or "annotations" in props):
            out.append({"DataPath": f"{at}/properties",
                        "Message": "Should have required property 'metrics'"})
        elif widget.get("type") == "text" and not isinstance(props.get("markdown"), str):
            out.append({"DataPath": f"{at}/properties/markdown", "Message": "Should be string"})
        for key, low, high in (("x", 0, 23), ("y", 0, 10**6), ("width", 1, 24),
                               ("height", 1, 1000)):
            value = widget.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                out.append({"DataPath": f"{at}/{key}",
                            "Message": f"Should be integer between {low} and {high}"})
    return out


def dashboard_arn(account: str, name: str) -> str:
    return f"arn:aws:cloudwatch::{account}:dashboard/{name}"


class DashboardsProvider(Provider):
    service = "cloudwatch"

    @operation("PutDashboard")
    async def put_dashboard(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = str(params.get("DashboardName") or "")
        if not NAME.match(name):
            raise InvalidParameterValue(
                "The value for field DashboardName contains invalid characters. It can only "
                "contain alphanumerics, dash (-) and underscore (_).")
        body = params.get("DashboardBody")
        if body is None:
            raise MissingParameter("The parameter DashboardBody is required.")
        body = str(body)
        problems = _problems(body) if len(body.encode()) <= MAX_BODY else [
            {"DataPath": "", "Message": "Should be at most 1 MiB"}]
        if problems:
            raise InvalidDashboard("The field DashboardBody is invalid.",
                                   DashboardValidationMessages=problems)
        async with self.cloud.sessions() as session, session.begin():
            row = (await session.execute(select(CwDashboard).where(
                CwDashboard.account_id == account, CwDashboard.region == ctx.region,
                CwDashboard.name == name))).scalar_one_or_none()
            if row is None:
                session.add(CwDashboard(account_id=account, region=ctx.region, name=name,
                                        body=body, last_modified=utcnow()))
            else:
                row.body, row.last_modified = body, utcnow()
        return {"DashboardValidationMessages": []}

    @operation("GetDashboard")
    async def get_dashboard(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = str(params.get("DashboardName") or "")
        async with self.cloud.sessions() as session:
            row = (await session.execute(select(CwDashboard).where(
                CwDashboard.account_id == account, CwDashboard.region == ctx.region,
                CwDashboard.name == name))).scalar_one_or_none()
        if row is None:
            raise ResourceNotFound("Dashboard does not exist")
        return {"DashboardArn": dashboard_arn(account, name), "DashboardBody": row.body,
                "DashboardName": name}

    @operation("ListDashboards")
    async def list_dashboards(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        prefix = str(params.get("DashboardNamePrefix") or "")
        skip = paging.offset("ListDashboards", params)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(CwDashboard).where(
                CwDashboard.account_id == account, CwDashboard.region == ctx.region)
                .order_by(CwDashboard.name))).scalars())
        rows = [r for r in rows if r.name.startswith(prefix)]
        page = rows[skip:skip + 1000]
        answer: Result = {"DashboardEntries": [
            {"DashboardName": r.name, "DashboardArn": dashboard_arn(account, r.name),
             "LastModified": r.last_modified, "Size": len(r.body.encode())} for r in page]}
        if skip + 1000 < len(rows):
            answer["NextToken"] = paging.make("ListDashboards", params, skip + 1000)
        return answer

    @operation("DeleteDashboards")
    async def delete_dashboards(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = list(params.get("DashboardNames") or [])
        async with self.cloud.sessions() as session, session.begin():
            rows = list((await session.execute(select(CwDashboard).where(
                CwDashboard.account_id == account, CwDashboard.region == ctx.region,
                CwDashboard.name.in_(names)))).scalars())
            missing = sorted(set(names) - {r.name for r in rows})
            if missing:
                raise ResourceNotFound(
                    f"The specified dashboard does not exist. [{', '.join(missing)}]")
            for row in rows:
                await session.delete(row)
        return {}
