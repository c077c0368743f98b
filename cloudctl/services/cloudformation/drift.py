"""Drift detection: DetectStackDrift, DetectStackResourceDrift,
DescribeStackResourceDrifts, DescribeStackDriftDetectionStatus.

A resource's expected properties are those the stack recorded when it made or
updated it (the template's, resolved); its actual ones are read through its service's
public API by the type's ``live`` (as the caller). A type with no ``drift_keys`` is
``NOT_CHECKED``, a resource gone is ``DELETED``, a difference is ``MODIFIED`` with each
``PropertyDifference`` at its JSON pointer path. A detection runs within the call and
is stored (``cfn_drift_detections``) with the stack's and each resource's last status.

Must not: read another service's tables (``live`` goes through their ``api``).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError, ValidationError
from cloudctl.server.context import RequestContext
from cloudctl.server.internal import Caller
from cloudctl.server.providers import Provider, operation
from cloudctl.services.cloudformation import intake, resources, store
from cloudctl.services.cloudformation.models import DriftDetection, Stack, StackResource
from cloudctl.services.cloudformation.resources.base import Act

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

STATUSES = ("IN_SYNC", "MODIFIED", "DELETED", "NOT_CHECKED")
PAGE = 100


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def differences(expected: Any, actual: Any, path: str = "") -> list[dict[str, str]]:
    """``PropertyDifferences`` between two documents (JSON pointer paths)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[dict[str, str]] = []
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}/{key}"
            if key not in actual:
                out.append(_difference(where, expected[key], None, "REMOVE"))
            elif key not in expected:
                out.append(_difference(where, None, actual[key], "ADD"))
            else:
                out += differences(expected[key], actual[key], where)
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = []
        for index in range(max(len(expected), len(actual))):
            where = f"{path}/{index}"
            if index >= len(actual):
                out.append(_difference(where, expected[index], None, "REMOVE"))
            elif index >= len(expected):
                out.append(_difference(where, None, actual[index], "ADD"))
            else:
                out += differences(expected[index], actual[index], where)
        return out
    if expected != actual:
        return [_difference(path, expected, actual, "NOT_EQUAL")]
    return []


def _difference(path: str, expected: Any, actual: Any, kind: str) -> dict[str, str]:
    return {"PropertyPath": path or "/", "ExpectedValue": "" if expected is None else
            _text(expected), "ActualValue": "" if actual is None else _text(actual),
            "DifferenceType": kind}


async def check(cloud: Cloud, caller: Caller, stack: Stack,
                row: StackResource) -> dict[str, Any]:
    """One resource's ``StackResourceDrift`` (its timestamp added by the caller)."""
    out: dict[str, Any] = {"StackId": stack.stack_id, "LogicalResourceId": row.logical_id,
                           "PhysicalResourceId": row.physical_id or "",
                           "ResourceType": row.type}
    adapter = resources.adapter(row.type)
    if adapter is None or not adapter.drift_keys or row.physical_id is None:
        out["StackResourceDriftStatus"] = "NOT_CHECKED"
        return out
    expected = adapter.comparable(row.properties or {})
    act = Act(cloud=cloud, caller=caller, stack_name=stack.name, stack_id=stack.stack_id,
              logical_id=row.logical_id, token=row.token, resumed=False)
    actual = await adapter.live(act, row.physical_id, row.attributes or {})
    out["ExpectedProperties"] = json.dumps(expected, sort_keys=True)
    if actual is None:
        out["StackResourceDriftStatus"] = "DELETED"
        return out
    actual = {key: value for key, value in actual.items() if key in expected}
    out["ActualProperties"] = json.dumps(actual, sort_keys=True)
    found = differences(expected, actual)
    out["PropertyDifferences"] = found
    out["StackResourceDriftStatus"] = "MODIFIED" if found else "IN_SYNC"
    return out


def _stable(stack: Stack) -> None:
    if stack.status.endswith("IN_PROGRESS") or stack.status == "DELETE_COMPLETE":
        raise ValidationError(f"Drift detection is not supported for stack "
                              f"[{stack.stack_id}] in status {stack.status}")


def _shown(result: dict[str, Any], when: datetime) -> dict[str, Any]:
    return dict(result, Timestamp=when)


