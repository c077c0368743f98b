"""The RunInstances workflow, one small step each (as Nova's conductor builds a server).

``launch`` runs the steps in order; each step either returns what the next one needs or
raises the AWS error for the request, so the first failing check answers, in this order:

1. ``validate``: the parameters alone (counts, ImageId, TagSpecifications, user data
   (``cloud.vmstate.user_data_max_size_kb``), zone, a requested private IP); no database.
2. ``instance_profile``: the instance profile, once the caller may pass its role
   (``iam:PassRole`` through IAM's api; the provider runs it for dry runs too).
3. Under the placement lock, in one transaction: ``replay`` (ClientToken idempotency:
   the instances already launched with the token), ``resolve`` (image, kernel, ramdisk,
   instance type, key pair, security groups), ``block_devices`` (the ephemeral disk),
   ``schedule`` (zone, then nodes: the scheduler reserves capacity by recording rows
   under the lock), ``record`` (per instance: its NIC from ``instance_network``, the
   launch spec for the node, the row, an EBS root volume), ``finish`` (tags, group
   memberships, the answer).
4. After commit: wake the network view, the block storage and the instance controller
   (for the new instances).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result
from cloudctl.services import ids
from cloudctl.services.ec2.compute import controller as ctl
from cloudctl.services.ec2.compute import (
    instance_types,
    instance_volumes,
    keypairs,
    monitoring,
    scheduler,
)
from cloudctl.services.ec2.compute import nodes as nodes_mod
from cloudctl.services.ec2.compute.dns_names import DnsNames, names_of
from cloudctl.services.ec2.compute.instance_models import Instance, InstanceType
from cloudctl.services.ec2.compute.instance_view import reservation_shape
from cloudctl.services.ec2.images import images
from cloudctl.services.ec2.network import instance_network, security_groups
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.vpc import build as vpc_build
from cloudctl.services.ec2.vpc import launch as vpc_launch
from nodectl.client import InstanceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.services.ec2.compute.keypairs import KeyPair

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


@dataclass
class LaunchRequest:
    """RunInstances' parameters once checked on their own."""

    params: dict[str, Any]
    account: str
    region: str
    requester_arn: str
    min_count: int
    max_count: int
    token: str | None
    user_data: str
    type_name: str
    zones: list[str]
    zone: str | None
    private_ip: str | None
    profile: dict[str, Any] | None = None


@dataclass
class Resolved:
    """What the request names, found in the database."""

    image: images.Image
    kernel: images.Image
    ramdisk: images.Image | None
    itype: InstanceType
    key: KeyPair | None
    group_ids: list[str]
    group_names: list[str]
    vpc: vpc_launch.VpcLaunch | None = None  # a launch into a subnet (None: EDGE)


@dataclass
class Placement:
    """Where the instances go: the zone and one node per instance."""

    zone: str
    nodes: list[str]


def validate(cloud: Cloud, ctx: RequestContext, params: dict[str, Any]) -> LaunchRequest:
    """Step 1: the parameters alone."""
    account = ctx.require_account()
    min_count, max_count = int(params.get("MinCount", 1)), int(params.get("MaxCount", 1))
    if min_count < 1 or max_count < min_count:
        raise AwsError("MinCount must be at least 1 and at most MaxCount",
                       code="InvalidParameterValue")
    if not params.get("ImageId"):
        raise AwsError("The request must contain the parameter ImageId",
                       code="MissingParameter")
    tags.check_tag_specifications(params.get("TagSpecifications"),
                                  ["instance", "volume", "network-interface"])
    user_data = decode_user_data(params.get("UserData"),
                                 int(cloud.properties.get(USER_DATA_MAX_KB)))
    type_name = str(params.get("InstanceType")
                    or cloud.properties.get(instance_types.DEFAULT_TYPE))
    zones = cloud.region_zones.get(ctx.region, [])
    zone = (params.get("Placement") or {}).get("AvailabilityZone")
    if zone and zone not in zones:
        raise AwsError(f"Invalid availability zone: [{zone}]", code="InvalidParameterValue")
    # in a VPC the interface's address comes from the subnet (``vpc_launch.plan``)
    private_ip = None if vpc_launch.wants_vpc(cloud, params) else \
        instance_network.requested_private_ip(params, max_count)
    credential = ctx.credential
    return LaunchRequest(
        params=params, account=account, region=ctx.region,
        requester_arn=credential.principal_arn if credential else "",
        min_count=min_count, max_count=max_count, token=params.get("ClientToken"),
        user_data=user_data, type_name=type_name, zones=zones, zone=zone or None,
        private_ip=private_ip)


