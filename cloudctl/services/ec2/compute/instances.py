"""EC2 instances: RunInstances, DescribeInstances, DescribeInstanceStatus,
TerminateInstances and GetConsoleOutput (the lifecycle verbs are in
``instance_actions``). The API records intent and answers at once; the
controller (``controller``) converges the nodes.

RunInstances is the launch workflow in ``launch`` (validation, image/type/zone,
network, block devices, scheduling, rows), run from here; an instance profile only
when the caller may pass its role (``iam:PassRole``), checked for dry runs too.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, authorization, operation
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2.compute import controller as ctl
from cloudctl.services.ec2.compute import instance_volumes, launch, monitoring
from cloudctl.services.ec2.compute import nodes as nodes_mod
from cloudctl.services.ec2.compute.dns_names import names_of
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.compute.instance_view import extractors, reservation_shape, state
from cloudctl.services.ec2.network import instance_network
from cloudctl.services.ec2.shared import resources, tags
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.ec2.vpc import launch as vpc_launch
from cloudctl.services.paging import paginate


class InstancesProvider(Provider):
    service = "ec2"

    async def start(self) -> None:
        if not self.cloud.runs_controllers:
            return
        from cloudctl.services.ec2.compute.node_runtime import NODES, NodePool, start_local_node

        pool = NodePool(self.cloud)
        self.cloud.runtime[NODES] = pool
        await start_local_node(self.cloud, pool)
        controller = ctl.ComputeController(self.cloud, pool,
                                           leader=lambda: self.cloud.runs_controllers)
        self.cloud.spawn(controller.run(), "compute-controller")

    async def stop(self) -> None:
        from cloudctl.services.ec2.compute.node_runtime import NODES

        pool = self.cloud.runtime.get(NODES)
        if pool is not None:
            await pool.close()

    @operation("RunInstances")
    async def run_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        from cloudctl.services.ec2.compute.launch_templates import launch_params

        return await launch.launch(self.cloud, ctx, await launch_params(self.cloud, ctx,
                                                                        params))

    @authorization("RunInstances")
    async def may_pass_role(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        """A launch with an instance profile needs ``iam:PassRole`` on its role (dry runs
        included): checked before the launch is acted on or DryRun is answered."""
        from cloudctl.services.ec2.compute.launch_templates import launch_params

        params = await launch_params(self.cloud, ctx, params)
        await launch.instance_profile(self.cloud, ctx, ctx.require_account(),
                                      params.get("IamInstanceProfile"))

    async def visible_rows(self, session: AsyncSession, ctx: RequestContext,
                           instance_ids: list[str], verbose: bool = False,
                           light: bool = False) -> list[Instance]:
        """The caller's instances (all accounts' for ``verbose``); ``light`` leaves out the
        launch spec, user data, key and mappings (DescribeInstances needs none of them)."""
        query = select(Instance).where(Instance.region == ctx.region)
        if light:
            query = query.options(defer(Instance.spec), defer(Instance.user_data),
                                  defer(Instance.public_key),
                                  defer(Instance.block_device_mappings))
        if not verbose:
            query = query.where(Instance.account_id == ctx.require_account())
        if instance_ids and len(instance_ids) <= 500:
            query = query.where(Instance.instance_id.in_(instance_ids))
        rows = list((await session.execute(query.order_by(Instance.instance_id))).scalars().all())
        if instance_ids:
            found = {r.instance_id for r in rows}
            missing = [i for i in instance_ids if i not in found]
            if missing:
                resources.INSTANCE.check_all(missing)
                raise AwsError(f"The instance ID '{', '.join(missing)}' does not exist",
                               code="InvalidInstanceID.NotFound")
            rows = [r for r in rows if r.instance_id in set(instance_ids)]
        return rows

    @operation("DescribeInstances")
    async def describe_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        wanted = list(params.get("InstanceIds") or [])
        verbose = "verbose" in wanted and is_cloud_admin(ctx)
        wanted = [i for i in wanted if i != "verbose"]
        if wanted and params.get("MaxResults") is not None:
            raise AwsError("The parameter instancesSet cannot be used with the parameter "
                           "maxResults", code="InvalidParameterCombination")
        async with self.cloud.sessions() as session:
            rows = await self.visible_rows(session, ctx, wanted, verbose, light=True)
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          None if len(rows) > 500 else
                                          [r.instance_id for r in rows])
            vpc_filters = await vpc_launch.filter_extractors(session, params, rows)
        names = names_of(self.cloud.properties)
        rows = apply_filters(rows, params.get("Filters"),
                             {**extractors(tag_map, names), **vpc_filters})
        page, token = paginate("DescribeInstances", params, rows, lambda r: r.instance_id)
        result: Result = {"Reservations": reservation_shape(page, tag_map, names)}
        await instance_volumes.fill_block_devices(self.cloud, result["Reservations"])
        async with self.cloud.sessions() as session:
            await instance_network.decorate(session, result["Reservations"], names)
            await vpc_launch.decorate(session, result["Reservations"])
            await monitoring.decorate(session, result["Reservations"])
        if token:
            result["NextToken"] = token
        return result

    @operation("DescribeInstanceStatus")
    async def describe_instance_status(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        wanted = list(params.get("InstanceIds") or [])
        async with self.cloud.sessions() as session:
            rows = await self.visible_rows(session, ctx, wanted)
            if not params.get("IncludeAllInstances"):
                rows = [r for r in rows if r.state == "running"]
            checks = await monitoring.status_checks(session, rows)
        statuses: list[dict[str, Any]] = [
            {"InstanceId": r.instance_id, "AvailabilityZone": r.zone, "InstanceState": state(r),
             "InstanceStatus": checks[r.instance_id][0], "SystemStatus": checks[r.instance_id][1],
             "Events": []} for r in rows]
        statuses = apply_filters(statuses, params.get("Filters"), {
            "availability-zone": lambda s: [s["AvailabilityZone"]],
            "instance-state-name": lambda s: [s["InstanceState"]["Name"]],
            "instance-state-code": lambda s: [str(s["InstanceState"]["Code"])],
            "instance-status.status": lambda s: [s["InstanceStatus"]["Status"]],
            "system-status.status": lambda s: [s["SystemStatus"]["Status"]],
            "instance-status.reachability": lambda s: [
                d["Status"] for d in s["InstanceStatus"].get("Details", ())],
            "system-status.reachability": lambda s: [
                d["Status"] for d in s["SystemStatus"].get("Details", ())],
        })
        page, token = paginate("DescribeInstanceStatus", params, statuses,
                               lambda s: s["InstanceId"])
        result: Result = {"InstanceStatuses": page}
        if token:
            result["NextToken"] = token
        return result

    @operation("TerminateInstances")
    async def terminate_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        wanted = list(params.get("InstanceIds") or [])
        now = utcnow()
        out = []
        async with self.cloud.sessions() as session, session.begin():
            rows = await self.visible_rows(session, ctx, wanted)
            for row in rows:
                if row.disable_api_termination:
                    raise AwsError(f"The instance '{row.instance_id}' may not be terminated. "
                                   "Modify its 'disableApiTermination' instance attribute and "
                                   "try again.", code="OperationNotPermitted")
            for row in rows:
                previous = state(row)
                if row.state not in ("shutting-down", "terminated"):
                    row.state = "shutting-down"
                    row.state_reason_code, row.state_reason_message = (
                        "Client.UserInitiatedShutdown",
                        "Client.UserInitiatedShutdown: User initiated shutdown")
                    row.transition_reason = (f"User initiated ({now.strftime('%Y-%m-%d %H:%M:%S')}"
                                             " GMT)")
                    row.updated_at = now
                out.append({"InstanceId": row.instance_id, "PreviousState": previous,
                            "CurrentState": state(row)})
        ctl.wake()
        return {"TerminatingInstances": out}

    @operation("GetConsoleOutput")
    async def get_console_output(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        iid = str(params.get("InstanceId") or "")
        async with self.cloud.sessions() as session:
            row = (await self.visible_rows(session, ctx, [iid]))[0]
            node = await session.get(nodes_mod.Node, row.node) if row.node else None
        text = ""
        from cloudctl.services.ec2.compute.node_runtime import NODES

        pool = self.cloud.runtime.get(NODES)
        if node is not None and pool is not None and row.state in (
                "pending", "running", "stopping", "stopped"):
            client = pool.client(node.name, node.address)
            if client is not None:
                try:
                    text = await client.console_output(iid)
                except Exception:  # the node or guest is gone: EC2 answers an empty output
                    text = ""
        result: Result = {"InstanceId": iid, "Timestamp": utcnow()}
        if text:
            result["Output"] = base64.b64encode(text.encode("utf-8", "replace")).decode()
        return result
