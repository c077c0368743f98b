"""EC2 instance monitoring: MonitorInstances/UnmonitorInstances (detailed, 1-minute
metrics), the ``Monitoring`` of RunInstances and DescribeInstances, and the status
checks DescribeInstanceStatus reports.

Owns the ``ec2_instance_monitoring`` rows' API side (``detailed``) and how the
collector's checks read on the wire. The collector (``collector``) writes the checks
with ``record_checks``; it must not change ``detailed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.ec2.compute import monitoring_properties  # noqa: F401  (defines them at start)
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.compute.monitoring_models import InstanceMonitoring

__all__ = ["CheckResult", "MonitoringProvider", "decorate", "detailed_ids", "prune_terminated",
           "record_checks", "record_launch", "status_checks"]



@dataclass(frozen=True)
class CheckResult:
    """One instance's status checks as the collector saw them."""

    instance_id: str
    account_id: str
    region: str
    system_ok: bool
    instance_ok: bool


async def _rows(session: AsyncSession, ids: Iterable[str]) -> dict[str, InstanceMonitoring]:
    wanted = list(ids)
    out: dict[str, InstanceMonitoring] = {}
    for i in range(0, len(wanted), 500):  # bounded IN lists (SQLite's parameter limit)
        found = await session.execute(select(InstanceMonitoring).where(
            InstanceMonitoring.instance_id.in_(wanted[i:i + 500])))
        out.update((m.instance_id, m) for m in found.scalars())
    return out


async def _set_detailed(session: AsyncSession, rows: Sequence[Instance], detailed: bool) -> None:
    known = await _rows(session, (r.instance_id for r in rows))
    for row in rows:
        mon = known.get(row.instance_id)
        if mon is None:
            session.add(InstanceMonitoring(instance_id=row.instance_id, account_id=row.account_id,
                                           region=row.region, detailed=detailed,
                                           instance_check="", system_check=""))
        else:
            mon.detailed = detailed


async def record_launch(session: AsyncSession, rows: Sequence[Instance],
                        monitoring: dict[str, Any] | None) -> None:
    """RunInstances ``Monitoring.Enabled``: the new instances get detailed monitoring."""
    if monitoring and monitoring.get("Enabled"):
        await _set_detailed(session, rows, True)


async def detailed_ids(session: AsyncSession, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` have detailed monitoring."""
    return {i for i, m in (await _rows(session, ids)).items() if m.detailed}


async def decorate(session: AsyncSession, reservations: list[dict[str, Any]]) -> None:
    """Fill ``Monitoring.State`` of the instances in DescribeInstances/RunInstances output."""
    instances = [i for r in reservations for i in r.get("Instances", ())]
    detailed = await detailed_ids(session, (i["InstanceId"] for i in instances))
    for inst in instances:
        inst["Monitoring"] = {"State": "enabled" if inst["InstanceId"] in detailed
                              else "disabled"}


def _status(check: str, running: bool, observed_running: bool) -> tuple[str, str]:
    """(status, reachability detail) of one check."""
    if not running:
        return "not-applicable", ""
    if check == "failed":
        return "impaired", "failed"
    if check == "passed" or observed_running:
        return "ok", "passed"
    return "initializing", "initializing"


async def status_checks(session: AsyncSession,
                        rows: Sequence[Instance]) -> dict[str, tuple[dict[str, Any],
                                                                      dict[str, Any]]]:
    """instance id -> (InstanceStatus, SystemStatus) as DescribeInstanceStatus shows them:
    the collector's last checks, or the node's observation before the first check."""
    known = await _rows(session, (r.instance_id for r in rows))
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for row in rows:
        mon = known.get(row.instance_id)
        running = row.state == "running"
        observed = running and row.observed_power == "running"
        shapes = []
        for check in ((mon.instance_check if mon else ""), (mon.system_check if mon else "")):
            status, detail = _status(check, running, observed)
            shape: dict[str, Any] = {"Status": status}
            if detail:
                item: dict[str, Any] = {"Name": "reachability", "Status": detail}
                if detail == "failed" and mon is not None and mon.impaired_since is not None:
                    item["ImpairedSince"] = mon.impaired_since
                shape["Details"] = [item]
            shapes.append(shape)
        out[row.instance_id] = (shapes[0], shapes[1])
    return out


async def record_checks(session: AsyncSession, results: Sequence[CheckResult],
                        at: datetime) -> None:
    """Store the collector's checks; ``impaired_since`` is when a check first failed."""
    known = await _rows(session, (r.instance_id for r in results))
    for r in results:
        mon = known.get(r.instance_id)
        if mon is None:
            mon = InstanceMonitoring(instance_id=r.instance_id, account_id=r.account_id,
                                     region=r.region, detailed=False, instance_check="",
                                     system_check="")
            session.add(mon)
        was_failing = "failed" in (mon.system_check, mon.instance_check)
        if not (r.system_ok and r.instance_ok):
            if not was_failing or mon.impaired_since is None:
                mon.impaired_since = at
        else:
            mon.impaired_since = None
        mon.system_check = "passed" if r.system_ok else "failed"
        mon.instance_check = "passed" if r.instance_ok else "failed"
        mon.checked_at = at


async def prune_terminated(session: AsyncSession) -> None:
    """Drop the rows of terminated instances (nothing is monitored or checked there)."""
    await session.execute(delete(InstanceMonitoring).where(InstanceMonitoring.instance_id.in_(
        select(Instance.instance_id).where(Instance.state == "terminated"))))


class MonitoringProvider(Provider):
    """MonitorInstances and UnmonitorInstances; runs the metrics collector (worker 0)."""

    service = "ec2"

    async def start(self) -> None:
        if not self.cloud.runs_controllers:
            return
        from cloudctl.services.ec2.compute import collector

        collector.start(self.cloud)

    async def _toggle(self, ctx: RequestContext, params: dict[str, Any],
                      detailed: bool) -> Result:
        from cloudctl.services.ec2.compute.instances import InstancesProvider

        wanted = list(params.get("InstanceIds") or [])
        if not wanted:
            raise AwsError("The request must contain the parameter InstanceId",
                           code="MissingParameter")
        async with self.cloud.sessions() as session, session.begin():
            rows = await InstancesProvider(self.cloud).visible_rows(session, ctx, wanted)
            for row in rows:
                if row.state in ("shutting-down", "terminated"):
                    raise AwsError(f"The instance '{row.instance_id}' is not in a state from "
                                   "which it can be monitored.", code="IncorrectInstanceState")
            await _set_detailed(session, rows, detailed)
        state = "pending" if detailed else "disabling"
        return {"InstanceMonitorings": [{"InstanceId": r.instance_id,
                                         "Monitoring": {"State": state}} for r in rows]}

    @operation("MonitorInstances")
    async def monitor_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._toggle(ctx, params, True)

    @operation("UnmonitorInstances")
    async def unmonitor_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._toggle(ctx, params, False)
