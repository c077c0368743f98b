"""Network interfaces: Create/Delete/DescribeNetworkInterfaces, Attach/Detach,
Assign/UnassignPrivateIpAddresses and ModifyNetworkInterfaceAttribute (description,
SourceDestCheck, groups, DeleteOnTermination).

Addresses come from the subnet (``common.allocate_ips``: never one of the five reserved
ones). An interface is attached to one instance at a device index; the primary one
(index 0) of an instance is never detached (``OperationNotPermitted``). The public
functions ``launch_interface`` and ``instance_interfaces`` serve RunInstances and the
instance view.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import (
    INSTANCE,
    NETWORK_INTERFACE,
    SECURITY_GROUP,
    SUBNET,
)
from cloudctl.services.ec2.vpc import common, groups
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import (
    NetworkInterfaceRow,
    PrivateIpRow,
    SubnetRow,
    VpcAddressRow,
)
from cloudctl.services.network.models import AddressRow, SecurityGroupRow

tags.register_resource("eni", common.exists_check(NetworkInterfaceRow,
                                                  NetworkInterfaceRow.eni_id))
MAX_ADDRESSES = 30


def private_dns(region: str, ip: str) -> str:
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{suffix}"


async def check_groups(session: AsyncSession, account: str, region: str, vpc_id: str,
                       values: list[Any]) -> list[str]:
    """The groups an interface of ``vpc_id`` gets: those named (the caller's, in that
    VPC), else the VPC's default group."""
    wanted = SECURITY_GROUP.check_all(values)
    if not wanted:
        default = await groups.default_group(session, vpc_id)
        return [default] if default else []
    found = {r[0]: r[1] for r in await session.execute(select(
        SecurityGroupRow.id, SecurityGroupRow.vpc_id).where(
        SecurityGroupRow.id.in_(wanted), SecurityGroupRow.account_id == account,
        SecurityGroupRow.region == region))}
    for gid in wanted:
        if gid not in found:
            raise AwsError(f"The security group '{gid}' does not exist",
                           code="InvalidGroup.NotFound")
        if found[gid] != vpc_id:
            raise AwsError(f"Security group {gid} and the interface belong to different "
                           "networks.", code="InvalidParameter")
    return list(dict.fromkeys(wanted))


async def new_interface(session: AsyncSession, account: str, subnet: SubnetRow, *,
                        primary_ip: str | None, secondary: list[str], secondary_count: int,
                        groups: list[str], description: str = "") -> NetworkInterfaceRow:
    """An interface in ``subnet`` with its addresses (in the caller's transaction)."""
    wanted = ([primary_ip] if primary_ip else []) + secondary
    if len(wanted) + secondary_count + (0 if primary_ip else 1) > MAX_ADDRESSES:
        raise AwsError("Too many private addresses for one interface.",
                       code="PrivateIpAddressLimitExceeded")
    extra = secondary_count + (0 if primary_ip else 1)
    got = await common.allocate_ips(session, subnet, extra, wanted)
    if primary_ip:
        addresses = got
    else:  # the first free address is the primary, then the secondaries asked for
        fresh = got[len(wanted):]
        addresses = [fresh[0], *secondary, *fresh[1:]]
    eni = NetworkInterfaceRow(eni_id=ids.resource_id("eni"), account_id=account,
                              region=subnet.region, vpc_id=subnet.vpc_id,
                              subnet_id=subnet.subnet_id, zone=subnet.zone,
                              mac=common.new_mac(), description=description,
                              groups=groups, source_dest_check=True)
    session.add(eni)
    for index, ip in enumerate(addresses):
        session.add(PrivateIpRow(eni_id=eni.eni_id, private_ip=ip, subnet_id=subnet.subnet_id,
                                 primary=index == 0))
    await session.flush()
    await common.bump(session)
    return eni


async def attach(session: AsyncSession, eni: NetworkInterfaceRow, instance_id: str,
                 owner: str, index: int, delete_on_termination: bool = False) -> str:
    taken = (await session.execute(select(NetworkInterfaceRow.eni_id).where(
        NetworkInterfaceRow.instance_id == instance_id,
        NetworkInterfaceRow.device_index == index))).first()
    if taken is not None:
        raise AwsError(f"Instance '{instance_id}' already has an interface attached at "
                       f"device index '{index}'.", code="InvalidParameterValue")
    eni.instance_id, eni.instance_owner, eni.device_index = instance_id, owner, index
    eni.attachment_id = ids.resource_id("eni-attach")
    eni.attach_status = "attached"
    eni.delete_on_termination = delete_on_termination
    await common.bump(session)
    return eni.attachment_id


