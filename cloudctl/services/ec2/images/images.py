"""EC2 images: kernel (eki), ramdisk (eri) and machine (emi) images and their API.

Owns ``ec2_images`` and ``ec2_image_launch_permissions``. An image's bits live
elsewhere: a bundle manifest in S3 (``bucket/prefix.manifest.xml``, fetched and
decrypted by the node), a ``file://`` path on the all-in-one host (cloud admin
only; the demo image), or an EBS snapshot (BlockDeviceMappings; every snapshot named
must be the caller's or shared with them). An absolute path is taken as ``file://``
(the AWS CLI would read a ``file://`` argument itself). ``ami-``/``aki-``/
``ari-`` ids are accepted for ``emi-``/``eki-``/``eri-``. ``launchable_image`` is the
public lookup RunInstances uses; ``image_artifact`` turns an image into the
node's ``Artifact``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2.shared import resources, tags
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.paging import paginate
from nodectl.client import Artifact, ArtifactKind

ALIASES = {"ami": "emi", "aki": "eki", "ari": "eri"}
PREFIX = {"machine": "emi", "kernel": "eki", "ramdisk": "eri"}
# The images of the cloud administrator's account are the cloud's own, as Amazon's are
# on AWS: their ImageOwnerAlias is "amazon" (what Packer, Terraform and Ansible filter
# on), and the owner-alias filter and Owners also take the Eucalyptus name "eucalyptus".
SYSTEM_ALIASES = ["amazon", "eucalyptus"]
_OWNER_WORDS = {"self", "amazon", "eucalyptus", "aws-marketplace", "aws-backup-vault",
                "verbose"}


class Image(RegionalMixin, Base):
    __tablename__ = "ec2_images"

    image_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(16))  # machine | kernel | ramdisk
    location: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="available")
    architecture: Mapped[str] = mapped_column(String(16), default="x86_64")
    kernel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ramdisk_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    root_device_type: Mapped[str] = mapped_column(String(16), default="instance-store")
    root_device_name: Mapped[str] = mapped_column(String(32), default="/dev/sda1")
    virtualization_type: Mapped[str] = mapped_column(String(16), default="paravirtual")
    block_device_mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    source_image_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # CopyImage
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class LaunchPermission(Base):
    __tablename__ = "ec2_image_launch_permissions"

    image_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grantee: Mapped[str] = mapped_column(String(16), primary_key=True)  # account id


def normalize_id(image_id: str) -> str:
    """The stored id of ``image_id`` (``ami-x`` is ``emi-x``); InvalidAMIID.Malformed
    unless it is a prefix and 8 or 17 lower-case hex digits (``resources.IMAGE``)."""
    resources.IMAGE.check(image_id)
    prefix, rest = image_id.split("-", 1)
    return f"{ALIASES.get(prefix, prefix)}-{rest}"


def sniff_kind(path: str) -> str:
    """kernel (a bzImage: 'HdrS' at 0x202), ramdisk (gzip/cpio/xz/zstd) or machine."""
    with open(path, "rb") as f:
        head = f.read(0x210)
    if head[0x202:0x206] == b"HdrS":
        return "kernel"
    if head[:2] == b"\x1f\x8b" or head[:6] in (b"070701", b"070702") or head[:4] in (
            b"\xfd7zX", b"(\xb5/\xfd"):
        return "ramdisk"
    return "machine"


def kind_from_manifest_location(location: str) -> str:
    name = location.rsplit("/", 1)[-1].lower()
    if any(word in name for word in ("vmlinuz", "kernel", "eki")):
        return "kernel"
    if any(word in name for word in ("initrd", "initramfs", "ramdisk", "eri")):
        return "ramdisk"
    return "machine"


def image_artifact(image: Image) -> Artifact:
    kind: ArtifactKind = "machine" if image.kind == "machine" else (
        "kernel" if image.kind == "kernel" else "ramdisk")
    if image.location.startswith("file://"):
        return Artifact(image.image_id, kind, url=image.location, sha256=image.sha256)
    return Artifact(image.image_id, kind, bundle_manifest_url=image.location)


async def _granted(session: AsyncSession, image_ids: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    if image_ids:
        rows = await session.execute(select(LaunchPermission).where(
            LaunchPermission.image_id.in_(image_ids)))
        for row in rows.scalars():
            out.setdefault(row.image_id, set()).add(row.grantee)
    return out


def _can_launch(image: Image, account: str, grants: dict[str, set[str]]) -> bool:
    return image.public or image.account_id == account or account in grants.get(image.image_id, ())


async def launchable_image(session: AsyncSession, account: str, region: str,
                           image_id: str) -> Image:
    """The image ``account`` may launch, else ``InvalidAMIID.NotFound``."""
    iid = normalize_id(image_id)
    image = await session.get(Image, iid)
    if image is not None and image.state == "pending":
        from cloudctl.services.ec2.images.copy import settle

        await settle(session, [image])
    if image is None or image.region != region or image.state != "available" or not _can_launch(
            image, account, await _granted(session, [iid])):
        raise AwsError(f"The image id '[{image_id}]' does not exist",
                       code="InvalidAMIID.NotFound")
    return image


async def _exists(session: AsyncSession, account: str, region: str, ids_: list[str]) -> set[str]:
    norm = {i: normalize_id(i) for i in ids_ if resources.IMAGE.matches(i)}
    rows = await session.execute(select(Image.image_id).where(
        Image.region == region, Image.image_id.in_(list(norm.values()))))
    found = {r[0] for r in rows}
    return {i for i, n in norm.items() if n in found}


for _prefix in resources.IMAGE.prefixes:
    tags.register_resource(_prefix, _exists)


async def register(session: AsyncSession, account: str, region: str, *, name: str, kind: str,
                   location: str = "", description: str = "", kernel_id: str | None = None,
                   ramdisk_id: str | None = None, public: bool = False, sha256: str = "",
                   root_device_type: str = "instance-store", root_device_name: str = "/dev/sda1",
                   block_device_mappings: list[dict[str, Any]] | None = None,
                   architecture: str = "x86_64", virtualization_type: str = "paravirtual") -> Image:
    """Record an image (also used by ``cloudctl up`` for the demo image set)."""
    image = Image(image_id=ids.resource_id(PREFIX[kind]), account_id=account, region=region,
                  name=name, description=description, kind=kind, location=location,
                  state="available", architecture=architecture, kernel_id=kernel_id,
                  ramdisk_id=ramdisk_id, root_device_type=root_device_type,
                  root_device_name=root_device_name, virtualization_type=virtualization_type,
                  block_device_mappings=block_device_mappings or [], public=public,
                  sha256=sha256, created_at=utcnow())
    session.add(image)
    return image


async def _check_snapshots(session: AsyncSession, account: str, region: str,
                           mappings: list[dict[str, Any]]) -> None:
    """Every snapshot a mapping names is the caller's or shared with them (as AWS:
    ``InvalidSnapshot.NotFound`` otherwise, never a sign that it exists)."""
    from cloudctl.services.ec2.ebs.common import visible_snapshot

    for mapping in mappings:
        snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
        if snapshot_id:
            await visible_snapshot(session, account, region, str(snapshot_id))


async def system_account(session: AsyncSession) -> str | None:
    """The id of the cloud administrator's account (owner of the system images), if made."""
    from cloudctl.services.iam.api import existing_cloud_admin_account_id

    return await existing_cloud_admin_account_id(session)


