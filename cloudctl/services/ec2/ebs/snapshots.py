"""EC2 EBS snapshots: create (one volume, or an instance's volumes), copy, delete,
describe, and the createVolumePermission attribute (sharing with accounts or all).

Calls record intent (a ``pending`` or ``deleting`` row) and wake the block
reconciler, which takes the snapshot in the backend and reports progress into the
row. Visibility: a caller sees its own snapshots and those it may restore.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError, MissingParameter
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.ebs import tags as ebs_tags
from cloudctl.services.ec2.ebs.attachments import snapshot_used_by
from cloudctl.services.ec2.ebs.common import (
    ACCOUNT_RE,
    GROUP_ALL,
    check_ids_with_max_results,
    check_snapshot_id,
    grants,
    own_snapshot,
    own_volume,
    snapshot_not_found,
    snapshot_shape,
    visible_snapshot,
)
from cloudctl.services.ec2.ebs.models import (
    SNAPSHOT_COMPLETED,
    SNAPSHOT_DELETING,
    SNAPSHOT_PENDING,
    VOLUME_AVAILABLE,
    VOLUME_IN_USE,
    Snapshot,
    SnapshotPermission,
    Volume,
    VolumeAttachment,
)
from cloudctl.services.ec2.ebs.storage import properties as props
from cloudctl.services.ec2.ebs.storage.service import block_storage
from cloudctl.services.ec2.shared import resources
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.paging import paginate

COPY_VOLUME_ID = "vol-ffffffff"  # what EC2 reports as the volume of a copied snapshot


async def check_quota(cloud: Any, session: AsyncSession, account: str, region: str,
                      size: int) -> None:
    """SnapshotLimitExceeded when one more snapshot of `size` GiB is over a limit."""
    per_account = int(cloud.properties.get(props.MAX_SNAPSHOTS_PER_ACCOUNT))
    if per_account:
        count = (await session.execute(select(func.count()).select_from(Snapshot).where(
            Snapshot.account_id == account, Snapshot.region == region,
            Snapshot.state != SNAPSHOT_DELETING))).scalar() or 0
        if count + 1 > per_account:
            raise AwsError(f"The maximum number of snapshots ({per_account}) has been "
                           "reached.", code="SnapshotLimitExceeded")
    total = int(cloud.properties.get(props.SNAPSHOT_TOTAL_LIMIT))
    if total:
        used = (await session.execute(select(func.coalesce(func.sum(
            Snapshot.volume_size), 0)).where(Snapshot.state != SNAPSHOT_DELETING))).scalar()
        if int(used or 0) + size > total:
            raise AwsError(f"Snapshots would exceed the cloud's total of {total} GiB "
                           "(storage.global_total_snapshot_size_limit_gb).",
                           code="SnapshotLimitExceeded")


async def copy_snapshot_row(cloud: Any, session: AsyncSession, account: str, region: str,
                            src: Snapshot, *, description: str, encrypted: bool,
                            kms_key_id: str | None) -> Snapshot:
    """Record a `pending` copy of the completed snapshot `src` for `account` (CopySnapshot,
    CopyImage). The caller wakes the block reconciler (`block_storage(cloud).wake`) after
    commit; an encrypted source gives an encrypted copy."""
    if src.state != SNAPSHOT_COMPLETED:
        raise AwsError(f"Snapshot {src.snapshot_id} is not in the 'completed' state.",
                       code="IncorrectState")
    await check_quota(cloud, session, account, region, src.volume_size)
    encrypted = src.encrypted or encrypted
    snap = Snapshot(
        snapshot_id=ids.resource_id("snap"), account_id=account, region=region,
        zone=src.zone, backend=src.backend, volume_id=COPY_VOLUME_ID,
        source_snapshot_id=src.snapshot_id, volume_size=src.volume_size,
        state=SNAPSHOT_PENDING, progress=0, encrypted=encrypted,
        kms_key_id=kms_key_id or src.kms_key_id if encrypted else None,
        description=description, started_at=utcnow())
    session.add(snap)
    await session.flush()
    return snap


class SnapshotsProvider(Provider):
    service = "ec2"

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud)
        self.storage = block_storage(cloud)

    async def start(self) -> None:
        await self.storage.start()

    async def _check_quota(self, session: AsyncSession, account: str, region: str,
                           size: int) -> None:
        await check_quota(self.cloud, session, account, region, size)

    async def _snapshot_volume(self, session: AsyncSession, ctx: RequestContext, vol: Volume,
                               description: str, specs: list[dict[str, Any]] | None,
                               copy_tags: bool = False) -> tuple[Snapshot, list[dict[str, str]]]:
        if vol.state not in (VOLUME_AVAILABLE, VOLUME_IN_USE):
            raise AwsError(f"Volume {vol.volume_id} is in state '{vol.state}'.",
                           code="IncorrectState")
        await self._check_quota(session, vol.account_id, ctx.region, vol.size_gib)
        snap = Snapshot(snapshot_id=ids.resource_id("snap"), account_id=vol.account_id,
                        region=ctx.region, zone=vol.zone, backend=vol.backend,
                        volume_id=vol.volume_id, volume_size=vol.size_gib,
                        state=SNAPSHOT_PENDING, progress=0, description=description,
                        encrypted=vol.encrypted, kms_key_id=vol.kms_key_id,
                        started_at=utcnow())
        session.add(snap)
        await session.flush()
        if copy_tags:
            source = await ebs_tags.tags_for(session, vol.account_id, ctx.region, [vol.volume_id])
            specs = [{"ResourceType": "snapshot", "Tags": source.get(vol.volume_id, [])},
                     *(specs or [])]
        await ebs_tags.apply_specs(self.cloud, session, vol.account_id, ctx.region, "snapshot",
                                   snap.snapshot_id, specs)
        tags = await ebs_tags.tags_for(session, vol.account_id, ctx.region, [snap.snapshot_id])
        return snap, tags.get(snap.snapshot_id, [])

    @operation("CreateSnapshot")
    async def create_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        ebs_tags.check_specs(params.get("TagSpecifications"), "snapshot")
        async with self.cloud.sessions() as session, session.begin():
            vol = await own_volume(session, account, ctx.region, str(params.get("VolumeId")))
            snap, tags = await self._snapshot_volume(
                session, ctx, vol, str(params.get("Description") or ""),
                params.get("TagSpecifications"))
        self.storage.wake(snap.snapshot_id)
        return snapshot_shape(snap, tags)

    @operation("CreateSnapshots")
    async def create_snapshots(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        spec = params.get("InstanceSpecification") or {}
        instance_id = spec.get("InstanceId")
        if not instance_id:
            raise MissingParameter("The request must contain the parameter "
                                   "InstanceSpecification.InstanceId")
        resources.INSTANCE.check(instance_id)
        ebs_tags.check_specs(params.get("TagSpecifications"), "snapshot")
        excluded = set(spec.get("ExcludeDataVolumeIds") or [])
        async with self.cloud.sessions() as session, session.begin():
            shared = select(VolumeAttachment.volume_id).where(
                VolumeAttachment.instance_id == instance_id).scalar_subquery()
            vols = list((await session.execute(select(Volume).where(
                Volume.account_id == account, Volume.region == ctx.region,
                or_(Volume.instance_id == instance_id, Volume.volume_id.in_(shared))).order_by(
                Volume.device, Volume.volume_id))).scalars())
            if not vols:
                raise AwsError(f"The instance ID '{instance_id}' does not exist",
                               code="InvalidInstanceID.NotFound")
            made = []
            for vol in vols:
                if vol.volume_id in excluded or (vol.boot and spec.get("ExcludeBootVolume")):
                    continue
                snap, tags = await self._snapshot_volume(
                    session, ctx, vol, str(params.get("Description") or ""),
                    params.get("TagSpecifications"),
                    copy_tags=params.get("CopyTagsFromSource") == "volume")
                made.append((snap, tags))
        infos = []
        for snap, tags in made:
            self.storage.wake(snap.snapshot_id)
            shape = snapshot_shape(snap, tags)
            infos.append({k: shape[k] for k in (
                "SnapshotId", "VolumeId", "State", "StartTime", "Progress", "OwnerId",
                "Description", "VolumeSize", "Encrypted", "Tags")})
        return {"Snapshots": infos}

    @operation("DeleteSnapshot")
    async def delete_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        snapshot_id = check_snapshot_id(params.get("SnapshotId"))
        async with self.cloud.sessions() as session, session.begin():
            snap = await own_snapshot(session, account, ctx.region, snapshot_id)
            user = await snapshot_used_by(session, snapshot_id)
            if user:
                raise AwsError(f"The snapshot {snapshot_id} is currently in use by {user}",
                               code="InvalidSnapshot.InUse")
            snap.state = SNAPSHOT_DELETING
        self.storage.wake(snapshot_id)
        return {}

    @operation("DescribeSnapshots")
    async def describe_snapshots(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        snapshot_ids = [check_snapshot_id(s) for s in params.get("SnapshotIds") or []]
        check_ids_with_max_results(snapshot_ids, params, "snapshotIds")

        def who(value: str) -> str:
            return account if value == "self" else value

        owners = {who(o) for o in params.get("OwnerIds") or []}
        restorers = {who(r) for r in params.get("RestorableByUserIds") or []}
        async with self.cloud.sessions() as session:
            shared = select(SnapshotPermission.snapshot_id)
            query = select(Snapshot).where(
                Snapshot.region == ctx.region, Snapshot.state != SNAPSHOT_DELETING,
                (Snapshot.account_id == account) | Snapshot.snapshot_id.in_(shared))
            if snapshot_ids:
                query = query.where(Snapshot.snapshot_id.in_(snapshot_ids))
            rows = list((await session.execute(query.order_by(Snapshot.snapshot_id))).scalars())
            granted = await grants(session, [s.snapshot_id for s in rows if
                                             s.account_id != account or restorers])
            tags = await ebs_tags.tags_for(session, account, ctx.region,
                                           [s.snapshot_id for s in rows])

        def can_restore(snap: Snapshot, user: str) -> bool:
            who_may = granted.get(snap.snapshot_id, set())
            return snap.account_id == user or user in who_may or GROUP_ALL in who_may

        snaps = [s for s in rows if can_restore(s, account)]
        found = {s.snapshot_id for s in snaps}
        for snapshot_id in snapshot_ids:
            if snapshot_id not in found:
                raise snapshot_not_found(snapshot_id)
        if owners:
            snaps = [s for s in snaps if s.account_id in owners]
        if restorers:
            snaps = [s for s in snaps if any(can_restore(s, u) for u in restorers)]
        snaps = apply_filters(snaps, params.get("Filters"), {
            "snapshot-id": lambda s: [s.snapshot_id],
            "status": lambda s: [s.state],
            "progress": lambda s: [f"{s.progress}%"],
            "volume-id": lambda s: [s.volume_id],
            "volume-size": lambda s: [str(s.volume_size)],
            "owner-id": lambda s: [s.account_id],
            "owner-alias": lambda s: [],
            "description": lambda s: [s.description],
            "encrypted": lambda s: [str(s.encrypted).lower()],
            "storage-tier": lambda s: ["standard"],
            "start-time": lambda s: [s.started_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")],
            **ebs_tags.extractors(lambda s: tags.get(s.snapshot_id, [])),
        })
        page, token = paginate("DescribeSnapshots", params, snaps, lambda s: s.snapshot_id)
        result: Result = {"Snapshots": [snapshot_shape(s, tags.get(s.snapshot_id, []))
                                        for s in page]}
        if token:
            result["NextToken"] = token
        return result

    @operation("CopySnapshot")
    async def copy_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        source_region = params.get("SourceRegion")
        if not source_region:
            raise MissingParameter("The request must contain the parameter SourceRegion")
        for region in (source_region, params.get("DestinationRegion")):
            if region and region != ctx.region:
                raise AwsError(f"Copying snapshots from or to region '{region}' is not "
                               f"supported; only within {ctx.region}.",
                               code="InvalidParameterValue")
        ebs_tags.check_specs(params.get("TagSpecifications"), "snapshot")
        source_id = check_snapshot_id(params.get("SourceSnapshotId"))
        async with self.cloud.sessions() as session, session.begin():
            src = await visible_snapshot(session, account, ctx.region, source_id)
            snap = await copy_snapshot_row(
                self.cloud, session, account, ctx.region, src,
                description=str(params.get("Description")
                                or f"[Copied {source_id} from {source_region}]"),
                encrypted=bool(params.get("Encrypted")), kms_key_id=params.get("KmsKeyId"))
            await ebs_tags.apply_specs(self.cloud, session, account, ctx.region, "snapshot",
                                       snap.snapshot_id, params.get("TagSpecifications"))
            tags = await ebs_tags.tags_for(session, account, ctx.region, [snap.snapshot_id])
        self.storage.wake(snap.snapshot_id)
        return {"SnapshotId": snap.snapshot_id, "Tags": tags.get(snap.snapshot_id, [])}

    @operation("ModifySnapshotAttribute")
    async def modify_snapshot_attribute(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        attribute = params.get("Attribute") or "createVolumePermission"
        if attribute != "createVolumePermission":
            raise AwsError(f"Value ({attribute}) for parameter attribute is invalid; only "
                           "createVolumePermission can be modified.",
                           code="InvalidParameterValue")
        add, remove = _permission_changes(params)
        if not add and not remove:
            raise MissingParameter("The request must contain createVolumePermission changes")
        snapshot_id = check_snapshot_id(params.get("SnapshotId"))
        async with self.cloud.sessions() as session, session.begin():
            snap = await own_snapshot(session, account, ctx.region, snapshot_id)
            if GROUP_ALL in add and snap.encrypted:
                raise AwsError("Encrypted snapshots cannot be made public.",
                               code="InvalidParameterValue")
            current = (await grants(session, [snapshot_id])).get(snapshot_id, set())
            for grantee in add - current - {account}:
                session.add(SnapshotPermission(snapshot_id=snapshot_id, grantee=grantee))
            if remove:
                await session.execute(delete(SnapshotPermission).where(
                    SnapshotPermission.snapshot_id == snapshot_id,
                    SnapshotPermission.grantee.in_(remove)))
        return {}

    @operation("DescribeSnapshotAttribute")
    async def describe_snapshot_attribute(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        attribute = params.get("Attribute")
        if attribute not in ("createVolumePermission", "productCodes"):
            raise AwsError(f"Value ({attribute}) for parameter attribute is invalid.",
                           code="InvalidParameterValue")
        snapshot_id = check_snapshot_id(params.get("SnapshotId"))
        async with self.cloud.sessions() as session:
            await own_snapshot(session, account, ctx.region, snapshot_id)
            current = (await grants(session, [snapshot_id])).get(snapshot_id, set())
        if attribute == "productCodes":
            return {"SnapshotId": snapshot_id, "ProductCodes": []}
        perms = [{"Group": GROUP_ALL} if g == GROUP_ALL else {"UserId": g}
                 for g in sorted(current)]
        return {"SnapshotId": snapshot_id, "CreateVolumePermissions": perms}

    @operation("ResetSnapshotAttribute")
    async def reset_snapshot_attribute(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        if params.get("Attribute") != "createVolumePermission":
            raise AwsError(f"Value ({params.get('Attribute')}) for parameter attribute is "
                           "invalid; only createVolumePermission can be reset.",
                           code="InvalidParameterValue")
        snapshot_id = check_snapshot_id(params.get("SnapshotId"))
        async with self.cloud.sessions() as session, session.begin():
            await own_snapshot(session, account, ctx.region, snapshot_id)
            await session.execute(delete(SnapshotPermission).where(
                SnapshotPermission.snapshot_id == snapshot_id))
        return {}


def _grantee(user_id: Any = None, group: Any = None) -> str:
    if group is not None:
        if group != GROUP_ALL:
            raise AwsError(f"Value ({group}) for parameter group is invalid; only 'all'.",
                           code="InvalidParameterValue")
        return GROUP_ALL
    text = str(user_id or "")
    if not ACCOUNT_RE.match(text):
        raise AwsError(f"User ID '{text}' is not a valid account id.",
                       code="InvalidUserID.Malformed")
    return text


def _permission_changes(params: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(grantees to add, grantees to remove) from either form of the request."""
    add: set[str] = set()
    remove: set[str] = set()
    structured = params.get("CreateVolumePermission") or {}
    for item in structured.get("Add") or []:
        add.add(_grantee(item.get("UserId"), item.get("Group")))
    for item in structured.get("Remove") or []:
        remove.add(_grantee(item.get("UserId"), item.get("Group")))
    operation_type = params.get("OperationType")
    flat = {_grantee(user_id=u) for u in params.get("UserIds") or []}
    flat |= {_grantee(group=g) for g in params.get("GroupNames") or []}
    if flat:
        if operation_type not in ("add", "remove"):
            raise MissingParameter("The request must contain the parameter operationType")
        (add if operation_type == "add" else remove).update(flat)
    return add, remove
