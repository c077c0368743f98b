"""EC2 instances: RunInstances, DescribeInstances, DescribeInstanceStatus,
TerminateInstances and GetConsoleOutput (the lifecycle verbs are in
``instance_actions``). The API records intent and answers at once; the
controller (``controller``) converges the nodes.

Owns launching: image and kernel resolution, instance type, key pair, user data
(``cloud.vmstate.user_data_max_size_kb``), placement through the scheduler,
ClientToken idempotency and TagSpecifications; an instance profile only when the caller
may pass its role (``iam:PassRole``, ``cloudctl.services.iam.passrole``). The instance's network (NIC, MAC,
private and public IP, groups, tap) comes from ``instance_network``, with the
private IP the caller asked for (``PrivateIpAddress``) when it is free and in range.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, authorization, operation
from cloudctl.services import ids
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2 import controller as ctl
from cloudctl.services.ec2 import (
    images,
    instance_network,
    instance_types,
    instance_volumes,
    keypairs,
    resources,
    scheduler,
    tags,
)
from cloudctl.services.ec2 import nodes as nodes_mod
from cloudctl.services.ec2.dns_names import DnsNames, names_of
from cloudctl.services.ec2.filters import apply_filters
from cloudctl.services.ec2.instance_models import Instance
from cloudctl.services.ec2.instance_view import extractors, instance_shape, state
from cloudctl.services.paging import paginate
from nodectl.client import InstanceSpec

USER_DATA_MAX_KB = registry.define(PropertyDef(
    "cloud.vmstate.user_data_max_size_kb", PropertyType.INTEGER, "16",
    "Largest user data (decoded) RunInstances accepts, in KiB.", minimum=1, maximum=1024,
))
DEFAULT_CMDLINE = "console=ttyS0 root=/dev/vda rootfstype=ext4 panic=-1"
_round_robin = scheduler.RoundRobinState()


def decode_user_data(raw: Any, limit_kb: int) -> str:
    if not raw:
        return ""
    text = str(raw)
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise AwsError("Invalid BASE64 encoding of user data.", code="InvalidUserData.Malformed") \
            from None
    if len(data) > limit_kb * 1024:
        raise AwsError(f"User data is limited to {limit_kb * 1024} bytes.",
                       code="InvalidParameterValue")
    return text


def reservation_shape(rows: list[Instance], tag_map: dict[str, list[dict[str, str]]],
                      names: DnsNames) -> list[dict[str, Any]]:
    reservations: dict[str, dict[str, Any]] = {}
    for row in rows:
        res = reservations.get(row.reservation_id)
        if res is None:
            res = reservations[row.reservation_id] = {
                "ReservationId": row.reservation_id, "OwnerId": row.owner_id,
                "Groups": [], "Instances": []}
        res["Instances"].append(instance_shape(row, tag_map.get(row.instance_id, []), names))
    return list(reservations.values())


class InstancesProvider(Provider):
    service = "ec2"

    async def start(self) -> None:
        if self.cloud.worker_index != 0:
            return
        from cloudctl.services.ec2.node_runtime import NODES, NodePool, start_local_node

        pool = NodePool(self.cloud)
        self.cloud.runtime[NODES] = pool
        await start_local_node(self.cloud, pool)
        controller = ctl.ComputeController(self.cloud, pool,
                                           leader=lambda: self.cloud.worker_index == 0)
        self.cloud.spawn(controller.run(), "compute-controller")

    async def stop(self) -> None:
        from cloudctl.services.ec2.node_runtime import NODES

        pool = self.cloud.runtime.get(NODES)
        if pool is not None:
            await pool.close()

    @operation("RunInstances")
    async def run_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        credential = ctx.credential
        min_count, max_count = int(params.get("MinCount", 1)), int(params.get("MaxCount", 1))
        if min_count < 1 or max_count < min_count:
            raise AwsError("MinCount must be at least 1 and at most MaxCount",
                           code="InvalidParameterValue")
        if not params.get("ImageId"):
            raise AwsError("The request must contain the parameter ImageId",
                           code="MissingParameter")
        token = params.get("ClientToken")
        tags.check_tag_specifications(params.get("TagSpecifications"),
                                      ["instance", "volume", "network-interface"])
        user_data = decode_user_data(params.get("UserData"),
                                     int(self.cloud.properties.get(USER_DATA_MAX_KB)))
        type_name = str(params.get("InstanceType")
                        or self.cloud.properties.get(instance_types.DEFAULT_TYPE))
        zones = self.cloud.region_zones.get(ctx.region, [])
        zone = (params.get("Placement") or {}).get("AvailabilityZone")
        if zone and zone not in zones:
            raise AwsError(f"Invalid availability zone: [{zone}]", code="InvalidParameterValue")
        from cloudctl.services.ec2.vpc import launch as vpc_launch  # VPC launches

        private_ip = None if vpc_launch.wants_vpc(self.cloud, params) else \
            instance_network.requested_private_ip(params, max_count)
        profile = await self._profile(ctx, account, params.get("IamInstanceProfile"))
        names = names_of(self.cloud.properties)
        async with scheduler.placements_of(self.cloud), self.cloud.sessions() as session, \
                session.begin():
            await scheduler.lock_placements(session)
            if token:
                existing = list((await session.execute(select(Instance).where(
                    Instance.account_id == account, Instance.region == ctx.region,
                    Instance.client_token == token).order_by(Instance.launch_index)
                )).scalars().all())
                if existing:
                    tag_map = await tags.tags_for(session, account, ctx.region,
                                                  [r.instance_id for r in existing])
                    again = reservation_shape(existing, tag_map, names)
                    await instance_network.decorate(session, again, names)
                    return again[0]
            image = await images.launchable_image(session, account, ctx.region,
                                                  str(params["ImageId"]))
            if image.kind != "machine":
                raise AwsError(f"The image {image.image_id} is a {image.kind} image",
                               code="InvalidAMIID.Unavailable")
            kernel_id = params.get("KernelId") or image.kernel_id
            ramdisk_id = params.get("RamdiskId") or image.ramdisk_id
            if not kernel_id:
                raise AwsError(f"The image {image.image_id} names no kernel; pass KernelId.",
                               code="InvalidParameterValue")
            kernel = await images.launchable_image(session, account, ctx.region, kernel_id)
            ramdisk = (await images.launchable_image(session, account, ctx.region, ramdisk_id)
                       if ramdisk_id else None)
            itype = await instance_types.get_type(session, type_name)
            key = None
            if params.get("KeyName"):
                key = await keypairs.find_key_pair(session, account, ctx.region,
                                                   str(params["KeyName"]))
                if key is None:
                    raise AwsError(f"The key pair '{params['KeyName']}' does not exist",
                                   code="InvalidKeyPair.NotFound")
            in_vpc = await vpc_launch.plan(self.cloud, session, account, ctx.region, params,
                                           zone)
            if in_vpc is None:
                group_ids, group_names = await self._groups(session, account, ctx.region,
                                                            params)
            else:
                zone, group_ids = in_vpc.subnet.zone, in_vpc.groups
                group_names = await instance_network.group_names(session, group_ids)
                private_ip = None  # the interface's address comes from the subnet
            timeout = int(self.cloud.properties.get(nodes_mod.HEARTBEAT_TIMEOUT))
            capacity = await instance_types.capacity_snapshot(
                session, timeout, float(self.cloud.properties.get(scheduler.CPU_OVERCOMMIT_RATIO)))
            if not zone:
                zone = scheduler.choose_zone(capacity, zones, itype.cpu, itype.memory_mib,
                                             min_count, type_name)
            placed = scheduler.place(capacity, zone, itype.cpu, itype.memory_mib, min_count,
                                     max_count, str(self.cloud.properties.get(scheduler.POLICY)),
                                     _round_robin, type_name)
            reservation = ids.resource_id("r")
            now = utcnow()
            options = params.get("MetadataOptions") or {}
            ephemeral_mib = 0
            for mapping in params.get("BlockDeviceMappings") or []:
                if str(mapping.get("VirtualName") or "").startswith("ephemeral"):
                    ephemeral_mib = max(ephemeral_mib, 1024)
            rows = []
            root_volumes: list[str] = []
            for index, node in enumerate(placed):
                iid = ids.resource_id("i")
                net = await instance_network.launch_nic(session, account, ctx.region, iid, node,
                                                        private_ip)
                spec = InstanceSpec(
                    instance_id=iid, kernel=images.image_artifact(kernel),
                    image=images.image_artifact(image),
                    ramdisk=images.image_artifact(ramdisk) if ramdisk else None,
                    memory_mib=itype.memory_mib, vcpus=itype.cpu,
                    root_size_mib=None, ephemeral_mib=ephemeral_mib, cmdline=DEFAULT_CMDLINE,
                    nics=(net.spec,))
                row = Instance(
                    instance_id=iid, account_id=account, region=ctx.region,
                    reservation_id=reservation, owner_id=account,
                    requester_arn=credential.principal_arn if credential else "",
                    image_id=image.image_id, kernel_id=kernel.image_id,
                    ramdisk_id=ramdisk.image_id if ramdisk else None, instance_type=itype.name,
                    vcpus=itype.cpu, memory_mib=itype.memory_mib,
                    key_name=key.name if key else None, public_key=key.public_key if key else None,
                    zone=zone, node=node, state="pending", state_reason_code="pending",
                    state_reason_message="pending", transition_reason="",
                    reboot_requested=False, private_ip=net.private_ip, public_ip=net.public_ip,
                    mac=net.mac,
                    launch_index=index, launch_time=now, client_token=token,
                    user_data=user_data, security_group_ids=group_ids,
                    security_group_names=group_names,
                    iam_instance_profile=profile,
                    block_device_mappings=list(params.get("BlockDeviceMappings") or []),
                    root_device_type=image.root_device_type,
                    root_device_name=image.root_device_name,
                    disable_api_termination=bool(params.get("DisableApiTermination")),
                    shutdown_behavior=str(params.get("InstanceInitiatedShutdownBehavior")
                                          or "stop"),
                    http_tokens=str(options.get("HttpTokens") or "optional"),
                    http_endpoint=str(options.get("HttpEndpoint") or "enabled"),
                    spec=spec.to_json(), observed_power="", last_error="", updated_at=now)
                session.add(row)
                if in_vpc is not None:
                    await vpc_launch.attach_launch(session, in_vpc, account, iid)
                    if not in_vpc.public_ip:
                        await vpc_launch.drop_public_ip(session, row)
                if image.root_device_type == "ebs":  # root volume from the image's snapshot
                    root_volumes.append((await instance_volumes.add_root_volume(
                        self.cloud, session, row, image, params)).volume_id)
                rows.append(row)
            new_ids = [r.instance_id for r in rows]
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "instance", new_ids,
                                                params.get("TagSpecifications"))
            await self._record_groups(session, account, ctx.region, rows)
            tag_map = await tags.tags_for(session, account, ctx.region, new_ids)
            answer = reservation_shape(rows, tag_map, names)
            await instance_network.decorate(session, answer, names)
            await vpc_launch.decorate(session, answer)
        instance_network.notify()
        instance_volumes.wake_storage(self.cloud, root_volumes)
        ctl.wake()
        return answer[0]

    @authorization("RunInstances")
    async def may_pass_role(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        """A launch with an instance profile needs ``iam:PassRole`` on its role (dry runs
        included): checked before the launch is acted on or DryRun is answered."""
        await self._profile(ctx, ctx.require_account(), params.get("IamInstanceProfile"))

    async def _profile(self, ctx: RequestContext, account: str,
                       profile: dict[str, Any] | None) -> dict[str, Any] | None:
        """The instance profile RunInstances names, once the caller may pass its role."""
        if not profile:
            return None
        from cloudctl.services.iam.api import require_pass_profile_role, resolve_instance_profile

        found = await resolve_instance_profile(self.cloud, account, profile)
        if found is None:
            name = profile.get("Name") or profile.get("Arn")
            raise AwsError(f"Value ({name}) for parameter iamInstanceProfile.name is invalid. "
                           "Invalid IAM Instance Profile name", code="InvalidParameterValue")
        await require_pass_profile_role(self.cloud, ctx, account, str(found["Name"]))
        return found

    async def _groups(self, session: AsyncSession, account: str, region: str,
                      params: dict[str, Any]) -> tuple[list[str], list[str]]:
        names = list(params.get("SecurityGroups") or [])
        group_ids = list(params.get("SecurityGroupIds") or [])
        try:
            from cloudctl.services.ec2 import security_groups

            resolved = await security_groups.resolve_groups_for_launch(
                session, account, region, names, group_ids)
            return resolved, await instance_network.group_names(session, resolved)
        except NotImplementedError:  # the network service is not wired yet: record as asked
            if not names and not group_ids:
                names = ["default"]
            return group_ids + names, [""] * len(group_ids) + names

    async def _record_groups(self, session: AsyncSession, account: str, region: str,
                             rows: list[Instance]) -> None:
        try:
            from cloudctl.services.ec2 import security_groups

            for row in rows:
                await security_groups.set_instance_groups(session, account, region,
                                                          row.instance_id, row.security_group_ids)
        except NotImplementedError:
            pass

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
            from cloudctl.services.ec2.vpc import launch as vpc_launch  # VPC filters

            vpc_filters = await vpc_launch.filter_extractors(session, params, rows)
        names = names_of(self.cloud.properties)
        rows = apply_filters(rows, params.get("Filters"),
                             {**extractors(tag_map, names), **vpc_filters})
        page, token = paginate("DescribeInstances", params, rows, lambda r: r.instance_id)
        result: Result = {"Reservations": reservation_shape(page, tag_map, names)}
        await instance_volumes.fill_block_devices(self.cloud, result["Reservations"])
        async with self.cloud.sessions() as session:
            await instance_network.decorate(session, result["Reservations"], names)
            from cloudctl.services.ec2.vpc import launch as vpc_launch

            await vpc_launch.decorate(session, result["Reservations"])
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
        statuses: list[dict[str, Any]] = []
        for r in rows:
            ok = "ok" if r.state == "running" and r.observed_power == "running" else (
                "initializing" if r.state in ("pending", "running") else "not-applicable")
            detail = [{"Name": "reachability", "Status": "passed" if ok == "ok" else
                       "initializing"}]
            statuses.append({
                "InstanceId": r.instance_id, "AvailabilityZone": r.zone,
                "InstanceState": state(r),
                "InstanceStatus": {"Status": ok, "Details": detail},
                "SystemStatus": {"Status": ok, "Details": detail}, "Events": []})
        statuses = apply_filters(statuses, params.get("Filters"), {
            "availability-zone": lambda s: [s["AvailabilityZone"]],
            "instance-state-name": lambda s: [s["InstanceState"]["Name"]],
            "instance-state-code": lambda s: [str(s["InstanceState"]["Code"])],
            "instance-status.status": lambda s: [s["InstanceStatus"]["Status"]],
            "system-status.status": lambda s: [s["SystemStatus"]["Status"]],
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
        from cloudctl.services.ec2.node_runtime import NODES

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