async def instance_profile(cloud: Cloud, ctx: RequestContext, account: str,
                           profile: dict[str, Any] | None) -> dict[str, Any] | None:
    """Step 2: the instance profile RunInstances names, once the caller may pass its role."""
    if not profile:
        return None
    from cloudctl.services.iam.api import require_pass_profile_role, resolve_instance_profile

    found = await resolve_instance_profile(cloud, account, profile)
    if found is None:
        name = profile.get("Name") or profile.get("Arn")
        raise AwsError(f"Value ({name}) for parameter iamInstanceProfile.name is invalid. "
                       "Invalid IAM Instance Profile name", code="InvalidParameterValue")
    await require_pass_profile_role(cloud, ctx, account, str(found["Name"]))
    return found


async def replay(session: AsyncSession, request: LaunchRequest,
                 names: DnsNames) -> Result | None:
    """ClientToken: the reservation already launched with this token, if any."""
    if not request.token:
        return None
    existing = list((await session.execute(select(Instance).where(
        Instance.account_id == request.account, Instance.region == request.region,
        Instance.client_token == request.token).order_by(Instance.launch_index)
    )).scalars().all())
    if not existing:
        return None
    tag_map = await tags.tags_for(session, request.account, request.region,
                                  [r.instance_id for r in existing])
    again = reservation_shape(existing, tag_map, names)
    await instance_network.decorate(session, again, names)
    await vpc_launch.decorate(session, again)
    await monitoring.decorate(session, again)
    return again[0]


async def resolve_images(session: AsyncSession, request: LaunchRequest,
                         ) -> tuple[images.Image, images.Image, images.Image | None]:
    """The machine image, and the kernel and ramdisk it boots (or the request names)."""
    account, region, params = request.account, request.region, request.params
    image = await images.launchable_image(session, account, region, str(params["ImageId"]))
    if image.kind != "machine":
        raise AwsError(f"The image {image.image_id} is a {image.kind} image",
                       code="InvalidAMIID.Unavailable")
    kernel_id = params.get("KernelId") or image.kernel_id
    ramdisk_id = params.get("RamdiskId") or image.ramdisk_id
    if not kernel_id:
        raise AwsError(f"The image {image.image_id} names no kernel; pass KernelId.",
                       code="InvalidParameterValue")
    kernel = await images.launchable_image(session, account, region, kernel_id)
    ramdisk = (await images.launchable_image(session, account, region, ramdisk_id)
               if ramdisk_id else None)
    return image, kernel, ramdisk


async def resolve_key(session: AsyncSession, request: LaunchRequest) -> KeyPair | None:
    """The key pair ``KeyName`` names (InvalidKeyPair.NotFound), or None."""
    name = request.params.get("KeyName")
    if not name:
        return None
    key = await keypairs.find_key_pair(session, request.account, request.region, str(name))
    if key is None:
        raise AwsError(f"The key pair '{name}' does not exist", code="InvalidKeyPair.NotFound")
    return key


async def resolve_groups(session: AsyncSession,
                         request: LaunchRequest) -> tuple[list[str], list[str]]:
    """The security groups' ids and names (the account's default group when none)."""
    resolved = await security_groups.resolve_groups_for_launch(
        session, request.account, request.region,
        list(request.params.get("SecurityGroups") or []),
        list(request.params.get("SecurityGroupIds") or []))
    return resolved, await instance_network.group_names(session, resolved)