class DriftOperations(Provider):
    service = "cloudformation"

    async def _stack(self, ctx: RequestContext, name: str) -> Stack:
        async with self.cloud.sessions() as session:
            return await store.require_stack(session, ctx.require_account(), ctx.region,
                                              name)

    async def _current(self, stack: Stack) -> list[StackResource]:
        async with self.cloud.sessions() as session:
            return await store.live_rows(session, stack.stack_id)

    @operation("DetectStackDrift")
    async def detect_stack_drift(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(ctx, params["StackName"])
        _stable(stack)
        rows = await self._current(stack)
        wanted = params.get("LogicalResourceIds") or []
        if wanted:
            unknown = sorted(set(wanted) - {r.logical_id for r in rows})
            if unknown:
                raise ValidationError(f"Resources {unknown} do not exist in stack "
                                      f"{stack.name}")
            rows = [r for r in rows if r.logical_id in wanted]
        caller = intake.caller_of(ctx)
        results: list[dict[str, Any]] = []
        reason = None
        for row in rows:
            try:
                results.append(await check(self.cloud, caller, stack, row))
            except AwsError as error:
                reason = f"Failed to detect drift on resource [{row.logical_id}]: " \
                         f"{error.message}"
                results.append({"StackId": stack.stack_id, "LogicalResourceId":
                                row.logical_id, "PhysicalResourceId": row.physical_id or "",
                                "ResourceType": row.type,
                                "StackResourceDriftStatus": "NOT_CHECKED"})
        drifted = sum(1 for r in results
                      if r["StackResourceDriftStatus"] in ("MODIFIED", "DELETED"))
        now = utcnow()
        detection_id = str(uuid.uuid4())
        overall = "DRIFTED" if drifted else "IN_SYNC"
        async with self.cloud.sessions() as session, session.begin():
            session.add(DriftDetection(
                detection_id=detection_id, account_id=stack.account_id, region=stack.region,
                stack_id=stack.stack_id, status="DETECTION_FAILED" if reason else
                "DETECTION_COMPLETE", stack_drift_status=overall, reason=reason,
                drifted=drifted, results=results, timestamp=now))
            live = await session.get(Stack, stack.stack_id)
            if live is not None:
                live.drift_status, live.drift_checked_at = overall, now
            by_name = {r["LogicalResourceId"]: r["StackResourceDriftStatus"] for r in results}
            for row in await store.live_rows(session, stack.stack_id):
                if row.logical_id in by_name:
                    row.drift_status, row.drift_checked_at = by_name[row.logical_id], now
        return {"StackDriftDetectionId": detection_id}

    @operation("DescribeStackDriftDetectionStatus")
    async def describe_stack_drift_detection_status(
            self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        detection_id = params["StackDriftDetectionId"]
        async with self.cloud.sessions() as session:
            found = await session.get(DriftDetection, detection_id)
        if found is None or found.account_id != ctx.require_account() or \
                found.region != ctx.region:
            raise ValidationError(f"Drift detection with id [{detection_id}] does not exist")
        out: dict[str, Any] = {
            "StackId": found.stack_id, "StackDriftDetectionId": found.detection_id,
            "StackDriftStatus": found.stack_drift_status, "DetectionStatus": found.status,
            "DriftedStackResourceCount": found.drifted, "Timestamp": found.timestamp}
        if found.reason:
            out["DetectionStatusReason"] = found.reason
        return out

    @operation("DescribeStackResourceDrifts")
    async def describe_stack_resource_drifts(self, ctx: RequestContext,
                                             params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(ctx, params["StackName"])
        wanted = list(params.get("StackResourceDriftStatusFilters") or [])
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise ValidationError(f"1 validation error detected: Value '{bad}' at "
                                  f"'stackResourceDriftStatusFilters' failed to satisfy "
                                  f"constraint: Member must satisfy enum value set: "
                                  f"[{', '.join(STATUSES)}]")
        async with self.cloud.sessions() as session:
            latest = (await session.execute(select(DriftDetection).where(
                DriftDetection.stack_id == stack.stack_id).order_by(
                    DriftDetection.timestamp.desc()))).scalars().first()
        results = [_shown(r, latest.timestamp) for r in latest.results] if latest else []
        if wanted:
            results = [r for r in results if r["StackResourceDriftStatus"] in wanted]
        start = int(params.get("NextToken") or 0) if str(
            params.get("NextToken") or "0").isdigit() else 0
        size = int(params.get("MaxResults") or PAGE)
        out: dict[str, Any] = {"StackResourceDrifts": results[start:start + size]}
        if start + size < len(results):
            out["NextToken"] = str(start + size)
        return out

    @operation("DetectStackResourceDrift")
    async def detect_stack_resource_drift(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(ctx, params["StackName"])
        _stable(stack)
        name = params["LogicalResourceId"]
        rows = [r for r in await self._current(stack) if r.logical_id == name]
        if not rows:
            raise ValidationError(f"Resource [{name}] does not exist in stack "
                                  f"[{stack.name}]")
        result = await check(self.cloud, intake.caller_of(ctx), stack, rows[0])
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(StackResource, rows[0].id)
            if row is not None:
                row.drift_status = result["StackResourceDriftStatus"]
                row.drift_checked_at = now
        return {"StackResourceDrift": _shown(result, now)}