async def addresses_of(session: AsyncSession, eni_ids: list[str]
                       ) -> dict[str, list[PrivateIpRow]]:
    out: dict[str, list[PrivateIpRow]] = {}
    if not eni_ids:
        return out
    query = select(PrivateIpRow).order_by(PrivateIpRow.eni_id, PrivateIpRow.primary.desc(),
                                          PrivateIpRow.private_ip)
    if len(eni_ids) <= 500:
        query = query.where(PrivateIpRow.eni_id.in_(eni_ids))
    for row in (await session.execute(query)).scalars():
        out.setdefault(row.eni_id, []).append(row)
    return out


async def public_ips(session: AsyncSession, eni_ids: list[str]
                     ) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(eni, private ip) -> (public ip, allocation id, association id)."""
    if not eni_ids:
        return {}
    rows = await session.execute(select(VpcAddressRow, AddressRow.public_ip).join(
        AddressRow, AddressRow.allocation_id == VpcAddressRow.allocation_id).where(
        VpcAddressRow.eni_id.in_(eni_ids)))
    return {(a.eni_id, a.private_ip): (ip, a.allocation_id, a.association_id)
            for a, ip in rows}


async def group_names(session: AsyncSession, group_ids: set[str]) -> dict[str, str]:
    if not group_ids:
        return {}
    rows = await session.execute(select(SecurityGroupRow.id, SecurityGroupRow.name).where(
        SecurityGroupRow.id.in_(list(group_ids))))
    return {r[0]: r[1] for r in rows}


def eni_shape(e: NetworkInterfaceRow, addresses: list[PrivateIpRow],
              publics: dict[tuple[str, str], tuple[str, str, str]],
              names: dict[str, str], tag_list: tags.Tags) -> dict[str, Any]:
    def association(ip: str) -> dict[str, Any] | None:
        found = publics.get((e.eni_id, ip))
        if found is None:
            return None
        owner = "amazon-elb" if e.requester_managed and e.interface_type == "interface" \
            else e.account_id  # a load balancer's address is the service's
        return {"PublicIp": found[0], "AllocationId": found[1], "AssociationId": found[2],
                "IpOwnerId": owner, "PublicDnsName": ""}

    ips = []
    for a in addresses:
        item: dict[str, Any] = {"Primary": a.primary, "PrivateIpAddress": a.private_ip,
                                "PrivateDnsName": private_dns(e.region, a.private_ip)}
        assoc = association(a.private_ip)
        if assoc:
            item["Association"] = assoc
        ips.append(item)
    primary = addresses[0].private_ip if addresses else ""
    out: dict[str, Any] = {
        "NetworkInterfaceId": e.eni_id, "SubnetId": e.subnet_id, "VpcId": e.vpc_id,
        "AvailabilityZone": e.zone, "Description": e.description, "OwnerId": e.account_id,
        "RequesterManaged": e.requester_managed, "MacAddress": e.mac,
        "Status": "in-use" if e.instance_id or e.requester_managed else "available",
        "PrivateIpAddress": primary, "PrivateDnsName": private_dns(e.region, primary),
        "PrivateIpAddresses": ips, "SourceDestCheck": e.source_dest_check,
        "Groups": [{"GroupId": g, "GroupName": names.get(g, "")} for g in e.groups],
        "InterfaceType": e.interface_type, "Ipv6Addresses": [], "TagSet": tag_list}
    if e.requester_managed:
        out["RequesterId"] = "amazon-elb" if e.interface_type == "interface" else "AWS"
    if primary and association(primary):
        out["Association"] = association(primary)
    if e.instance_id:
        out["Attachment"] = {"AttachmentId": e.attachment_id, "DeviceIndex": e.device_index,
                             "InstanceId": e.instance_id, "InstanceOwnerId": e.instance_owner,
                             "Status": e.attach_status or "attached",
                             "DeleteOnTermination": e.delete_on_termination,
                             "NetworkCardIndex": 0}
    return out


async def shapes(session: AsyncSession, rows: list[NetworkInterfaceRow],
                 tag_map: dict[str, tags.Tags]) -> dict[str, dict[str, Any]]:
    wanted = [r.eni_id for r in rows]
    addresses = await addresses_of(session, wanted)
    publics = await public_ips(session, wanted)
    names = await group_names(session, {g for r in rows for g in r.groups})
    return {r.eni_id: eni_shape(r, addresses.get(r.eni_id, []), publics, names,
                                tag_map.get(r.eni_id, [])) for r in rows}


async def instance_interfaces(session: AsyncSession, instance_ids: list[str]
                              ) -> dict[str, list[dict[str, Any]]]:
    """The instance view's ``NetworkInterfaces`` of each instance, by device index."""
    if not instance_ids:
        return {}
    rows = list((await session.execute(select(NetworkInterfaceRow).where(
        NetworkInterfaceRow.instance_id.in_(instance_ids)).order_by(
        NetworkInterfaceRow.device_index))).scalars())
    found = await shapes(session, rows, {})
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        shape = found[r.eni_id]
        shape.pop("TagSet", None)
        out.setdefault(str(r.instance_id), []).append(shape)
    return out


