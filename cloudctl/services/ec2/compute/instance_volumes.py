"""EBS volumes of instances: root volumes of EBS-backed launches, the controller's
attach/detach convergence, release at termination, BlockDeviceMappings, CreateImage.

Intent lives in ``ebs_volumes`` (attachment columns, through ``ebs_attachments``):
``attaching``/``detaching`` rows are what the controller still has to do on the
node; ``attached``/detached is what it observed. Every step is idempotent
(``NodeClient.attach_volume`` of an attached volume and ``detach_volume`` of a
missing one are no-ops), so a controller killed at any point redoes the step.

- RunInstances of an EBS image (``add_root_volume``): a volume row ``creating``
  from the image's root snapshot, already bound to the instance (``attaching``,
  ``boot``), so nobody else can attach it; the block reconciler creates it.
- The controller launches an EBS-backed instance only once its root volume exists
  (``launch_spec``): the root becomes ``attached`` and the node boots from it as
  ``vda`` (kernel and ramdisk stay separate artifacts). Non-root volumes recorded
  ``attached`` are part of the spec too, so a guest the node lost (or a start)
  gets them back.
- ``converge`` drives ``attaching``/``detaching`` of non-root volumes on running
  and stopped instances (a stopped domain's definition is edited).
- ``release`` at termination: DeleteOnTermination volumes are deleted, the rest
  become ``available``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.ebs import attachments as ebs
from cloudctl.services.ec2.ebs.common import visible_snapshot
from cloudctl.services.ec2.ebs.models import (
    VOLUME_AVAILABLE,
    VOLUME_CREATING,
    VOLUME_DELETING,
    VOLUME_ERROR,
    VOLUME_IN_USE,
    Volume,
    VolumeAttachment,
)
from cloudctl.services.ec2.ebs.storage.service import block_storage
from cloudctl.services.ec2.images import bundles as image_bundles
from cloudctl.services.ec2.images import images
from cloudctl.services.ec2.shared import resources
from nodectl.client import InstanceSpec, NodeClient, NodeError, VolumeSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

DEVICE_RE = re.compile(r"^/dev/(?:sd|xvd)([f-z])\Z|^/dev/vd([b-z])\Z")
ROOT_DEVICE_RE = re.compile(r"^/dev/(?:sd|xvd|vd)a1?\Z")


def guest_device(device: str | None, boot: bool = False) -> str:
    """The virtio target for an EC2 device name: sdf/xvdf/vdf -> vdf, the root -> vda."""
    if boot or not device or ROOT_DEVICE_RE.match(device):
        return "vda"
    match = DEVICE_RE.match(device)
    if match is None:
        raise ValueError(f"{device} is not a valid EBS device name")
    return "vd" + (match.group(1) or match.group(2))


# -- RunInstances ---------------------------------------------------------------------

def root_mapping(image: images.Image, params: dict[str, Any]) -> dict[str, Any]:
    """The image's root mapping, overridden by RunInstances' mapping of the same device."""
    name = image.root_device_name
    base = next((m for m in image.block_device_mappings if m.get("DeviceName") == name), None)
    if base is None or not (base.get("Ebs") or {}).get("SnapshotId"):
        raise AwsError(f"The image {image.image_id} has no root snapshot mapping",
                       code="InvalidBlockDeviceMapping")
    ebs_out = dict(base.get("Ebs") or {})
    for mapping in params.get("BlockDeviceMappings") or []:
        if mapping.get("DeviceName") == name:
            ebs_out.update({k: v for k, v in (mapping.get("Ebs") or {}).items()
                            if v is not None and k != "SnapshotId"})
    return ebs_out


async def add_root_volume(cloud: Cloud, session: AsyncSession, row: Instance,
                          image: images.Image, params: dict[str, Any]) -> Volume:
    """The root volume of an EBS-backed launch, bound to ``row`` (same transaction)."""
    mapping = root_mapping(image, params)
    snap = await visible_snapshot(session, row.account_id, row.region,
                                  str(mapping["SnapshotId"]))
    size = int(mapping.get("VolumeSize") or snap.volume_size)
    if size < snap.volume_size:
        raise AwsError(f"Volume of {size}GiB is smaller than snapshot "
                       f"{snap.snapshot_id} ({snap.volume_size}GiB).",
                       code="InvalidBlockDeviceMapping")
    delete = mapping.get("DeleteOnTermination")
    storage = block_storage(cloud)
    vol = Volume(volume_id=ids.resource_id("vol"), account_id=row.account_id,
                 region=row.region, zone=row.zone, backend=storage.backends.kind_for(row.zone),
                 size_gib=size, snapshot_id=snap.snapshot_id,
                 volume_type=str(mapping.get("VolumeType") or "gp2"),
                 iops=None, throughput=None, encrypted=snap.encrypted,
                 state=VOLUME_CREATING, created_at=utcnow(), instance_id=row.instance_id,
                 device=row.root_device_name, attach_state="attaching", attach_time=utcnow(),
                 delete_on_termination=True if delete is None else _true(delete), boot=True)
    session.add(vol)
    return vol


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def wake_storage(cloud: Cloud, volume_ids: list[str]) -> None:
    storage = block_storage(cloud)
    for volume_id in volume_ids:
        storage.wake(volume_id)


# -- the controller ---------------------------------------------------------------------

class RootVolumeFailed(NodeError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, code="InvalidParameter")


async def _volumes_of(cloud: Cloud, instance_id: str) -> list[Volume]:
    async with cloud.sessions() as session:
        return list((await session.execute(select(Volume).where(
            Volume.instance_id == instance_id).order_by(Volume.device))).scalars().all())


async def launch_spec(cloud: Cloud, row: Instance) -> InstanceSpec | None:
    """The spec to ensure: volumes and fetchable bundles resolved; None to wait (the root
    volume is still being created). Raises ``RootVolumeFailed`` if it never will be."""
    spec = InstanceSpec.from_json(row.spec)
    vols = await _volumes_of(cloud, row.instance_id)
    specs: list[VolumeSpec] = []
    for vol in vols:
        if vol.boot:
            if vol.state == VOLUME_CREATING:
                _wake_soon()
                return None
            if vol.state == VOLUME_ERROR:
                raise RootVolumeFailed(f"root volume {vol.volume_id}: {vol.status_message}")
            if vol.attach_state != "attached":
                await ebs.mark_attached(cloud, vol.volume_id, row.instance_id,
                                        vol.device or row.root_device_name, boot=True,
                                        delete_on_termination=vol.delete_on_termination)
        elif vol.attach_state != "attached":
            continue
        specs.append(VolumeSpec(vol.volume_id, guest_device(vol.device, vol.boot),
                                await ebs.attachment_for(cloud, vol.volume_id)))
    for held in await ebs.volumes_of_instance(cloud, row.instance_id):
        if held["State"] == "attached" and held["VolumeId"] not in {v.volume_id for v in vols}:
            specs.append(VolumeSpec(held["VolumeId"], guest_device(held["Device"]),
                                    await ebs.attachment_for(cloud, held["VolumeId"])))
    if row.root_device_type == "ebs" and not any(v.device == "vda" for v in specs):
        raise RootVolumeFailed(f"{row.instance_id} has no root volume")
    artifacts: dict[str, Any] = {}
    for name in ("kernel", "ramdisk", "image"):
        artifact = getattr(spec, name)
        if artifact is None or not image_bundles.is_bucket_location(
                artifact.bundle_manifest_url):
            continue
        async with cloud.sessions() as session:
            image = await session.get(images.Image, artifact.image_id)
        owner, region = (image.account_id, image.region) if image else (row.account_id,
                                                                         row.region)
        artifacts[name] = await image_bundles.node_artifact(cloud, artifact, owner, region)
    return replace(spec, volumes=tuple(specs), **artifacts)


def _wake_soon(delay: float = 0.5) -> None:
    """Poll again shortly (the block reconciler does not wake the compute controller)."""
    from cloudctl.services.ec2.compute import controller as ctl

    asyncio.get_running_loop().call_later(delay, ctl.wake)


Step = Callable[[], Awaitable[None]]


async def pending_attachments(cloud: Cloud) -> list[str]:
    """Volumes with an attach or detach still to do on a node."""
    async with cloud.sessions() as session:
        single = (await session.execute(select(Volume.volume_id).where(
            Volume.instance_id.is_not(None), Volume.boot.is_(False),
            Volume.attach_state.in_(("attaching", "detaching"))))).scalars().all()
        multi = (await session.execute(select(VolumeAttachment.volume_id).where(
            VolumeAttachment.attach_state.in_(("attaching", "detaching"))).distinct(
        ))).scalars().all()
    return sorted(set(single) | set(multi))


@dataclass(frozen=True)
class _Pending:
    """One attach or detach to do: a volume's row or one Multi-Attach attachment."""

    volume_id: str
    instance_id: str
    device: str
    state: str
    force_detach: bool


