"""EC2 instance lifecycle verbs and attributes: Stop/Start/RebootInstances and
Describe/Modify/ResetInstanceAttribute. Each records intent and wakes the controller.
"""

from __future__ import annotations

import base64
from typing import Any

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.ec2.compute import controller as ctl
from cloudctl.services.ec2.compute import instance_types
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.compute.instance_view import groups, state, user_initiated
from cloudctl.services.ec2.compute.instances import InstancesProvider
from cloudctl.services.ec2.compute.launch import USER_DATA_MAX_KB, decode_user_data


def _incorrect(row: Instance, verb: str) -> AwsError:
    return AwsError(f"The instance '{row.instance_id}' is not in a state from which it can be "
                    f"{verb}.", code="IncorrectInstanceState")


def _ebs_only(row: Instance) -> None:
    if row.root_device_type != "ebs":
        raise AwsError(f"The instance '{row.instance_id}' does not have an 'ebs' root device "
                       "type and cannot be stopped.", code="UnsupportedOperation")


class InstanceActionsProvider(Provider):
    service = "ec2"

    def _rows_helper(self) -> InstancesProvider:
        return InstancesProvider(self.cloud)

    @operation("StopInstances")
    async def stop_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        wanted = list(params.get("InstanceIds") or [])
        now, out = utcnow(), []
        async with self.cloud.sessions() as session, session.begin():
            rows = await self._rows_helper().visible_rows(session, ctx, wanted)
            for row in rows:
                _ebs_only(row)
                if row.state not in ("running", "stopping", "stopped"):
                    raise _incorrect(row, "stopped")
            for row in rows:
                previous = state(row)
                if row.state == "running":
                    row.state = "stopping"
                    row.transition_reason = user_initiated(now)
                    row.state_reason_code = "Client.UserInitiatedShutdown"
                    row.state_reason_message = "Client.UserInitiatedShutdown: User initiated shutdown"
                    row.updated_at = now
                out.append({"InstanceId": row.instance_id, "PreviousState": previous,
                            "CurrentState": state(row)})
        ctl.wake()
        return {"StoppingInstances": out}

    @operation("StartInstances")
    async def start_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        wanted = list(params.get("InstanceIds") or [])
        now, out = utcnow(), []
        async with self.cloud.sessions() as session, session.begin():
            rows = await self._rows_helper().visible_rows(session, ctx, wanted)
            for row in rows:
                _ebs_only(row)
                if row.state not in ("stopped", "pending", "running"):
                    raise _incorrect(row, "started")
            for row in rows:
                previous = state(row)
                if row.state == "stopped":
                    itype = await instance_types.get_type(session, row.instance_type)
                    row.vcpus, row.memory_mib = itype.cpu, itype.memory_mib
                    spec = dict(row.spec)
                    spec["vcpus"], spec["memory_mib"] = itype.cpu, itype.memory_mib
                    row.spec = spec
                    row.state, row.transition_reason = "pending", ""
                    row.state_reason_code, row.state_reason_message = "pending", "pending"
                    row.updated_at = now
                out.append({"InstanceId": row.instance_id, "PreviousState": previous,
                            "CurrentState": state(row)})
        ctl.wake()
        return {"StartingInstances": out}

    @operation("RebootInstances")
    async def reboot_instances(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        wanted = list(params.get("InstanceIds") or [])
        async with self.cloud.sessions() as session, session.begin():
            rows = await self._rows_helper().visible_rows(session, ctx, wanted)
            for row in rows:
                if row.state in ("terminated", "shutting-down"):
                    raise _incorrect(row, "rebooted")
            for row in rows:
                if row.state == "running":
                    row.reboot_requested = True
        ctl.wake()
        return {}

    @operation("DescribeInstanceAttribute")
    async def describe_instance_attribute(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> Result:
        iid = str(params.get("InstanceId") or "")
        attribute = params.get("Attribute")
        async with self.cloud.sessions() as session:
            row = (await self._rows_helper().visible_rows(session, ctx, [iid]))[0]
        out: Result = {"InstanceId": iid}
        values: dict[str, tuple[str, Any]] = {
            "instanceType": ("InstanceType", {"Value": row.instance_type}),
            "kernel": ("KernelId", {"Value": row.kernel_id} if row.kernel_id else {}),
            "ramdisk": ("RamdiskId", {"Value": row.ramdisk_id} if row.ramdisk_id else {}),
            "userData": ("UserData", {"Value": row.user_data} if row.user_data else {}),
            "disableApiTermination": ("DisableApiTermination",
                                      {"Value": row.disable_api_termination}),
            "instanceInitiatedShutdownBehavior": ("InstanceInitiatedShutdownBehavior",
                                                  {"Value": row.shutdown_behavior}),
            "rootDeviceName": ("RootDeviceName", {"Value": row.root_device_name}),
            "blockDeviceMapping": ("BlockDeviceMappings", []),
            "productCodes": ("ProductCodes", []),
            "sourceDestCheck": ("SourceDestCheck", {"Value": True}),
            "groupSet": ("Groups", groups(row)),
            "ebsOptimized": ("EbsOptimized", {"Value": False}),
            "enaSupport": ("EnaSupport", {"Value": False}),
            "sriovNetSupport": ("SriovNetSupport", {}),
            "disableApiStop": ("DisableApiStop", {"Value": False}),
        }
        if attribute not in values:
            raise AwsError(f"Value ({attribute}) for parameter attribute is invalid.",
                           code="InvalidParameterValue")
        key, value = values[str(attribute)]
        out[key] = value
        return out

    @operation("ModifyInstanceAttribute")
    async def modify_instance_attribute(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        iid = str(params.get("InstanceId") or "")
        attribute, value = params.get("Attribute"), params.get("Value")

        def given(name: str, attr: str) -> Any:
            wrapped = params.get(name)
            if isinstance(wrapped, dict) and "Value" in wrapped:
                return wrapped["Value"]
            return value if attribute == attr else None

        async with self.cloud.sessions() as session, session.begin():
            row = (await self._rows_helper().visible_rows(session, ctx, [iid]))[0]
            new_type = given("InstanceType", "instanceType")
            if new_type is not None:
                if row.state != "stopped":
                    raise _incorrect(row, "modified (instanceType needs a stopped instance)")
                itype = await instance_types.get_type(session, str(new_type))
                row.instance_type = itype.name
            data = given("UserData", "userData")
            if data is not None:
                if row.state != "stopped":
                    raise _incorrect(row, "modified (userData needs a stopped instance)")
                raw = data if isinstance(data, str) else base64.b64encode(bytes(data)).decode()
                row.user_data = decode_user_data(
                    raw, int(self.cloud.properties.get(USER_DATA_MAX_KB)))
            protect = given("DisableApiTermination", "disableApiTermination")
            if protect is not None:
                row.disable_api_termination = str(protect).lower() in ("true", "1")
            behaviour = given("InstanceInitiatedShutdownBehavior",
                              "instanceInitiatedShutdownBehavior")
            if behaviour is not None:
                if behaviour not in ("stop", "terminate"):
                    raise AwsError(f"Value ({behaviour}) for parameter "
                                   "instanceInitiatedShutdownBehavior is invalid.",
                                   code="InvalidParameterValue")
                row.shutdown_behavior = str(behaviour)
            group_ids = params.get("Groups")
            if group_ids:
                try:
                    from cloudctl.services.ec2.network import security_groups

                    await security_groups.set_instance_groups(
                        session, row.account_id, row.region, iid, list(group_ids))
                except NotImplementedError:
                    pass
                row.security_group_ids = list(group_ids)
                row.security_group_names = [""] * len(group_ids)
            row.updated_at = utcnow()
        return {}

    @operation("ResetInstanceAttribute")
    async def reset_instance_attribute(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        iid = str(params.get("InstanceId") or "")
        attribute = params.get("Attribute")
        if attribute not in ("kernel", "ramdisk", "sourceDestCheck"):
            raise AwsError(f"Value ({attribute}) for parameter attribute is invalid.",
                           code="InvalidParameterValue")
        async with self.cloud.sessions() as session, session.begin():
            row = (await self._rows_helper().visible_rows(session, ctx, [iid]))[0]
            if attribute in ("kernel", "ramdisk") and row.state != "stopped":
                raise _incorrect(row, "modified")
        return {}
