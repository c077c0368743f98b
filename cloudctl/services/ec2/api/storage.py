"""EC2's public API: volumes, their attachments and snapshots.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import Tags, ec2_call, not_found, tag_specs

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def create_volume(cloud: Cloud, caller: Caller, *, zone: str, size: int | None,
                        snapshot_id: str | None = None, volume_type: str | None = None,
                        iops: int | None = None, token: str | None = None,
                        tags: Tags | None = None) -> str:
    params: dict[str, Any] = {"AvailabilityZone": zone,
                              "TagSpecifications": tag_specs("volume", tags or [])}
    for key, value in (("Size", size), ("SnapshotId", snapshot_id),
                       ("VolumeType", volume_type), ("Iops", iops), ("ClientToken", token)):
        if value is not None:
            params[key] = value
    return str((await ec2_call(cloud, caller, "CreateVolume", params))["VolumeId"])


async def volume(cloud: Cloud, caller: Caller, volume_id: str) -> dict[str, Any] | None:
    try:
        found = await ec2_call(cloud, caller, "DescribeVolumes", {"VolumeIds": [volume_id]})
    except AwsError as error:
        if not_found(error):
            return None
        raise
    volumes = found.get("Volumes") or []
    return dict(volumes[0]) if volumes else None


async def delete_volume(cloud: Cloud, caller: Caller, volume_id: str) -> None:
    try:
        await ec2_call(cloud, caller, "DeleteVolume", {"VolumeId": volume_id})
    except AwsError as error:
        if not not_found(error):
            raise


async def attach_volume(cloud: Cloud, caller: Caller, volume_id: str, instance_id: str,
                        device: str) -> None:
    await ec2_call(cloud, caller, "AttachVolume", {"VolumeId": volume_id,
                                               "InstanceId": instance_id, "Device": device})


async def detach_volume(cloud: Cloud, caller: Caller, volume_id: str,
                        instance_id: str) -> None:
    try:
        await ec2_call(cloud, caller, "DetachVolume", {"VolumeId": volume_id,
                                                   "InstanceId": instance_id})
    except AwsError as error:
        if not (not_found(error) or error.code == "IncorrectState"):
            raise


async def create_snapshot(cloud: Cloud, caller: Caller, volume_id: str,
                          description: str) -> str:
    found = await ec2_call(cloud, caller, "CreateSnapshot", {"VolumeId": volume_id,
                                                         "Description": description})
    return str(found["SnapshotId"])