class NetworkInterfacesProvider(VpcProvider):

    async def start(self) -> None:
        from cloudctl.services.ec2.vpc import hotplug

        await hotplug.start(self.cloud)  # interfaces attached after launch, in the guest

    async def _eni(self, session: AsyncSession, account: str, region: str, value: Any
                   ) -> NetworkInterfaceRow:
        return await common.owned(session, NetworkInterfaceRow, NETWORK_INTERFACE, account,
                                  region, value)

    async def _one(self, session: AsyncSession, row: NetworkInterfaceRow) -> dict[str, Any]:
        found = await tags.tags_for(session, row.account_id, row.region, [row.eni_id])
        return (await shapes(session, [row], found))[row.eni_id]

    @operation("CreateNetworkInterface")
    async def create_network_interface(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        tags.check_tag_specifications(params.get("TagSpecifications"), ["network-interface"])
        primary = params.get("PrivateIpAddress")
        secondary: list[str] = []
        for item in params.get("PrivateIpAddresses") or []:
            ip = str(item.get("PrivateIpAddress") or "")
            if item.get("Primary") and primary is None:
                primary = ip
            elif ip != primary:
                secondary.append(ip)
        count = int(params.get("SecondaryPrivateIpAddressCount") or 0)
        async with self.cloud.sessions() as session, session.begin():
            subnet = await common.owned(session, SubnetRow, SUBNET, account, ctx.region,
                                        common.required(params, "SubnetId"))
            group_ids = await check_groups(session, account, ctx.region, subnet.vpc_id,
                                           list(params.get("Groups") or []))
            eni = await new_interface(session, account, subnet,
                                      primary_ip=str(primary) if primary else None,
                                      secondary=secondary, secondary_count=count,
                                      groups=group_ids,
                                      description=str(params.get("Description") or ""))
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "network-interface", [eni.eni_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            shape = await self._one(session, eni)
        self.changed()
        return {"NetworkInterface": shape}

    @operation("DescribeNetworkInterfaces")
    async def describe_network_interfaces(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(NetworkInterfaceRow).where(
                NetworkInterfaceRow.account_id == account,
                NetworkInterfaceRow.region == ctx.region).order_by(
                NetworkInterfaceRow.eni_id))).scalars())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.eni_id for r in rows])
            found = await shapes(session, rows, tag_map)

        def ips(e: NetworkInterfaceRow) -> list[str]:
            return [a["PrivateIpAddress"] for a in found[e.eni_id]["PrivateIpAddresses"]]

        def attached(e: NetworkInterfaceRow, field: str) -> list[str]:
            value = found[e.eni_id].get("Attachment", {}).get(field)
            return [] if value is None else [str(value).lower() if isinstance(value, bool)
                                             else str(value)]

        page, token = common.describe("DescribeNetworkInterfaces", params, rows, {
            "network-interface-id": lambda e: [e.eni_id],
            "subnet-id": lambda e: [e.subnet_id], "vpc-id": lambda e: [e.vpc_id],
            "availability-zone": lambda e: [e.zone],
            "status": lambda e: [found[e.eni_id]["Status"]],
            "private-ip-address": ips, "addresses.private-ip-address": ips,
            "mac-address": lambda e: [e.mac], "description": lambda e: [e.description],
            "owner-id": lambda e: [e.account_id],
            "requester-managed": lambda e: common.flag(e.requester_managed),
            "source-dest-check": lambda e: common.flag(e.source_dest_check),
            "interface-type": lambda e: [e.interface_type],
            "group-id": lambda e: list(e.groups),
            "attachment.instance-id": lambda e: attached(e, "InstanceId"),
            "attachment.attachment-id": lambda e: attached(e, "AttachmentId"),
            "attachment.device-index": lambda e: attached(e, "DeviceIndex"),
            "attachment.status": lambda e: attached(e, "Status"),
            "attachment.delete-on-termination": lambda e: attached(e, "DeleteOnTermination"),
        }, tag_map, lambda e: e.eni_id, "NetworkInterfaceIds", NETWORK_INTERFACE)
        return common.paged({"NetworkInterfaces": [found[e.eni_id] for e in page]}, token)

    @operation("DeleteNetworkInterface")
    async def delete_network_interface(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            eni = await self._eni(session, account, ctx.region,
                                  common.required(params, "NetworkInterfaceId"))
            if eni.instance_id or eni.requester_managed:
                raise AwsError(f"Network interface '{eni.eni_id}' is currently in use.",
                               code="InvalidNetworkInterface.InUse")
            await session.execute(delete(VpcAddressRow).where(
                VpcAddressRow.eni_id == eni.eni_id))
            await session.execute(delete(PrivateIpRow).where(PrivateIpRow.eni_id == eni.eni_id))
            await tags.delete_resource_tags(session, account, ctx.region, [eni.eni_id])
            await session.delete(eni)
            await common.bump(session)
        self.changed()
        return {}

    def _hotplug(self, instance_id: str) -> None:
        from cloudctl.services.ec2.vpc import hotplug

        hotplug.wake(self.cloud, instance_id)

    @operation("AttachNetworkInterface")
    async def attach_network_interface(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        index = params.get("DeviceIndex")
        if index is None:
            raise AwsError("The request must contain the parameter deviceIndex",
                           code="MissingParameter")
        async with self.cloud.sessions() as session, session.begin():
            eni = await self._eni(session, account, ctx.region,
                                  common.required(params, "NetworkInterfaceId"))
            iid = INSTANCE.check(common.required(params, "InstanceId"))
            instance = await session.get(Instance, iid)
            if instance is None or instance.account_id != account \
                    or instance.state in ("terminated", "shutting-down"):
                raise AwsError(f"The instance ID '{iid}' does not exist",
                               code="InvalidInstanceID.NotFound")
            if eni.instance_id is not None:
                raise AwsError(f"Interface: [{eni.eni_id}] in use.",
                               code="InvalidNetworkInterface.InUse")
            if instance.zone != eni.zone:
                raise AwsError("The instance and the network interface are in different "
                               "availability zones.", code="InvalidParameterCombination")
            others = set((await session.execute(select(NetworkInterfaceRow.vpc_id).where(
                NetworkInterfaceRow.instance_id == iid))).scalars())
            if others and others != {eni.vpc_id}:
                raise AwsError("The network interface and the instance belong to different "
                               "networks.", code="InvalidParameterValue")
            attachment = await attach(session, eni, iid, account, int(index))
        self.changed()
        self._hotplug(iid)
        return {"AttachmentId": attachment, "NetworkCardIndex": 0}

    @operation("DetachNetworkInterface")
    async def detach_network_interface(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        attachment = str(common.required(params, "AttachmentId"))
        async with self.cloud.sessions() as session, session.begin():
            eni = (await session.execute(select(NetworkInterfaceRow).where(
                NetworkInterfaceRow.attachment_id == attachment,
                NetworkInterfaceRow.account_id == account))).scalar_one_or_none()
            if eni is None:
                raise AwsError(f"The attachment ID '{attachment}' does not exist",
                               code="InvalidAttachmentID.NotFound")
            if eni.device_index == 0:
                raise AwsError("The network interface at device index 0 cannot be detached.",
                               code="OperationNotPermitted")
            iid = str(eni.instance_id)
            eni.instance_id = eni.instance_owner = eni.attachment_id = None
            eni.device_index = None
            eni.attach_status = None
            eni.delete_on_termination = False
            await common.bump(session)
        self.changed()
        self._hotplug(iid)
        return {}

    @operation("AssignPrivateIpAddresses")
    async def assign_private_ip_addresses(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        wanted = [str(ip) for ip in params.get("PrivateIpAddresses") or []]
        count = int(params.get("SecondaryPrivateIpAddressCount") or 0)
        if not wanted and count <= 0:
            raise AwsError("Either privateIpAddresses or secondaryPrivateIpAddressCount "
                           "must be given.", code="MissingParameter")
        async with self.cloud.sessions() as session, session.begin():
            eni = await self._eni(session, account, ctx.region,
                                  common.required(params, "NetworkInterfaceId"))
            subnet = await session.get(SubnetRow, eni.subnet_id)
            assert subnet is not None
            have = await addresses_of(session, [eni.eni_id])
            if len(have.get(eni.eni_id, [])) + len(wanted) + count > MAX_ADDRESSES:
                raise AwsError("Too many private addresses for one interface.",
                               code="PrivateIpAddressLimitExceeded")
            if params.get("AllowReassignment"):
                await session.execute(delete(PrivateIpRow).where(
                    PrivateIpRow.subnet_id == subnet.subnet_id,
                    PrivateIpRow.private_ip.in_(wanted), PrivateIpRow.primary.is_(False)))
            new = await common.allocate_ips(session, subnet, count, wanted)
            for ip in new:
                session.add(PrivateIpRow(eni_id=eni.eni_id, private_ip=ip,
                                         subnet_id=subnet.subnet_id, primary=False))
            await common.bump(session)
        self.changed()
        return {"NetworkInterfaceId": eni.eni_id,
                "AssignedPrivateIpAddresses": [{"PrivateIpAddress": ip} for ip in new]}

    @operation("UnassignPrivateIpAddresses")
    async def unassign_private_ip_addresses(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        wanted = [str(ip) for ip in params.get("PrivateIpAddresses") or []]
        if not wanted:
            raise AwsError("The request must contain the parameter privateIpAddress",
                           code="MissingParameter")
        async with self.cloud.sessions() as session, session.begin():
            eni = await self._eni(session, account, ctx.region,
                                  common.required(params, "NetworkInterfaceId"))
            have = {a.private_ip: a for a in (await addresses_of(
                session, [eni.eni_id])).get(eni.eni_id, [])}
            for ip in wanted:
                row = have.get(ip)
                if row is None or row.primary:
                    raise AwsError(f"Some of the specified addresses are not assigned to "
                                   f"interface {eni.eni_id}", code="InvalidParameterValue")
            for ip in wanted:
                await session.delete(have[ip])
            await common.bump(session)
        self.changed()
        return {}

    @operation("ModifyNetworkInterfaceAttribute")
    async def modify_network_interface_attribute(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            eni = await self._eni(session, account, ctx.region,
                                  common.required(params, "NetworkInterfaceId"))
            done = False
            if params.get("Description") is not None:
                eni.description = str(params["Description"].get("Value") or "")
                done = True
            if params.get("SourceDestCheck") is not None:
                eni.source_dest_check = common.boolean(params["SourceDestCheck"].get("Value"))
                done = True
            if params.get("Groups"):
                eni.groups = await check_groups(session, account, ctx.region, eni.vpc_id,
                                                list(params["Groups"]))
                done = True
            if params.get("Attachment") is not None:
                attachment = params["Attachment"]
                if eni.attachment_id is None \
                        or attachment.get("AttachmentId") != eni.attachment_id:
                    raise AwsError(f"The attachment ID '{attachment.get('AttachmentId')}' "
                                   "does not exist", code="InvalidAttachmentID.NotFound")
                eni.delete_on_termination = common.boolean(
                    attachment.get("DeleteOnTermination"))
                done = True
            if not done:
                raise AwsError("The request must contain one attribute to modify.",
                               code="MissingParameter")
            await common.bump(session)
        self.changed()
        return {}

