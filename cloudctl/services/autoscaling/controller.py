"""The group controller: keeps every group at its desired capacity with real EC2
instances, on the reconcile base (one key a group ARN; leader only).

One ``sync`` of a group, each step idempotent and recorded before it acts:

1. due scheduled actions change the group's sizes (``schedules.apply_due``); a sync
   ends with a timer for the next one when it is due before the next resync;
2. launches: a row with its client token is committed before RunInstances, so after a
   crash the launch is re-run with the same token and EC2 answers the same instance
   (never two, never none); the instance id is recorded after;
3. the instances' lives: Pending -> (Pending:Wait for a launch hook) -> InService
   (registered with the group's load balancers); an instance EC2 reports stopped,
   terminated or gone, or that a load balancer reports OutOfService after the grace
   period (HealthCheckType ELB), turns Unhealthy and is replaced (HealthCheck and
   ReplaceUnhealthy processes); Terminating -> (Terminating:Wait) -> terminated in EC2
   -> the row removed and its activity ended;
4. capacity: fewer active instances than desired launches the difference in the zones
   with the fewest instances (Launch process), more terminates the instances the
   termination policies choose (Terminate process);
5. metrics (``metrics.publish``) and a deleted group's removal when it is empty.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from cloudctl.core.reconcile import Reconciler, Retry
from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.autoscaling import elb_adapter, templates
from cloudctl.services.autoscaling.common import activity, dumps, loads, stamp
from cloudctl.services.autoscaling.group_shape import subnets
from cloudctl.services.autoscaling.models import (
    AsActivity,
    AsGroup,
    AsInstance,
    AsLaunchConfiguration,
    AsLifecycleHook,
)
from cloudctl.services.autoscaling.termination import Candidate, choose_victims, choose_zone
from cloudctl.services.ec2 import api_autoscaling as ec2

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)
ACTIVE = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
DEAD = ("shutting-down", "terminated", "stopping", "stopped")
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
GROUP_TAG = "aws:autoscaling:groupName"


class GroupController(Reconciler):
    name = "autoscaling-groups"
    workers = 4
    max_backoff = 30.0
    idle_interval = 60.0  # no group to watch (``list_keys``): every change wakes its group

    def __init__(self, cloud: Cloud, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cloud = cloud
        self.published: dict[str, float] = {}
        # pacing of a group whose launches fail (not intent: a restart retries at once)
        self.failed_launches: dict[str, tuple[int, float]] = {}

    def interval(self) -> float:
        """A full resync (health checks of steady groups, scheduled actions) every 10 s;
        API calls wake their group at once and waiting instances set their own timers."""
        return 10.0

    async def list_keys(self) -> list[str]:
        """Every group with something to watch: a group at rest (desired 0, no
        instances, no scheduled action, no metrics, no refresh, not being deleted) has
        nothing a resync could do, and an API call that changes that wakes it."""
        from cloudctl.services.autoscaling.models import AsScheduledAction

        async with self.cloud.sessions() as session:
            groups = (await session.execute(select(
                AsGroup.arn, AsGroup.account_id, AsGroup.region, AsGroup.name,
                AsGroup.desired, AsGroup.status, AsGroup.definition))).all()
            manned = {r[0] for r in await session.execute(
                select(AsInstance.group_arn).distinct())}
            scheduled = {(r[0], r[1], r[2]) for r in await session.execute(select(
                AsScheduledAction.account_id, AsScheduledAction.region,
                AsScheduledAction.group_name).where(
                AsScheduledAction.next_run.is_not(None)).distinct())}
        return [key for key, account, region, group_name, desired, status, text in groups
                if desired or status or key in manned
                or (account, region, group_name) in scheduled or not at_rest(text)]

    async def sync(self, key: str) -> None:
        from cloudctl.services.autoscaling import metrics, schedules

        due_in = await schedules.apply_due(self.cloud, key)
        async with self.cloud.sessions() as session:
            group = await session.get(AsGroup, key)
            if group is None:
                return
            rows = list((await session.execute(select(AsInstance).where(
                AsInstance.group_arn == key))).scalars())
            hooks = list((await session.execute(select(AsLifecycleHook).where(
                AsLifecycleHook.account_id == group.account_id,
                AsLifecycleHook.region == group.region,
                AsLifecycleHook.group_name == group.name))).scalars()) if rows or \
                group.desired else []
        definition = loads(group.definition)
        suspended = {p["ProcessName"] for p in definition.get("SuspendedProcesses") or []}
        waits: list[float] = []
        batches: dict[tuple[str, str], list[AsInstance]] = {}
        for row in rows:
            if row.instance_id is None:
                batches.setdefault((row.launch_source, row.zone), []).append(row)
        for batch in batches.values():
            await self._launch(group, definition, sorted(batch, key=lambda r: r.token))
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(AsInstance).where(
                AsInstance.group_arn == key))).scalars())
        ids = [r.instance_id for r in rows if r.instance_id]
        seen = await ec2.instance_states(self.cloud, group.account_id, group.region, ids)
        lbs = list(definition.get("LoadBalancerNames") or [])
        unhealthy_lb: set[str] = set()
        if definition.get("HealthCheckType") == "ELB" and lbs:
            grace = timedelta(seconds=int(definition.get("HealthCheckGracePeriod") or 0))
            now = utcnow()
            due = [r.instance_id for r in rows if r.instance_id and r.lifecycle_state ==
                   "InService" and r.launched_at + grace <= now]
            unhealthy_lb = await elb_adapter.out_of_service(
                self.cloud, group.account_id, group.region, lbs, due)
        done = await self._bring_in(group, definition, suspended, hooks, rows, seen)
        for row in rows:
            if row.instance_id is None or row.token in done:
                continue
            obs = seen.get(row.instance_id)
            state = obs.state if obs is not None else "terminated"
            wait = await self._step(group, definition, suspended, hooks, row, state,
                                    row.instance_id in unhealthy_lb)
            if wait is not None:
                waits.append(wait)
        waits += await self._capacity(group, definition, suspended)
        await metrics.publish(self.cloud, group, self.published)
        if group.status and await self._finish_delete(key):
            return
        if due_in is not None and not group.status and due_in < self.interval():
            waits.append(due_in + 0.05)  # the action's time, not the next resync
        if waits:
            raise Retry(max(0.2, min(waits)))

    # -- launching ---------------------------------------------------------------------

    async def _launch_params(self, group: AsGroup, definition: dict[str, Any],
                             row: AsInstance) -> dict[str, Any]:
        from cloudctl.services.autoscaling.launch_configs import run_params

        source = loads(row.launch_source)
        if source.get("LaunchConfigurationName"):
            async with self.cloud.sessions() as session:
                lc = (await session.execute(select(AsLaunchConfiguration).where(
                    AsLaunchConfiguration.account_id == group.account_id,
                    AsLaunchConfiguration.region == group.region,
                    AsLaunchConfiguration.name == source["LaunchConfigurationName"])))\
                    .scalar_one_or_none()
            if lc is None:
                raise AwsError(f"Launch configuration {source['LaunchConfigurationName']} "
                               "not found", code="ValidationError")
            params = run_params(loads(lc.definition))
        else:
            params = templates.run_params({
                "LaunchTemplateId": source["LaunchTemplate"]["LaunchTemplateId"],
                "VersionNumber": source["LaunchTemplate"]["Version"]})
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in definition.get("Tags") or []
                if t.get("PropagateAtLaunch")]
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        subnet = await self._subnet_in(group, definition, row.zone)
        if subnet:
            params["SubnetId"] = subnet
        return params

    async def _subnet_in(self, group: AsGroup, definition: dict[str, Any],
                         zone: str) -> str | None:
        """The group's subnet (``VPCZoneIdentifier``) in ``zone``: where the instance is
        launched (the first listed when several share the zone)."""
        ids = subnets(definition)
        if not ids:
            return None
        found = await ec2.subnet_zones(self.cloud, group.account_id, group.region, ids)
        return next((s for s in ids if (found or {}).get(s) == zone), None)

    async def _launch(self, group: AsGroup, definition: dict[str, Any],
                      batch: list[AsInstance]) -> None:
        """Launch the rows planned with one source in one zone through one RunInstances.

        Its client token is the first row's (rows sorted by token): after a crash
        between the launch and the commit below, the same rows are still unlaunched
        and the retry answers the same reservation, instance k going to row k. Rows
        beyond what there was room for fail as a single launch does."""
        first = batch[0]
        try:
            params = await self._launch_params(group, definition, first)
            iids = await ec2.run_instances(self.cloud, group.account_id, group.region, params,
                                           first.token, first.zone, len(batch),
                                           {GROUP_TAG: group.name})
        except AwsError as error:  # nothing was launched: the launch failed for good
            await self._launch_failed(group, batch, error.message)
            return
        self.failed_launches.pop(group.arn, None)
        async with self.cloud.sessions() as session, session.begin():
            for row, iid in zip(batch, iids, strict=False):
                await session.execute(update(AsInstance).where(
                    AsInstance.token == row.token, AsInstance.instance_id.is_(None)).values(
                    instance_id=iid))
                await session.execute(update(AsActivity).where(
                    AsActivity.activity_id == row.activity_id).values(
                    description=f"Launching a new EC2 instance: {iid}", progress=30))
        if len(iids) < len(batch):
            await self._launch_failed(
                group, batch[len(iids):], "We currently do not have sufficient capacity in "
                f"the Availability Zone ({first.zone}). Our system will be working on "
                "provisioning additional capacity")

    async def _launch_failed(self, group: AsGroup, rows: list[AsInstance],
                             message: str) -> None:
        """Rows whose launch failed for good: their activities fail, the rows go (the
        capacity step plans them again once the group's launch pause is over)."""
        async with self.cloud.sessions() as session, session.begin():
            for row in rows:
                await session.execute(update(AsActivity).where(
                    AsActivity.activity_id == row.activity_id).values(
                    status_code="Failed", progress=100, ended_at=utcnow(),
                    description="Launching a new EC2 instance.  Status Reason: "
                                f"{message}. Launching EC2 instance failed.",
                    status_message=f"{message}. Launching EC2 instance failed."))
                found = await session.get(AsInstance, row.token)
                if found is not None and found.instance_id is None:
                    await session.delete(found)
        count = self.failed_launches.get(group.arn, (0, 0.0))[0] + 1
        delay = min(300.0, 5.0 * 2 ** (count - 1))
        self.failed_launches[group.arn] = (count, time.monotonic() + delay)
        log.warning("group %s: launch failed (again in %.0f s): %s", group.name, delay,
                    message)

    # -- one instance ------------------------------------------------------------------

    async def _bring_in(self, group: AsGroup, definition: dict[str, Any],
                        suspended: set[str], hooks: list[AsLifecycleHook],
                        rows: list[AsInstance], seen: dict[str, ec2.Observed]) -> set[str]:
        """The launches of a scale-out, together: every new instance (``Pending``, no
        launch hook) proceeds, and every proceeding one whose EC2 instance runs is
        registered with the group's load balancers and goes InService with its
        activity ended, in one transaction each (what ``_step`` does one row at a
        time). Returns the tokens of the rows now InService."""
        def state(row: AsInstance) -> str:
            obs = seen.get(row.instance_id or "")
            return obs.state if obs is not None else "terminated"

        fresh = [r for r in rows if r.instance_id and r.lifecycle_state == "Pending"
                 and state(r) not in DEAD]
        if fresh and self._hook(hooks, LAUNCHING) is None:
            async with self.cloud.sessions() as session, session.begin():
                await session.execute(update(AsInstance).where(
                    AsInstance.token.in_([r.token for r in fresh]),
                    AsInstance.lifecycle_state == "Pending").values(
                    lifecycle_state="Pending:Proceed"))
            for row in fresh:
                row.lifecycle_state = "Pending:Proceed"
        ready = [r for r in rows if r.instance_id and r.lifecycle_state == "Pending:Proceed"
                 and state(r) == "running"]
        if not ready:
            return set()
        if "AddToLoadBalancer" not in suspended:
            await elb_adapter.register(self.cloud, group.account_id, group.region,
                                       list(definition.get("LoadBalancerNames") or []),
                                       [str(r.instance_id) for r in ready])
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            for row in ready:
                moved = await session.execute(update(AsInstance).where(
                    AsInstance.token == row.token,
                    AsInstance.lifecycle_state == "Pending:Proceed").values(
                    lifecycle_state="InService", launched_at=now))
                if getattr(moved, "rowcount", 0) and row.activity_id:
                    await session.execute(update(AsActivity).where(
                        AsActivity.activity_id == row.activity_id,
                        AsActivity.status_code.notin_(("Successful", "Failed", "Cancelled")))
                        .values(status_code="Successful", progress=100, ended_at=now,
                                status_message=""))
        return {r.token for r in ready}

    async def _move(self, row: AsInstance, old: str, **values: Any) -> bool:
        async with self.cloud.sessions() as session, session.begin():
            result = await session.execute(update(AsInstance).where(
                AsInstance.token == row.token, AsInstance.lifecycle_state == old)
                .values(**values))
        return bool(getattr(result, "rowcount", 0))

    async def _end_activity(self, activity_id: str, status: str = "Successful",
                            message: str = "") -> None:
        if not activity_id:
            return
        async with self.cloud.sessions() as session, session.begin():
            await session.execute(update(AsActivity).where(
                AsActivity.activity_id == activity_id,
                AsActivity.status_code.notin_(("Successful", "Failed", "Cancelled")))
                .values(status_code=status, progress=100, ended_at=utcnow(),
                        status_message=message))

    def _hook(self, hooks: list[AsLifecycleHook], transition: str) -> dict[str, Any] | None:
        found = [loads(h.definition) for h in hooks if h.transition == transition]
        if not found:
            return None
        return {"HeartbeatTimeout": max(int(h.get("HeartbeatTimeout", 3600)) for h in found),
                "DefaultResult": ("ABANDON" if any(h.get("DefaultResult", "ABANDON") ==
                                                   "ABANDON" for h in found) else "CONTINUE")}

    async def _step(self, group: AsGroup, definition: dict[str, Any], suspended: set[str],
                    hooks: list[AsLifecycleHook], row: AsInstance, state: str,
                    lb_unhealthy: bool) -> float | None:
        """Advance one instance; seconds until it needs a look again, or None."""
        now = utcnow()
        life = row.lifecycle_state
        iid = row.instance_id
        assert iid is not None
        if life in ("Pending", "Pending:Proceed") and state in DEAD:
            await self._replace(group, row, "an instance was taken out of service in response "
                                            "to an EC2 health check indicating it has been "
                                            "terminated or stopped.")
            return 0.2
        if life == "Pending":
            hook = self._hook(hooks, LAUNCHING)
            if hook is not None:
                await self._move(row, "Pending", lifecycle_state="Pending:Wait", hook_result="",
                                 hook_deadline=now + timedelta(
                                     seconds=hook["HeartbeatTimeout"]))
                return min(5.0, float(hook["HeartbeatTimeout"]))
            await self._move(row, "Pending", lifecycle_state="Pending:Proceed")
            life = "Pending:Proceed"
        if life == "Pending:Wait":
            return await self._decide(row, hooks, LAUNCHING, "Pending:Wait", now)
        if life == "Pending:Proceed":
            if state != "running":
                return 0.5
            if "AddToLoadBalancer" not in suspended:
                await elb_adapter.register(self.cloud, group.account_id, group.region,
                                           list(definition.get("LoadBalancerNames") or []),
                                           [iid])
            if await self._move(row, "Pending:Proceed", lifecycle_state="InService",
                                launched_at=now):
                await self._end_activity(row.activity_id)
            return None
        if life == "InService":
            cause = loads(row.launch_source).get(
                "_health_cause", "an instance was taken out of service in response to a user "
                                 "health-check.")
            if "HealthCheck" not in suspended and row.health == "Healthy":
                if state in DEAD:
                    cause = ("an instance was taken out of service in response to an EC2 "
                             "health check indicating it has been terminated or stopped.")
                elif lb_unhealthy:
                    cause = ("an instance was taken out of service in response to an ELB "
                             "system health check failure.")
                else:
                    return None
                await self._unhealthy(row, cause)
                row.health = "Unhealthy"
            if row.health == "Unhealthy" and "ReplaceUnhealthy" not in suspended:
                await self._replace(group, row, cause)
                return 0.2
            return None
        if life == "Terminating":
            hook = self._hook(hooks, TERMINATING)
            if hook is not None and state not in ("terminated", "shutting-down"):
                await self._move(row, "Terminating", lifecycle_state="Terminating:Wait",
                                 hook_result="", hook_deadline=now + timedelta(
                                     seconds=hook["HeartbeatTimeout"]))
                return min(5.0, float(hook["HeartbeatTimeout"]))
            await self._move(row, "Terminating", lifecycle_state="Terminating:Proceed")
            life = "Terminating:Proceed"
        if life == "Terminating:Wait":
            return await self._decide(row, hooks, TERMINATING, "Terminating:Wait", now)
        if life == "Terminating:Proceed":
            await elb_adapter.deregister(self.cloud, group.account_id, group.region,
                                         list(definition.get("LoadBalancerNames") or []), [iid])
            if state != "terminated":
                await ec2.terminate_instances(self.cloud, group.account_id, group.region, [iid])
                return 0.5
            async with self.cloud.sessions() as session, session.begin():
                found = await session.get(AsInstance, row.token)
                if found is not None and found.lifecycle_state == "Terminating:Proceed":
                    await session.delete(found)
            await self._end_activity(row.activity_id)
            return None
        return None

    async def _decide(self, row: AsInstance, hooks: list[AsLifecycleHook], transition: str,
                      life: str, now: datetime) -> float | None:
        hook = self._hook(hooks, transition)
        result = row.hook_result
        if not result and (hook is None or (row.hook_deadline and row.hook_deadline <= now)):
            result = hook["DefaultResult"] if hook else "CONTINUE"
        if not result:
            left = (row.hook_deadline - now).total_seconds() if row.hook_deadline else 5.0
            return max(0.2, min(5.0, left))
        if life == "Terminating:Wait":
            await self._move(row, life, lifecycle_state="Terminating:Proceed")
        elif result == "CONTINUE":
            await self._move(row, life, lifecycle_state="Pending:Proceed")
        else:
            await self._end_activity(row.activity_id, "Failed",
                                     "Instance failed to complete user's Lifecycle Action: "
                                     "Lifecycle Action with token was abandoned")
            await self._move(row, life, lifecycle_state="Terminating", health="Unhealthy")
        return 0.2

    async def _unhealthy(self, row: AsInstance, cause: str) -> None:
        source = loads(row.launch_source)
        source["_health_cause"] = cause
        async with self.cloud.sessions() as session, session.begin():
            await session.execute(update(AsInstance).where(AsInstance.token == row.token)
                                  .values(health="Unhealthy", launch_source=dumps(source)))

    async def _replace(self, group: AsGroup, row: AsInstance, cause: str) -> None:
        """Take an unhealthy instance out of service; the capacity step replaces it."""
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            found = await session.get(AsInstance, row.token)
            if found is None or found.lifecycle_state not in ACTIVE:
                return
            record = activity(session, group, f"Terminating EC2 instance: {row.instance_id}",
                              f"At {stamp(now)} {cause}")
            await self._end_pending(session, found)
            found.lifecycle_state, found.health = "Terminating", "Unhealthy"
            found.activity_id = record.activity_id

    async def _end_pending(self, session: Any, row: AsInstance) -> None:
        if row.lifecycle_state != "InService" and row.activity_id:
            await session.execute(update(AsActivity).where(
                AsActivity.activity_id == row.activity_id,
                AsActivity.status_code == "InProgress").values(
                status_code="Cancelled", progress=100, ended_at=utcnow(),
                status_message="The instance was taken out of service before it was "
                               "InService."))

    # -- capacity ----------------------------------------------------------------------

    async def _capacity(self, group: AsGroup, definition: dict[str, Any],
                        suspended: set[str]) -> list[float]:
        now = utcnow()
        async with self.cloud.sessions() as session, session.begin():
            fresh = await session.get(AsGroup, group.arn, with_for_update=True)
            if fresh is None:
                return []
            rows = list((await session.execute(select(AsInstance).where(
                AsInstance.group_arn == group.arn))).scalars())
            active = [r for r in rows if r.lifecycle_state in ACTIVE]
            desired = 0 if fresh.status else fresh.desired
            fresh_def = loads(fresh.definition)
            cause = fresh_def.get("Cause") or ""
            paused = self.failed_launches.get(group.arn, (0, 0.0))[1] - time.monotonic()
            if len(active) < desired and "Launch" not in suspended and paused > 0:
                return [paused]
            if len(active) < desired and "Launch" not in suspended:
                await self._plan_launches(session, fresh, fresh_def, active,
                                          desired - len(active), cause, now)
                return [0.1]
            if len(active) > desired and ("Terminate" not in suspended or fresh.status):
                await self._plan_terminations(session, fresh, fresh_def, active,
                                              len(active) - desired, cause, now)
                return [0.1]
            steady = all(r.lifecycle_state in ("InService", "Standby") for r in rows)
            if steady and "InstanceRefresh" not in suspended:
                from cloudctl.services.autoscaling.refresh import advance

                if advance(fresh, fresh_def, rows, session, now):
                    return [0.5]
        return [] if steady else [1.0]

    async def _plan_launches(self, session: Any, group: AsGroup, definition: dict[str, Any],
                             active: list[AsInstance], count: int, cause: str,
                             now: datetime) -> None:
        zones = list(definition.get("AvailabilityZones") or []) or ec2.zones(
            self.cloud, group.region)
        counts = Counter(r.zone for r in active)
        before = len(active)
        source: dict[str, Any] = {}
        if definition.get("LaunchConfigurationName"):
            source["LaunchConfigurationName"] = definition["LaunchConfigurationName"]
        else:
            resolved = await templates.resolve(self.cloud, group.account_id, group.region,
                                               definition["LaunchTemplate"])
            source["LaunchTemplate"] = {
                "LaunchTemplateId": resolved["LaunchTemplateId"],
                "LaunchTemplateName": resolved["LaunchTemplateName"],
                "Version": str(resolved["VersionNumber"])}
        for _ in range(count):
            zone = choose_zone(zones, counts)
            counts[zone] += 1
            text = (f"{cause}  " if cause else "") + (
                f"At {stamp(now)} an instance was started in response to a difference between "
                f"desired and actual capacity, increasing the capacity from {before} to "
                f"{before + count}.")
            record = activity(session, group, "Launching a new EC2 instance", text,
                              details={"Subnet ID": "", "Availability Zone": zone})
            session.add(AsInstance(
                token=str(uuid.uuid4()), group_arn=group.arn, group_name=group.name,
                account_id=group.account_id, region=group.region, instance_id=None,
                zone=zone, lifecycle_state="Pending", health="Healthy",
                protected=bool(definition.get("NewInstancesProtectedFromScaleIn")),
                launch_source=json.dumps(source), activity_id=record.activity_id,
                launched_at=now))

    async def _plan_terminations(self, session: Any, group: AsGroup,
                                 definition: dict[str, Any], active: list[AsInstance],
                                 count: int, cause: str, now: datetime) -> None:
        current = definition.get("LaunchConfigurationName") or ""
        if not current and definition.get("LaunchTemplate"):
            try:
                resolved = await templates.resolve(self.cloud, group.account_id, group.region,
                                                   definition["LaunchTemplate"])
                current = f"{resolved['LaunchTemplateId']}:{resolved['VersionNumber']}"
            except AwsError:
                current = ""
        created = await self._source_times(session, group)
        eligible = [r for r in active if r.instance_id and (group.status or not r.protected)]
        candidates = []
        for r in eligible:
            source = loads(r.launch_source)
            template = source.get("LaunchTemplate") or {}
            label = source.get("LaunchConfigurationName") or "{}:{}".format(
                template.get("LaunchTemplateId"), template.get("Version"))
            age = (created[label].timestamp() if label in created
                   else float(template["Version"]) if str(template.get("Version", ""))
                   .isdigit() else None)
            candidates.append(Candidate(
                instance_id=str(r.instance_id), zone=r.zone, launched_at=r.launched_at,
                source=label, source_age=age, current=label == current))
        policies = list(definition.get("TerminationPolicies") or ["Default"])
        victims = choose_victims(candidates, count, policies, now)
        before = len(active)
        for victim in victims:
            row = next(r for r in active if r.instance_id == victim)
            text = (f"{cause}  " if cause else "") + (
                f"At {stamp(now)} an instance was taken out of service in response to a "
                f"difference between desired and actual capacity, shrinking the capacity from "
                f"{before} to {before - len(victims)}.  At {stamp(now)} instance {victim} was "
                f"selected for termination.")
            record = activity(session, group, f"Terminating EC2 instance: {victim}", text)
            await self._end_pending(session, row)
            row.lifecycle_state = "Terminating"
            row.activity_id = record.activity_id

    async def _source_times(self, session: Any, group: AsGroup) -> dict[str, datetime]:
        rows = (await session.execute(select(
            AsLaunchConfiguration.name, AsLaunchConfiguration.created_at).where(
            AsLaunchConfiguration.account_id == group.account_id,
            AsLaunchConfiguration.region == group.region))).all()
        return {r[0]: r[1] for r in rows}

    async def _finish_delete(self, key: str) -> bool:
        from cloudctl.services.autoscaling.groups import remove_group

        async with self.cloud.sessions() as session, session.begin():
            group = await session.get(AsGroup, key)
            if group is None or not group.status:
                return False
            left = (await session.execute(select(AsInstance.token).where(
                AsInstance.group_arn == key))).first()
            if left:
                return False
            await remove_group(session, group)
        return True


CONTROLLER = RuntimeKey[GroupController]("autoscaling.groups")


def at_rest(definition: str) -> bool:
    """Whether a group's definition asks for no periodic work (metrics, a refresh)."""
    settings = loads(definition)
    return not settings.get("EnabledMetrics") and not any(
        r.get("Status") in ("Pending", "InProgress", "Cancelling")
        for r in settings.get("InstanceRefreshes") or [])


def wake(cloud: Cloud, group_arn: str) -> None:
    controller = cloud.runtime.get(CONTROLLER)
    if controller is not None:
        controller.wake(group_arn)
