"""Shared pieces of the EBS providers: id checks, API shapes, visibility.

Owns how a volume, snapshot or modification row is shown to a caller and which
snapshots a caller may see or restore. Must not: write rows.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services.ec2.ebs.models import (
    SNAPSHOT_DELETING,
    VOLUME_DELETING,
    Snapshot,
    SnapshotPermission,
    Volume,
)
from cloudctl.services.ec2.shared.resources import SNAPSHOT, VOLUME

ACCOUNT_RE = re.compile(r"^\d{12}\Z")
GROUP_ALL = "all"


def check_volume_id(value: Any) -> str:
    return VOLUME.check(value)


def check_snapshot_id(value: Any) -> str:
    return SNAPSHOT.check(value)


def volume_not_found(volume_id: str) -> AwsError:
    return AwsError(f"The volume '{volume_id}' does not exist.", code="InvalidVolume.NotFound")


def snapshot_not_found(snapshot_id: str) -> AwsError:
    return AwsError(f"The snapshot '{snapshot_id}' does not exist.",
                    code="InvalidSnapshot.NotFound")


def check_ids_with_max_results(ids: list[Any], params: dict[str, Any], what: str) -> None:
    if ids and params.get("MaxResults") is not None:
        raise AwsError(f"The parameter {what} cannot be used with the parameter maxResults",
                       code="InvalidParameterCombination")


# -- shapes --------------------------------------------------------------------

def volume_shape(vol: Volume, tags: list[dict[str, str]],
                 multi: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Volume; ``multi``: a Multi-Attach volume's attachments (its rows hold none)."""
    out: dict[str, Any] = {
        "VolumeId": vol.volume_id, "Size": vol.size_gib, "AvailabilityZone": vol.zone,
        "State": vol.state if vol.state != "error" else "error",
        "CreateTime": vol.created_at, "VolumeType": vol.volume_type,
        "Encrypted": vol.encrypted, "MultiAttachEnabled": vol.multi_attach,
        "Attachments": list(multi or []),
        "SnapshotId": vol.snapshot_id or "", "Tags": tags,
    }
    if vol.iops is not None:
        out["Iops"] = vol.iops
    if vol.throughput is not None:
        out["Throughput"] = vol.throughput
    if vol.kms_key_id:
        out["KmsKeyId"] = vol.kms_key_id
    if not vol.multi_attach:
        out["Attachments"] = own_attachment(vol)
    return out


def own_attachment(vol: Volume) -> list[dict[str, Any]]:
    """The attachment a volume without Multi-Attach holds in its own row ([] or one)."""
    if not vol.instance_id:
        return []
    return [{
        "VolumeId": vol.volume_id, "InstanceId": vol.instance_id, "Device": vol.device or "",
        "State": vol.attach_state or "attached", "AttachTime": vol.attach_time,
        "DeleteOnTermination": vol.delete_on_termination,
    }]


def modification_shape(vol: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VolumeId": vol.volume_id, "ModificationState": vol.mod_state,
        "TargetSize": vol.mod_target_size, "OriginalSize": vol.mod_original_size,
        "TargetVolumeType": vol.mod_target_type, "OriginalVolumeType": vol.mod_original_type,
        "Progress": 100 if vol.mod_state in ("completed", "failed") else 0,
        "StartTime": vol.mod_start, "TargetMultiAttachEnabled": vol.multi_attach,
        "OriginalMultiAttachEnabled": vol.multi_attach,
    }
    if vol.mod_target_iops is not None:
        out["TargetIops"] = vol.mod_target_iops
    if vol.mod_original_iops is not None:
        out["OriginalIops"] = vol.mod_original_iops
    if vol.mod_end is not None:
        out["EndTime"] = vol.mod_end
    if vol.mod_message:
        out["StatusMessage"] = vol.mod_message
    return out


def snapshot_shape(snap: Snapshot, tags: list[dict[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SnapshotId": snap.snapshot_id, "VolumeId": snap.volume_id, "State": snap.state,
        "StartTime": snap.started_at, "Progress": f"{snap.progress}%",
        "OwnerId": snap.account_id, "Description": snap.description,
        "VolumeSize": snap.volume_size, "Encrypted": snap.encrypted, "Tags": tags,
        "StorageTier": "standard",
    }
    if snap.status_message:
        out["StateMessage"] = snap.status_message
    if snap.kms_key_id:
        out["KmsKeyId"] = snap.kms_key_id
    if snap.completed_at is not None:
        out["CompletionTime"] = snap.completed_at
    return out


# -- lookups -------------------------------------------------------------------

async def own_volume(session: AsyncSession, account_id: str, region: str,
                     volume_id: str, *, for_update: bool = False) -> Volume:
    """The caller's volume (not being deleted) or ``InvalidVolume.NotFound``."""
    query = select(Volume).where(Volume.volume_id == check_volume_id(volume_id),
                                 Volume.account_id == account_id, Volume.region == region)
    if for_update:
        query = query.with_for_update()
    vol = (await session.execute(query)).scalar_one_or_none()
    if vol is None or vol.state == VOLUME_DELETING:
        raise volume_not_found(volume_id)
    return vol


async def visible_snapshot(session: AsyncSession, account_id: str, region: str,
                           snapshot_id: str) -> Snapshot:
    """A snapshot the caller owns or may restore, else ``InvalidSnapshot.NotFound``."""
    snap = await session.get(Snapshot, check_snapshot_id(snapshot_id))
    if snap is None or snap.region != region or snap.state == SNAPSHOT_DELETING:
        raise snapshot_not_found(snapshot_id)
    if snap.account_id != account_id and not await may_restore(session, account_id, snapshot_id):
        raise snapshot_not_found(snapshot_id)
    return snap


async def own_snapshot(session: AsyncSession, account_id: str, region: str,
                       snapshot_id: str) -> Snapshot:
    snap = await session.get(Snapshot, check_snapshot_id(snapshot_id))
    if (snap is None or snap.region != region or snap.account_id != account_id
            or snap.state == SNAPSHOT_DELETING):
        raise snapshot_not_found(snapshot_id)
    return snap


async def may_restore(session: AsyncSession, account_id: str, snapshot_id: str) -> bool:
    row = (await session.execute(select(SnapshotPermission.grantee).where(
        SnapshotPermission.snapshot_id == snapshot_id,
        or_(SnapshotPermission.grantee == account_id,
            SnapshotPermission.grantee == GROUP_ALL)))).first()
    return row is not None


async def grants(session: AsyncSession, snapshot_ids: list[str]) -> dict[str, set[str]]:
    """``snapshot id -> {grantee}`` for the given snapshots."""
    out: dict[str, set[str]] = {}
    if not snapshot_ids:
        return out
    rows = await session.execute(select(SnapshotPermission).where(
        SnapshotPermission.snapshot_id.in_(snapshot_ids)))
    for perm in rows.scalars():
        out.setdefault(perm.snapshot_id, set()).add(perm.grantee)
    return out
