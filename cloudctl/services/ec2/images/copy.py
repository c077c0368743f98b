"""CopyImage within the cloud's region, and the pending -> available step of a copy.

The caller copies an image they may launch (their own, shared with them or public)
into their account: a new image id with its own Name/Description, the kernel,
ramdisk, architecture and root device of the source. An EBS-backed image's
snapshots are copied through the EBS snapshot-copy path (`copy_snapshot_row`,
the one CopySnapshot uses) and the copy's block device mappings name the new
snapshots; an instance-store (bundle or file) image is registered again over the
same artifacts, which are never modified in place. The copy is `pending` until its
snapshots complete (`failed` if one fails); `settle` moves it on, called by
DescribeImages and RunInstances' image lookup.

`SourceRegion` must be the cloud's region (InvalidParameterValue, as CopySnapshot
answers). `ClientToken` makes the call idempotent per account (the same token
with another source or name is IdempotentParameterMismatch). `Encrypted` and
`KmsKeyId` give encrypted snapshot copies for EBS images, as CopySnapshot does;
an instance-store image has no snapshots to encrypt (InvalidParameterCombination).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError, MissingParameter
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.ebs.models import SNAPSHOT_COMPLETED, SNAPSHOT_ERROR, Snapshot
from cloudctl.services.ec2.ebs.snapshots import copy_snapshot_row
from cloudctl.services.ec2.ebs.storage.service import block_storage
from cloudctl.services.ec2.images.images import PREFIX, Image, launchable_image
from cloudctl.services.ec2.shared import tags

PENDING, AVAILABLE, FAILED = "pending", "available", "failed"
_NAME_RE = re.compile(r"^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}\Z")


def _snapshot_ids(image: Image) -> list[str]:
    return [str(m["Ebs"]["SnapshotId"]) for m in image.block_device_mappings
            if (m.get("Ebs") or {}).get("SnapshotId")]


async def settle(session: AsyncSession, images: list[Image]) -> None:
    """Move each `pending` copy to `available` once all its snapshots completed
    (`failed` when one failed). Runs inside the caller's transaction."""
    pending = [i for i in images if i.state == PENDING and i.source_image_id]
    wanted = {s for i in pending for s in _snapshot_ids(i)}
    states: dict[str, str] = {}
    if wanted:
        rows = await session.execute(select(Snapshot.snapshot_id, Snapshot.state).where(
            Snapshot.snapshot_id.in_(wanted)))
        states = {sid: state for sid, state in rows.all()}
    for image in pending:
        mine = [states.get(s, SNAPSHOT_ERROR) for s in _snapshot_ids(image)]
        if any(s == SNAPSHOT_ERROR for s in mine):
            image.state = FAILED
        elif all(s == SNAPSHOT_COMPLETED for s in mine):
            image.state = AVAILABLE


async def settle_region(session: AsyncSession, region: str) -> None:
    """`settle` every pending copy of `region`."""
    rows = (await session.execute(select(Image).where(
        Image.region == region, Image.state == PENDING))).scalars().all()
    await settle(session, list(rows))


class ImageCopyProvider(Provider):
    service = "ec2"

    @operation("CopyImage")
    async def copy_image(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        for required in ("SourceImageId", "SourceRegion", "Name"):
            if not params.get(required):
                raise MissingParameter(f"The request must contain the parameter {required}")
        region = str(params["SourceRegion"])
        if region != ctx.region:
            raise AwsError(f"Copying images from region '{region}' is not supported; only "
                           f"within {ctx.region}.", code="InvalidParameterValue")
        name = str(params["Name"])
        if not _NAME_RE.match(name):
            raise AwsError(f"AMI names must be between 3 and 128 characters long, and may "
                           f"contain letters, numbers, '(', ')', '.', '-', '/' and '_': "
                           f"{name[:140]}", code="InvalidAMIName.Malformed")
        source_id = str(params["SourceImageId"])
        token = str(params.get("ClientToken") or "") or None
        encrypted = bool(params.get("Encrypted"))
        if params.get("KmsKeyId") and not encrypted:
            raise AwsError("KmsKeyId requires Encrypted to be true.",
                           code="InvalidParameterDependency")
        new_snapshots: list[str] = []
        async with self.cloud.sessions() as session, session.begin():
            source = await launchable_image(session, account, ctx.region, source_id)
            if token:
                done = (await session.execute(select(Image).where(
                    Image.account_id == account, Image.client_token == token))).scalar()
                if done is not None:
                    if done.source_image_id != source.image_id or done.name != name:
                        raise AwsError("The client token was already used with different "
                                       "parameters.", code="IdempotentParameterMismatch")
                    return {"ImageId": done.image_id}
            if encrypted and source.root_device_type != "ebs":
                raise AwsError("Encrypted copies are for EBS-backed images; "
                               f"{source.image_id} is instance-store backed.",
                               code="InvalidParameterCombination")
            image_id = ids.resource_id(PREFIX[source.kind])
            mappings: list[dict[str, Any]] = []
            for mapping in source.block_device_mappings:
                ebs = dict(mapping.get("Ebs") or {})
                if ebs.get("SnapshotId"):
                    src = await session.get(Snapshot, str(ebs["SnapshotId"]))
                    if src is None:
                        raise AwsError(f"The snapshot '{ebs['SnapshotId']}' of image "
                                       f"{source.image_id} does not exist.",
                                       code="InvalidSnapshot.NotFound")
                    snap = await copy_snapshot_row(
                        self.cloud, session, account, ctx.region, src,
                        description=(f"Copied for DestinationAmi {image_id} from SourceAmi "
                                     f"{source.image_id} for SourceSnapshot {src.snapshot_id}"),
                        encrypted=encrypted, kms_key_id=params.get("KmsKeyId"))
                    new_snapshots.append(snap.snapshot_id)
                    ebs["SnapshotId"] = snap.snapshot_id
                    if snap.encrypted:
                        ebs["Encrypted"] = True
                    mapping = {**mapping, "Ebs": ebs}
                mappings.append(mapping)
            session.add(Image(
                image_id=image_id, account_id=account, region=ctx.region, name=name,
                description=str(params.get("Description") or ""), kind=source.kind,
                location=source.location, state=PENDING, architecture=source.architecture,
                kernel_id=source.kernel_id, ramdisk_id=source.ramdisk_id,
                root_device_type=source.root_device_type,
                root_device_name=source.root_device_name,
                virtualization_type=source.virtualization_type,
                block_device_mappings=mappings, public=False, sha256=source.sha256,
                created_at=utcnow(), source_image_id=source.image_id, client_token=token))
            await session.flush()
            if params.get("CopyImageTags") and source.account_id == account:
                found = await tags.tags_for(session, account, ctx.region, [source.image_id])
                specs = [{"ResourceType": "image", "Tags": found.get(source.image_id, [])}]
                await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                    "image", [image_id], specs)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "image", [image_id],
                                                params.get("TagSpecifications"))
        storage = block_storage(self.cloud)
        for snapshot_id in new_snapshots:
            storage.wake(snapshot_id)
        return {"ImageId": image_id}


__all__ = ["ImageCopyProvider", "settle", "settle_region"]