def _bdm_out(mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if v is not None} for m in mappings]


class ImagesProvider(Provider):
    service = "ec2"

    async def start(self) -> None:
        if self.cloud.runs_controllers:
            from cloudctl.services.ec2.images import demo as demo_image

            self.cloud.spawn(demo_image.run(self.cloud), "demo-images")

    async def _owned(self, session: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
        iid = normalize_id(image_id)
        image = await session.get(Image, iid)
        account = ctx.require_account()
        if image is None or image.region != ctx.region:
            raise AwsError(f"The image id '[{image_id}]' does not exist",
                           code="InvalidAMIID.NotFound")
        if image.account_id != account and not is_cloud_admin(ctx):
            raise AwsError(f"You do not own the image {image_id}", code="AuthFailure",
                           status=403) if _can_launch(image, account, await _granted(
                               session, [iid])) else AwsError(
                f"The image id '[{image_id}]' does not exist", code="InvalidAMIID.NotFound")
        return image

    @operation("RegisterImage")
    async def register_image(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = params.get("Name")
        if not name:
            raise AwsError("The request must contain the parameter name", code="MissingParameter")
        location = str(params.get("ImageLocation") or "")
        mappings = list(params.get("BlockDeviceMappings") or [])
        root_name = str(params.get("RootDeviceName") or "/dev/sda1")
        root_type, kind, sha = "instance-store", "machine", ""
        if location.startswith("/"):  # a host path (the AWS CLI reads file:// values itself)
            location = "file://" + location
        if location.startswith("file://"):
            if not is_cloud_admin(ctx):
                raise AwsError("file:// image locations are for the cloud administrator",
                               code="InvalidParameterValue")
            path = location[len("file://"):]
            try:
                kind = sniff_kind(path)
            except OSError as exc:
                raise AwsError(f"Cannot read {location}: {exc.strerror}",
                               code="InvalidManifest") from None
        elif location:
            if not location.endswith(".manifest.xml") or "/" not in location.strip("/"):
                raise AwsError("The manifest location must be bucket/prefix.manifest.xml",
                               code="InvalidManifest")
            from cloudctl.services.ec2.images import (
                bundles as image_bundles,  # reads and checks it through S3
            )

            facts = await image_bundles.manifest_facts(self.cloud, ctx, location)
            kind = facts.kind
            if kind == "machine":
                params = {**params, "KernelId": params.get("KernelId") or facts.kernel_id,
                          "RamdiskId": params.get("RamdiskId") or facts.ramdisk_id}
        else:
            root = next((m for m in mappings if m.get("DeviceName") == root_name), None)
            if root is None or not (root.get("Ebs") or {}).get("SnapshotId"):
                raise AwsError("An EBS image needs a block device mapping for the root device "
                               f"{root_name} with a snapshot id", code="InvalidBlockDeviceMapping")
            root_type = "ebs"
        kernel_id = normalize_id(params["KernelId"]) if params.get("KernelId") else None
        ramdisk_id = normalize_id(params["RamdiskId"]) if params.get("RamdiskId") else None
        async with self.cloud.sessions() as session, session.begin():
            for ref in (kernel_id, ramdisk_id):
                if ref:
                    await launchable_image(session, account, ctx.region, ref)
            await _check_snapshots(session, account, ctx.region, mappings)
            image = await register(
                session, account, ctx.region, name=str(name), kind=kind, location=location,
                description=str(params.get("Description") or ""), kernel_id=kernel_id,
                ramdisk_id=ramdisk_id, sha256=sha, root_device_type=root_type,
                root_device_name=root_name, block_device_mappings=mappings,
                architecture=str(params.get("Architecture") or "x86_64"),
                virtualization_type=str(params.get("VirtualizationType") or (
                    "hvm" if root_type == "ebs" else "paravirtual")))
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "image", [image.image_id],
                                                params.get("TagSpecifications"))
        return {"ImageId": image.image_id}

    @operation("DescribeImages")
    async def describe_images(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        sent = [str(i) for i in params.get("ImageIds") or []]
        wanted = [normalize_id(i) for i in sent]
        owners = list(params.get("Owners") or [])
        users = list(params.get("ExecutableUsers") or [])
        from cloudctl.services.ec2.images.copy import settle_region

        async with self.cloud.sessions() as session, session.begin():
            await settle_region(session, ctx.region)  # copies whose snapshots completed
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(Image).where(
                Image.region == ctx.region).order_by(Image.image_id))).scalars().all())
            grants = await _granted(session, [r.image_id for r in rows])
            tag_map = await tags.tags_for(session, account, ctx.region)
            admin_account = await system_account(session)
        for owner in owners:
            if owner not in _OWNER_WORDS and not re.match(r"^\d{12}\Z", str(owner)):
                raise AwsError(f"Invalid user id: \"{owner}\"", code="InvalidUserID.Malformed")
        verbose = "verbose" in owners and is_cloud_admin(ctx)
        rows = [r for r in rows if verbose or _can_launch(r, account, grants)]
        if wanted:
            found = {r.image_id for r in rows}
            missing = [s for s, i in zip(sent, wanted, strict=True) if i not in found]
            if missing:
                raise AwsError(f"The image id '[{missing[0]}]' does not exist",
                               code="InvalidAMIID.NotFound")
            rows = [r for r in rows if r.image_id in wanted]
        if owners and not verbose:
            allowed = {account if o == "self" else admin_account if o in SYSTEM_ALIASES
                       else o for o in owners}
            rows = [r for r in rows if r.account_id in allowed]
        if users:
            def executable(r: Image) -> bool:
                for user in users:
                    who = account if user == "self" else user
                    if (user == "all" and r.public) or (user != "all" and (
                            r.public or who in grants.get(r.image_id, ()) or
                            (user == "self" and r.account_id == account))):
                        return True
                return False
            rows = [r for r in rows if executable(r)]
        items = [self._describe(r, tag_map, admin_account) for r in rows]
        items = apply_filters(items, params.get("Filters"), {
            "image-id": lambda i: [i["ImageId"]], "name": lambda i: [i["Name"]],
            "owner-alias": lambda i: SYSTEM_ALIASES if "ImageOwnerAlias" in i else [],
            "state": lambda i: [i["State"]], "owner-id": lambda i: [i["OwnerId"]],
            "image-type": lambda i: [i["ImageType"]], "architecture": lambda i: [i["Architecture"]],
            "is-public": lambda i: [str(i["Public"]).lower()],
            "root-device-type": lambda i: [i["RootDeviceType"]],
            "root-device-name": lambda i: [i["RootDeviceName"]],
            "kernel-id": lambda i: [i.get("KernelId", "")],
            "ramdisk-id": lambda i: [i.get("RamdiskId", "")],
            "description": lambda i: [i.get("Description", "")],
            "virtualization-type": lambda i: [i["VirtualizationType"]],
            "manifest-location": lambda i: [i.get("ImageLocation", "")],
            **tags.filter_extractors(lambda i: i["Tags"]),
        })
        page, token = paginate("DescribeImages", params, items, lambda i: i["ImageId"])
        result: Result = {"Images": page}
        if token:
            result["NextToken"] = token
        return result

    def _describe(self, r: Image, tag_map: dict[str, list[dict[str, str]]],
                  admin_account: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ImageId": r.image_id, "ImageLocation": r.location, "State": r.state,
            "OwnerId": r.account_id, "CreationDate": r.created_at.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"),
            "Public": r.public, "Architecture": r.architecture, "ImageType": r.kind,
            "Name": r.name, "Description": r.description, "RootDeviceType": r.root_device_type,
            "RootDeviceName": r.root_device_name, "VirtualizationType": r.virtualization_type,
            "Hypervisor": "xen", "BlockDeviceMappings": _bdm_out(r.block_device_mappings),
            "Tags": tag_map.get(r.image_id, []),
        }
        if admin_account is not None and r.account_id == admin_account:
            item["ImageOwnerAlias"] = SYSTEM_ALIASES[0]
        if r.kernel_id:
            item["KernelId"] = r.kernel_id
        if r.ramdisk_id:
            item["RamdiskId"] = r.ramdisk_id
        return item

    @operation("DeregisterImage")
    async def deregister_image(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            image = await self._owned(session, ctx, str(params.get("ImageId") or ""))
            await session.execute(delete(LaunchPermission).where(
                LaunchPermission.image_id == image.image_id))
            await tags.delete_resource_tags(session, image.account_id, image.region,
                                            [image.image_id])
            await session.delete(image)
        return {}

    @operation("DescribeImageAttribute")
    async def describe_image_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        attribute = params.get("Attribute")
        async with self.cloud.sessions() as session:
            image = await self._owned(session, ctx, str(params.get("ImageId") or ""))
            grants = (await _granted(session, [image.image_id])).get(image.image_id, set())
        out: Result = {"ImageId": image.image_id}
        if attribute == "launchPermission":
            perms: list[dict[str, str]] = [{"UserId": g} for g in sorted(grants)]
            if image.public:
                perms.insert(0, {"Group": "all"})
            out["LaunchPermissions"] = perms
        elif attribute == "description":
            out["Description"] = {"Value": image.description}
        elif attribute == "kernel":
            out["KernelId"] = {"Value": image.kernel_id} if image.kernel_id else {}
        elif attribute == "ramdisk":
            out["RamdiskId"] = {"Value": image.ramdisk_id} if image.ramdisk_id else {}
        elif attribute == "blockDeviceMapping":
            out["BlockDeviceMappings"] = _bdm_out(image.block_device_mappings)
        elif attribute == "productCodes":
            out["ProductCodes"] = []
        else:
            raise AwsError(f"Value ({attribute}) for parameter attribute is invalid.",
                           code="InvalidParameterValue")
        return out

    @operation("ModifyImageAttribute")
    async def modify_image_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        adds: list[dict[str, str]] = []
        removes: list[dict[str, str]] = []
        perm = params.get("LaunchPermission") or {}
        adds += perm.get("Add") or []
        removes += perm.get("Remove") or []
        op_type = params.get("OperationType")
        legacy = [{"UserId": u} for u in params.get("UserIds") or []] + [
            {"Group": g} for g in params.get("UserGroups") or []]
        if legacy:
            (adds if op_type != "remove" else removes).extend(legacy)
        async with self.cloud.sessions() as session, session.begin():
            image = await self._owned(session, ctx, str(params.get("ImageId") or ""))
            description = params.get("Description")
            if isinstance(description, dict) and description.get("Value") is not None:
                image.description = str(description["Value"])
            for entry, adding in [(a, True) for a in adds] + [(r, False) for r in removes]:
                if entry.get("Group"):
                    if entry["Group"] != "all":
                        raise AwsError(f"Invalid group {entry['Group']}",
                                       code="InvalidParameterValue")
                    image.public = adding
                    continue
                user = str(entry.get("UserId") or "")
                if not re.match(r"^\d{12}\Z", user):
                    raise AwsError(f"Invalid user id {user}", code="InvalidAMIAttributeItemValue")
                existing = await session.get(LaunchPermission, (image.image_id, user))
                if adding and existing is None:
                    session.add(LaunchPermission(image_id=image.image_id, grantee=user))
                elif not adding and existing is not None:
                    await session.delete(existing)
        return {}

    @operation("ResetImageAttribute")
    async def reset_image_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        if params.get("Attribute") != "launchPermission":
            raise AwsError("Only launchPermission can be reset", code="InvalidParameterValue")
        async with self.cloud.sessions() as session, session.begin():
            image = await self._owned(session, ctx, str(params.get("ImageId") or ""))
            image.public = False
            await session.execute(delete(LaunchPermission).where(
                LaunchPermission.image_id == image.image_id))
        return {}