async def resolve(cloud: Cloud, session: AsyncSession, request: LaunchRequest) -> Resolved:
    """Step 3: image, kernel, ramdisk, instance type, key pair, the subnet and interfaces
    of a VPC launch, security groups."""
    image, kernel, ramdisk = await resolve_images(session, request)
    itype = await instance_types.get_type(session, request.type_name)
    key = await resolve_key(session, request)
    in_vpc = await vpc_launch.plan(cloud, session, request.account, request.region,
                                   request.params, request.zone)
    if in_vpc is None:
        group_ids, group_names = await resolve_groups(session, request)
    else:
        request.zone, group_ids = in_vpc.subnet.zone, in_vpc.groups
        group_names = await instance_network.group_names(session, group_ids)
        request.private_ip = None
    return Resolved(image=image, kernel=kernel, ramdisk=ramdisk, itype=itype, key=key,
                    group_ids=group_ids, group_names=group_names, vpc=in_vpc)


def block_devices(request: LaunchRequest) -> int:
    """The ephemeral disk (MiB) the block device mappings ask for."""
    ephemeral_mib = 0
    for mapping in request.params.get("BlockDeviceMappings") or []:
        if str(mapping.get("VirtualName") or "").startswith("ephemeral"):
            ephemeral_mib = max(ephemeral_mib, 1024)
    return ephemeral_mib


async def schedule(cloud: Cloud, session: AsyncSession, request: LaunchRequest,
                   itype: InstanceType) -> Placement:
    """The zone (the request's, or one with room) and a node per instance."""
    timeout = int(cloud.properties.get(nodes_mod.HEARTBEAT_TIMEOUT))
    capacity = await instance_types.capacity_snapshot(
        session, timeout, float(cloud.properties.get(scheduler.CPU_OVERCOMMIT_RATIO)))
    zone = request.zone
    if not zone:
        zone = scheduler.choose_zone(capacity, request.zones, itype.cpu, itype.memory_mib,
                                     request.min_count, request.type_name)
    placed = scheduler.place(capacity, zone, itype.cpu, itype.memory_mib, request.min_count,
                             request.max_count, str(cloud.properties.get(scheduler.POLICY)),
                             _round_robin, request.type_name)
    return Placement(zone=zone, nodes=list(placed))


def instance_row(request: LaunchRequest, found: Resolved, spec: InstanceSpec,
                 net: instance_network.LaunchedNic, *, iid: str, reservation: str, zone: str,
                 node: str, index: int, now: datetime) -> Instance:
    """The instance's row: the intent the controller converges its node to."""
    params, image, key = request.params, found.image, found.key
    options = params.get("MetadataOptions") or {}
    return Instance(
        instance_id=iid, account_id=request.account, region=request.region,
        reservation_id=reservation, owner_id=request.account,
        requester_arn=request.requester_arn,
        image_id=image.image_id, kernel_id=found.kernel.image_id,
        ramdisk_id=found.ramdisk.image_id if found.ramdisk else None,
        instance_type=found.itype.name,
        vcpus=found.itype.cpu, memory_mib=found.itype.memory_mib,
        key_name=key.name if key else None, public_key=key.public_key if key else None,
        zone=zone, node=node, state="pending", state_reason_code="pending",
        state_reason_message="pending", transition_reason="",
        reboot_requested=False, private_ip=net.private_ip, public_ip=net.public_ip,
        mac=net.mac,
        launch_index=index, launch_time=now, client_token=request.token,
        user_data=request.user_data, security_group_ids=found.group_ids,
        security_group_names=found.group_names,
        iam_instance_profile=request.profile,
        block_device_mappings=list(params.get("BlockDeviceMappings") or []),
        root_device_type=image.root_device_type,
        root_device_name=image.root_device_name,
        disable_api_termination=bool(params.get("DisableApiTermination")),
        shutdown_behavior=str(params.get("InstanceInitiatedShutdownBehavior") or "stop"),
        http_tokens=str(options.get("HttpTokens") or "optional"),
        http_endpoint=str(options.get("HttpEndpoint") or "enabled"),
        spec=spec.to_json(), observed_power="", last_error="", updated_at=now)


