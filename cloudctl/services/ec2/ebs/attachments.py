"""The public surface of EBS for the other EC2 parts (compute, images).

Compute (AttachVolume/DetachVolume, RunInstances with EBS, TerminateInstances)::

    from cloudctl.services.ec2.ebs import attachments as ebs

    await ebs.check_attachable(cloud, account_id, region, volume_id, zone)  # AWS errors
    await ebs.mark_attached(cloud, volume_id, instance_id, "/dev/vdb", state="attaching")
    disk = await ebs.attachment_for(cloud, volume_id)   # backend dict for the hypervisor
    await ebs.mark_attached(cloud, volume_id, instance_id, "/dev/vdb")   # now attached
    await ebs.mark_detached(cloud, volume_id, state="detaching")
    await ebs.mark_detached(cloud, volume_id)                            # available again
    await ebs.multi_attachments(session, [volume_id])  # a Multi-Attach volume's rows

A Multi-Attach volume has one ``ebs_volume_attachments`` row per instance (the same
calls; ``mark_detached`` then needs ``instance_id``); it stays ``in-use`` until the
last one is detached.
    await ebs.volumes_of_instance(cloud, instance_id)    # BlockDeviceMappings, termination

Images (DeleteSnapshot answers ``InvalidSnapshot.InUse`` while an image uses it)::

    ebs.register_snapshot_user(fn)   # fn(session, snapshot_id) -> image id or None

Every call is idempotent. Must not: talk to a hypervisor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.services.ec2.ebs.common import check_volume_id, own_volume, volume_not_found
from cloudctl.services.ec2.ebs.models import (
    VOLUME_AVAILABLE,
    VOLUME_IN_USE,
    Volume,
    VolumeAttachment,
)
from cloudctl.services.ec2.ebs.storage.service import block_storage

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

SnapshotUser = Callable[[AsyncSession, str], Awaitable[str | None]]
_snapshot_users: list[SnapshotUser] = []


def register_snapshot_user(fn: SnapshotUser) -> None:
    """``fn(session, snapshot_id)`` returns the id of an image using the snapshot, or None."""
    if fn not in _snapshot_users:
        _snapshot_users.append(fn)


async def snapshot_used_by(session: AsyncSession, snapshot_id: str) -> str | None:
    for fn in _snapshot_users:
        user = await fn(session, snapshot_id)
        if user:
            return user
    return None


MAX_MULTI_ATTACH = 16


async def check_attachable(cloud: Cloud, account_id: str, region: str, volume_id: str,
                           zone: str, instance_id: str = "") -> None:
    """Raise the AWS error AttachVolume answers for this volume, if any."""
    async with cloud.sessions() as session:
        vol = await own_volume(session, account_id, region, volume_id)
        if vol.multi_attach:
            await _check_multi(session, vol, instance_id)
    if not vol.multi_attach and (vol.instance_id or vol.state == VOLUME_IN_USE):
        raise AwsError(f"{volume_id} is already attached to an instance", code="VolumeInUse")
    if vol.state != VOLUME_AVAILABLE and not (vol.multi_attach and vol.state == VOLUME_IN_USE):
        raise AwsError(f"{volume_id} is not 'available'.", code="IncorrectState")
    if vol.zone != zone:
        raise AwsError(f"The volume '{volume_id}' is not in the same availability zone as the "
                       "instance", code="InvalidVolume.ZoneMismatch")


async def _check_multi(session: AsyncSession, vol: Volume, instance_id: str) -> None:
    if vol.state not in (VOLUME_AVAILABLE, VOLUME_IN_USE):
        return  # IncorrectState below
    held = list((await session.execute(select(VolumeAttachment.instance_id).where(
        VolumeAttachment.volume_id == vol.volume_id))).scalars())
    if instance_id in held:
        raise AwsError(f"{vol.volume_id} is already attached to instance {instance_id}",
                       code="VolumeInUse")
    if len(held) >= MAX_MULTI_ATTACH:
        raise AwsError(f"Volume {vol.volume_id} is already attached to the maximum of "
                       f"{MAX_MULTI_ATTACH} instances.", code="AttachmentLimitExceeded")


async def mark_attached(cloud: Cloud, volume_id: str, instance_id: str, device: str, *,
                        state: str = "attached", delete_on_termination: bool = False,
                        boot: bool = False) -> dict[str, Any]:
    """Record the attachment (``attaching`` or ``attached``); the volume goes ``in-use``."""
    async with cloud.sessions() as session, session.begin():
        vol = await _locked(session, volume_id)
        if vol.multi_attach:
            return await _attach_multi(session, vol, instance_id, device, state,
                                       delete_on_termination)
        if vol.instance_id not in (None, instance_id):
            raise AwsError(f"{volume_id} is attached to {vol.instance_id}", code="VolumeInUse")
        if vol.instance_id is None and vol.state != VOLUME_AVAILABLE:
            raise AwsError(f"{volume_id} is not 'available'.", code="IncorrectState")
        if vol.instance_id is None:
            vol.attach_time = utcnow()
        vol.instance_id, vol.device, vol.attach_state = instance_id, device, state
        vol.delete_on_termination, vol.boot = delete_on_termination, boot
        vol.state = VOLUME_IN_USE
        return _attachment(vol)


async def _attach_multi(session: AsyncSession, vol: Volume, instance_id: str, device: str,
                        state: str, delete_on_termination: bool) -> dict[str, Any]:
    att = await session.get(VolumeAttachment, (vol.volume_id, instance_id),
                            with_for_update=True)
    if att is None:
        if vol.state not in (VOLUME_AVAILABLE, VOLUME_IN_USE):
            raise AwsError(f"{vol.volume_id} is not 'available'.", code="IncorrectState")
        count = (await session.execute(select(func.count()).where(
            VolumeAttachment.volume_id == vol.volume_id))).scalar_one()
        if count >= MAX_MULTI_ATTACH:
            raise AwsError(f"Volume {vol.volume_id} is already attached to the maximum of "
                           f"{MAX_MULTI_ATTACH} instances.", code="AttachmentLimitExceeded")
        att = VolumeAttachment(volume_id=vol.volume_id, instance_id=instance_id,
                               device=device, attach_state=state, attach_time=utcnow(),
                               delete_on_termination=delete_on_termination,
                               force_detach=False)
        session.add(att)
    else:
        att.attach_state = state
    vol.state = VOLUME_IN_USE
    return attachment_shape(att)


async def mark_detached(cloud: Cloud, volume_id: str, *, instance_id: str | None = None,
                        state: str = "detached", force: bool = False) -> None:
    """``detaching`` keeps the volume in-use; ``detached`` makes it ``available``.

    ``force`` (DetachVolume's Force) is recorded with the intent, so whichever worker
    runs the controller, before or after a restart, detaches even if the node cannot.
    """
    async with cloud.sessions() as session, session.begin():
        vol = await _locked(session, volume_id)
        if vol.multi_attach:
            await _detach_multi(session, vol, instance_id or "", state, force)
            return
        if vol.instance_id is None or (instance_id and vol.instance_id != instance_id):
            return
        if state == "detaching":
            vol.attach_state = state
            vol.force_detach = vol.force_detach or force
            return
        vol.instance_id = vol.device = vol.attach_state = None
        vol.attach_time = None
        vol.boot = vol.delete_on_termination = vol.force_detach = False
        if vol.state == VOLUME_IN_USE:
            vol.state = VOLUME_AVAILABLE


async def _detach_multi(session: AsyncSession, vol: Volume, instance_id: str, state: str,
                        force: bool) -> None:
    att = await session.get(VolumeAttachment, (vol.volume_id, instance_id),
                            with_for_update=True)
    if att is None:
        return
    if state == "detaching":
        att.attach_state = state
        att.force_detach = att.force_detach or force
        return
    await session.delete(att)
    await session.flush()
    left = (await session.execute(select(func.count()).where(
        VolumeAttachment.volume_id == vol.volume_id))).scalar_one()
    if not left and vol.state == VOLUME_IN_USE:
        vol.state = VOLUME_AVAILABLE


async def attachment_for(cloud: Cloud, volume_id: str) -> dict[str, Any]:
    """The backend's description of the volume for libvirt/QEMU (file path or rbd);
    ``shareable`` is set for a Multi-Attach volume (several guests write it)."""
    async with cloud.sessions() as session:
        vol = await session.get(Volume, check_volume_id(volume_id))
    if vol is None:
        raise volume_not_found(volume_id)
    backend = await block_storage(cloud).backends.get(vol.zone, vol.backend)
    if not vol.multi_attach:
        return await backend.attachment(volume_id)
    # Multi-Attach is only turned on while detached: no guest has it open yet as an
    # unshareable format when the backend converts it
    return {**await backend.shareable_attachment(volume_id), "shareable": True}


async def multi_attachments(session: AsyncSession, volume_ids: list[str]
                            ) -> dict[str, list[VolumeAttachment]]:
    """volume id -> its Multi-Attach attachment rows (by attach time)."""
    out: dict[str, list[VolumeAttachment]] = {}
    if not volume_ids:
        return out
    rows = await session.execute(select(VolumeAttachment).where(
        VolumeAttachment.volume_id.in_(volume_ids)).order_by(
        VolumeAttachment.attach_time, VolumeAttachment.instance_id))
    for att in rows.scalars():
        out.setdefault(att.volume_id, []).append(att)
    return out


def attachment_shape(att: VolumeAttachment) -> dict[str, Any]:
    when: datetime | None = att.attach_time
    return {"VolumeId": att.volume_id, "InstanceId": att.instance_id, "Device": att.device,
            "State": att.attach_state, "AttachTime": when,
            "DeleteOnTermination": att.delete_on_termination}


async def volumes_of_instance(cloud: Cloud, instance_id: str) -> list[dict[str, Any]]:
    """The instance's attachments (VolumeId, Device, State, AttachTime, DeleteOnTermination)."""
    async with cloud.sessions() as session:
        rows = (await session.execute(select(Volume).where(
            Volume.instance_id == instance_id).order_by(Volume.device))).scalars().all()
        multi = (await session.execute(select(VolumeAttachment).where(
            VolumeAttachment.instance_id == instance_id))).scalars().all()
    out = [{**_attachment(v), "Boot": v.boot} for v in rows]
    out += [{**attachment_shape(a), "Boot": False} for a in multi]
    return sorted(out, key=lambda a: str(a["Device"]))


async def _locked(session: AsyncSession, volume_id: str) -> Volume:
    vol = (await session.execute(select(Volume).where(
        Volume.volume_id == check_volume_id(volume_id)).with_for_update())).scalar_one_or_none()
    if vol is None or vol.state == "deleting":
        raise volume_not_found(volume_id)
    return vol


def _attachment(vol: Volume) -> dict[str, Any]:
    when: datetime | None = vol.attach_time
    return {"VolumeId": vol.volume_id, "InstanceId": vol.instance_id, "Device": vol.device,
            "State": vol.attach_state, "AttachTime": when,
            "DeleteOnTermination": vol.delete_on_termination}
