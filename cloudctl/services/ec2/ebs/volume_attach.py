"""AttachVolume and DetachVolume: validate as EC2 does, record the intent, wake the
compute controller.

AttachVolume records ``attaching`` (the volume goes ``in-use``); the controller
hot-plugs it on the instance's node and records ``attached``
(``instance_volumes.converge``). DetachVolume records ``detaching``; the controller
unplugs it and the volume becomes ``available``. ``Force`` lets the detach complete
even when the node cannot confirm it (node gone, guest not releasing the disk).
Device names: ``/dev/sd[f-z]``, ``/dev/xvd[f-z]`` and ``/dev/vd[b-z]``; the guest
sees ``vdX`` with the same letter (the root is ``vda``).
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.ec2.compute import controller as ctl
from cloudctl.services.ec2.compute import instance_volumes
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.ebs import attachments as ebs
from cloudctl.services.ec2.ebs.common import check_volume_id, own_volume
from cloudctl.services.ec2.ebs.models import VolumeAttachment
from cloudctl.services.ec2.shared.resources import INSTANCE


def _bad_device(device: str) -> AwsError:
    return AwsError(f"Value ({device}) for parameter device is invalid. {device} is not a "
                    "valid EBS device name.", code="InvalidParameterValue")


async def _instance(provider: Provider, ctx: RequestContext, iid: str) -> Instance:
    account = ctx.require_account()
    INSTANCE.check(iid)
    async with provider.cloud.sessions() as session:
        row = await session.get(Instance, iid)
    if row is None or row.account_id != account or row.region != ctx.region or (
            row.state == "terminated"):
        raise AwsError(f"The instance ID '{iid}' does not exist",
                       code="InvalidInstanceID.NotFound")
    return row


class VolumeAttachProvider(Provider):
    service = "ec2"

    @operation("AttachVolume")
    async def attach_volume(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        volume_id = check_volume_id(params.get("VolumeId"))
        device = str(params.get("Device") or "")
        try:
            target = instance_volumes.guest_device(device)
        except ValueError:
            raise _bad_device(device) from None
        if target == "vda":
            raise _bad_device(device)
        row = await _instance(self, ctx, str(params.get("InstanceId") or ""))
        async with self.cloud.sessions() as session:
            await own_volume(session, account, ctx.region, volume_id)  # NotFound first
        if row.state not in ("running", "stopped"):
            raise AwsError(f"Instance '{row.instance_id}' is not 'running'.",
                           code="IncorrectInstanceState")
        await ebs.check_attachable(self.cloud, account, ctx.region, volume_id, row.zone,
                                   row.instance_id)
        others = [(a["VolumeId"], a["Device"])
                  for a in await ebs.volumes_of_instance(self.cloud, row.instance_id)]
        for other_id, other_device in others:
            if other_id != volume_id and other_device and (
                    other_device == device
                    or instance_volumes.guest_device(other_device) == target):
                raise AwsError(f"Attachment point {device} is already in use",
                               code="InvalidParameterValue")
        out = await ebs.mark_attached(self.cloud, volume_id, row.instance_id, device,
                                      state="attaching")
        ctl.wake_volumes([volume_id])
        return {k: v for k, v in out.items() if k != "DeleteOnTermination"}

    @operation("DetachVolume")
    async def detach_volume(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        volume_id = check_volume_id(params.get("VolumeId"))
        async with self.cloud.sessions() as session:
            vol = await own_volume(session, account, ctx.region, volume_id)
            held = (await ebs.multi_attachments(session, [volume_id])).get(volume_id, [])
        wanted_instance = params.get("InstanceId")
        if wanted_instance:
            await _instance(self, ctx, str(wanted_instance))
        if vol.multi_attach:
            return await self._detach_multi(volume_id, held, params)
        if vol.instance_id is None:
            raise AwsError(f"Volume '{volume_id}' is in the 'available' state.",
                           code="IncorrectState")
        if (wanted_instance and wanted_instance != vol.instance_id) or (
                params.get("Device") and params["Device"] != vol.device):
            raise AwsError(f"The volume {volume_id} is not attached to instance "
                           f"{wanted_instance or vol.instance_id} as device "
                           f"{params.get('Device') or vol.device}.",
                           code="InvalidAttachment.NotFound")
        async with self.cloud.sessions() as session:
            row = await session.get(Instance, vol.instance_id)
        if vol.boot and row is not None and row.state not in ("stopped", "terminated"):
            raise AwsError(f"Unable to detach root volume '{volume_id}' from instance "
                           f"'{vol.instance_id}' unless it is stopped.",
                           code="IncorrectState")
        if vol.attach_state == "attaching" and not params.get("Force"):
            raise AwsError(f"Volume '{volume_id}' is still attaching.", code="IncorrectState")
        if vol.boot:  # a stopped instance's root: nothing runs on it
            await ebs.mark_detached(self.cloud, volume_id, instance_id=vol.instance_id)
            out: dict[str, Any] = {"VolumeId": volume_id, "InstanceId": vol.instance_id,
                                   "Device": vol.device, "State": "detaching",
                                   "AttachTime": vol.attach_time}
            return out
        await ebs.mark_detached(self.cloud, volume_id, instance_id=vol.instance_id,
                                state="detaching", force=bool(params.get("Force")))
        ctl.wake_volumes([volume_id])
        return {"VolumeId": volume_id, "InstanceId": vol.instance_id, "Device": vol.device,
                "State": "detaching", "AttachTime": vol.attach_time}

    async def _detach_multi(self, volume_id: str, held: list[VolumeAttachment],
                            params: dict[str, Any]) -> Result:
        """DetachVolume of a Multi-Attach volume: one attachment, named by InstanceId."""
        if not held:
            raise AwsError(f"Volume '{volume_id}' is in the 'available' state.",
                           code="IncorrectState")
        wanted = params.get("InstanceId")
        if not wanted:
            raise AwsError("The parameter instanceId must be specified for a volume with "
                           "Multi-Attach enabled.", code="MissingParameter")
        att = next((a for a in held if a.instance_id == wanted), None)
        if att is None or (params.get("Device") and params["Device"] != att.device):
            raise AwsError(f"The volume {volume_id} is not attached to instance {wanted} as "
                           f"device {params.get('Device') or (att.device if att else '')}.",
                           code="InvalidAttachment.NotFound")
        if att.attach_state == "attaching" and not params.get("Force"):
            raise AwsError(f"Volume '{volume_id}' is still attaching.", code="IncorrectState")
        await ebs.mark_detached(self.cloud, volume_id, instance_id=att.instance_id,
                                state="detaching", force=bool(params.get("Force")))
        ctl.wake_volumes([volume_id])
        return {"VolumeId": volume_id, "InstanceId": att.instance_id, "Device": att.device,
                "State": "detaching", "AttachTime": att.attach_time}