async def record(cloud: Cloud, session: AsyncSession, request: LaunchRequest,
                 found: Resolved, placement: Placement,
                 ephemeral_mib: int) -> tuple[list[Instance], list[str]]:
    """Per instance: its NIC, its launch spec, its row and an EBS root volume. Returns
    the rows and the root volumes' ids."""
    reservation = ids.resource_id("r")
    now = utcnow()
    image, kernel, ramdisk, itype = found.image, found.kernel, found.ramdisk, found.itype
    rows: list[Instance] = []
    root_volumes: list[str] = []
    for index, node in enumerate(placement.nodes):
        iid = ids.resource_id("i")
        if found.vpc is not None:  # the guest's NICs are its VPC interfaces
            net, guest_nics = await vpc_launch.launch_nics(session, found.vpc, request.account,
                                                           request.region, iid)
        else:
            net = await instance_network.launch_nic(session, request.account, request.region,
                                                    iid, node, request.private_ip)
            guest_nics = (net.spec,)
        spec = InstanceSpec(
            instance_id=iid, kernel=images.image_artifact(kernel),
            image=images.image_artifact(image),
            ramdisk=images.image_artifact(ramdisk) if ramdisk else None,
            memory_mib=itype.memory_mib, vcpus=itype.cpu,
            root_size_mib=None, ephemeral_mib=ephemeral_mib, cmdline=DEFAULT_CMDLINE,
            nics=guest_nics)
        row = instance_row(request, found, spec, net, iid=iid, reservation=reservation,
                           zone=placement.zone, node=node, index=index, now=now)
        session.add(row)
        if image.root_device_type == "ebs":  # root volume from the image's snapshot
            root_volumes.append((await instance_volumes.add_root_volume(
                cloud, session, row, image, request.params)).volume_id)
        rows.append(row)
    return rows, root_volumes


async def finish(cloud: Cloud, session: AsyncSession, request: LaunchRequest,
                 rows: list[Instance], names: DnsNames) -> Result:
    """Tags, group memberships, and the reservation as RunInstances answers it."""
    account, region = request.account, request.region
    new_ids = [r.instance_id for r in rows]
    await tags.apply_tag_specifications(cloud, session, account, region, "instance", new_ids,
                                        request.params.get("TagSpecifications"))
    for row in rows:
        await security_groups.set_instance_groups(session, account, region, row.instance_id,
                                                  row.security_group_ids)
    await monitoring.record_launch(session, rows, request.params.get("Monitoring"))
    tag_map = await tags.tags_for(session, account, region, new_ids)
    answer = reservation_shape(rows, tag_map, names)
    await instance_network.decorate(session, answer, names)
    await vpc_launch.decorate(session, answer)
    await monitoring.decorate(session, answer)
    return answer[0]


async def launch(cloud: Cloud, ctx: RequestContext, params: dict[str, Any]) -> Result:
    """RunInstances: every step in order; the rows commit together or not at all."""
    request = validate(cloud, ctx, params)
    request.profile = await instance_profile(cloud, ctx, request.account,
                                             params.get("IamInstanceProfile"))
    names = names_of(cloud.properties)
    if vpc_launch.wants_vpc(cloud, params):
        # as on AWS the account has its default VPC before its first launch, whatever
        # call comes first (an Auto Scaling group's launch may be the account's first)
        await vpc_build.ensure_default_vpc(cloud, request.account, request.region)
    async with scheduler.placements_of(cloud), cloud.sessions() as session, session.begin():
        await scheduler.lock_placements(session)
        again = await replay(session, request, names)
        if again is not None:
            return again
        found = await resolve(cloud, session, request)
        placement = await schedule(cloud, session, request, found.itype)
        rows, root_volumes = await record(cloud, session, request, found, placement,
                                          block_devices(request))
        answer = await finish(cloud, session, request, rows, names)
    instance_network.notify()
    instance_volumes.wake_storage(cloud, root_volumes)
    ctl.wake([r.instance_id for r in rows])  # the new rows only, not every pending one
    return answer