async def converge_one(cloud: Cloud, volume_id: str, clients: dict[str, NodeClient]) -> None:
    """Do the attaches or detaches ``volume_id`` still needs (``clients``: healthy nodes)."""
    todo: list[_Pending] = []
    async with cloud.sessions() as session:
        vol = await session.get(Volume, volume_id)
        if vol is None:
            return
        if vol.multi_attach:
            for att in (await ebs.multi_attachments(session, [volume_id])).get(volume_id, []):
                if att.attach_state in ("attaching", "detaching"):
                    todo.append(_Pending(volume_id, att.instance_id, att.device,
                                         att.attach_state, att.force_detach))
        elif vol.instance_id is not None and not vol.boot and vol.attach_state in (
                "attaching", "detaching"):
            todo.append(_Pending(volume_id, vol.instance_id, vol.device or "",
                                 vol.attach_state, vol.force_detach))
        rows = {p.instance_id: await session.get(Instance, p.instance_id) for p in todo}
    for pending in todo:
        row = rows[pending.instance_id]
        client = clients.get(row.node or "") if row is not None else None
        await _step(cloud, pending, row, client)()


def _step(cloud: Cloud, vol: _Pending, row: Instance | None, client: NodeClient | None
          ) -> Step:
    iid = vol.instance_id

    async def attach() -> None:
        if row is None or row.state in ("shutting-down", "terminated"):
            await ebs.mark_detached(cloud, vol.volume_id, instance_id=iid)
            return
        if row.state == "stopped":  # the next start attaches it (it is in the spec)
            await ebs.mark_attached(cloud, vol.volume_id, iid, vol.device)
            return
        if row.state != "running" or client is None:
            return  # pending/stopping: later
        spec = VolumeSpec(vol.volume_id, guest_device(vol.device),
                          await ebs.attachment_for(cloud, vol.volume_id))
        await client.attach_volume(iid, spec)
        await ebs.mark_attached(cloud, vol.volume_id, iid, vol.device)

    async def detach() -> None:
        if row is not None and row.state not in ("shutting-down", "terminated"):
            if client is None:
                if not vol.force_detach:
                    return
            else:
                try:
                    await client.detach_volume(iid, vol.volume_id)
                except NodeError as exc:
                    if not vol.force_detach and exc.code != "InstanceNotFound":
                        raise
        await ebs.mark_detached(cloud, vol.volume_id, instance_id=iid)

    return attach if vol.state == "attaching" else detach


async def release(cloud: Cloud, instance_id: str) -> None:
    """At termination: delete DeleteOnTermination volumes, detach the others."""
    to_delete: list[str] = []
    for held in await ebs.volumes_of_instance(cloud, instance_id):
        volume_id = str(held["VolumeId"])
        await ebs.mark_detached(cloud, volume_id, instance_id=instance_id)
        if held["DeleteOnTermination"]:  # a Multi-Attach volume: once its last one goes
            async with cloud.sessions() as session, session.begin():
                await session.execute(update(Volume).where(
                    Volume.volume_id == volume_id,
                    Volume.state.in_((VOLUME_AVAILABLE, VOLUME_ERROR, VOLUME_CREATING)),
                    Volume.instance_id.is_(None)).values(state=VOLUME_DELETING))
            to_delete.append(volume_id)
    wake_storage(cloud, to_delete)


# -- DescribeInstances --------------------------------------------------------------------

async def block_device_mappings(cloud: Cloud, instance_ids: list[str]
                                ) -> dict[str, list[dict[str, Any]]]:
    """instance id -> its BlockDeviceMappings (one query)."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not instance_ids:
        return out
    async with cloud.sessions() as session:
        query = select(Volume.instance_id, Volume.volume_id, Volume.device, Volume.attach_state,
                       Volume.attach_time, Volume.delete_on_termination).where(
            Volume.instance_id.is_not(None))
        if len(instance_ids) <= 500:
            query = query.where(Volume.instance_id.in_(instance_ids))
        rows = list((await session.execute(query.order_by(Volume.device))).all())
        multi = select(VolumeAttachment.instance_id, VolumeAttachment.volume_id,
                       VolumeAttachment.device, VolumeAttachment.attach_state,
                       VolumeAttachment.attach_time, VolumeAttachment.delete_on_termination)
        if len(instance_ids) <= 500:
            multi = multi.where(VolumeAttachment.instance_id.in_(instance_ids))
        rows += list((await session.execute(multi)).all())
    rows.sort(key=lambda r: str(r[2] or ""))
    for iid, vid, device, state, when, dot in rows:
        attached: datetime | None = when
        out.setdefault(str(iid), []).append({"DeviceName": device or "", "Ebs": {
            "VolumeId": vid, "Status": state or "attached", "AttachTime": attached,
            "DeleteOnTermination": bool(dot)}})
    return out


async def fill_block_devices(cloud: Cloud, reservations: list[dict[str, Any]]) -> None:
    ids_ = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    mappings = await block_device_mappings(cloud, ids_)
    for res in reservations:
        for item in res["Instances"]:
            item["BlockDeviceMappings"] = mappings.get(item["InstanceId"], [])


# -- CreateImage --------------------------------------------------------------------------

class InstanceImagesProvider(Provider):
    """CreateImage from an EBS-backed instance: a snapshot of the root volume (through
    EBS's CreateSnapshot) and a new emi whose root mapping names it."""

    service = "ec2"

    @operation("CreateImage")
    async def create_image(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        iid = str(params.get("InstanceId") or "")
        name = params.get("Name")
        if not name:
            raise AwsError("The request must contain the parameter name", code="MissingParameter")
        resources.INSTANCE.check(iid)
        async with self.cloud.sessions() as session:
            row = await session.get(Instance, iid)
            if row is None or row.account_id != account or row.region != ctx.region:
                raise AwsError(f"The instance ID '{iid}' does not exist",
                               code="InvalidInstanceID.NotFound")
            if row.root_device_type != "ebs":
                raise AwsError(f"The instance '{iid}' is not EBS-backed; bundle it instead.",
                               code="InvalidParameterValue")
            if row.state not in ("running", "stopped"):
                raise AwsError(f"The instance '{iid}' is not in a state from which an image "
                               "can be created.", code="IncorrectInstanceState")
            root = (await session.execute(select(Volume).where(
                Volume.instance_id == iid, Volume.boot.is_(True)))).scalar_one_or_none()
            if root is None or root.state != VOLUME_IN_USE:
                raise AwsError(f"The root volume of '{iid}' is not ready.",
                               code="IncorrectInstanceState")
        snapshot = self.cloud.handler("ec2", "CreateSnapshot")
        if snapshot is None:
            raise AwsError("This cloud runs no EBS snapshots.", code="UnsupportedOperation")
        snap = await snapshot(ctx, {"VolumeId": root.volume_id,
                                    "Description": f"Created by CreateImage({iid}) for {name}"})
        mapping = {"DeviceName": row.root_device_name, "Ebs": {
            "SnapshotId": snap["SnapshotId"], "VolumeSize": root.size_gib,
            "DeleteOnTermination": True, "VolumeType": root.volume_type}}
        async with self.cloud.sessions() as session, session.begin():
            image = await images.register(
                session, account, ctx.region, name=str(name), kind="machine",
                description=str(params.get("Description") or ""), kernel_id=row.kernel_id,
                ramdisk_id=row.ramdisk_id, root_device_type="ebs",
                root_device_name=row.root_device_name, block_device_mappings=[mapping],
                virtualization_type="paravirtual" if row.kernel_id else "hvm")
        return {"ImageId": image.image_id}
