"""EC2 addresses in EDGE: public IPs from the configured pool, elastic IPs.

Owns the operations on `ec2_addresses` (`cloudctl.services.network.models`).
The pool is the `PublicIps` of the EDGE configuration; a row exists for each
address taken from it: `kind` "elastic" (AllocateAddress, owned by an
account, `eipalloc-...`) or "auto" (assigned to an instance at launch, as
EC2-classic did; returned to the pool when the instance ends or gets an
elastic IP). Every change bumps the network view version.

Public functions for the compute provider (run in the caller's transaction,
never commit; call `cloudctl.services.network.state.notify()` after commit):

- `assign_public_ip(session, instance_id, region=...) -> str | None` at launch
  (None when the pool is empty: the instance runs with a private IP only);
- `release_instance_ip(session, instance_id)` at termination (an elastic IP is
  disassociated and stays allocated to its account);
- `instance_public_ips(session, instance_ids) -> dict[str, str]` for DescribeInstances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2.shared import resources
from cloudctl.services.ec2.shared import tags as tags_mod
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.network import config
from cloudctl.services.network.models import AddressRow, InstanceNicRow
from cloudctl.services.network.state import bump_version, notify


async def _free_ip(session: AsyncSession, wanted: str | None = None,
                   taken: frozenset[str] = frozenset()) -> str | None:
    """A pool address no row holds (nor one of ``taken``, lost to a concurrent writer)."""
    pool = [str(ip) for ip in config.current().public_ips]
    used = set((await session.execute(select(AddressRow.public_ip))).scalars()) | taken
    if wanted is not None:
        if wanted not in pool:
            raise AwsError(f"The address {wanted} is not in the public address pool.",
                           code="InvalidParameterValue")
        return None if wanted in used else wanted
    return next((ip for ip in pool if ip not in used), None)


async def _claim(session: AsyncSession, wanted: str | None,
                 row: Callable[[str], AddressRow]) -> str | None:
    """Insert ``row(ip)`` for a free pool address; the address, None when none is free.

    Concurrent claims may pick the same free address; the loser's insert (in a
    savepoint) fails on the unique address and it takes the next one."""
    lost: set[str] = set()
    while True:
        ip = await _free_ip(session, wanted, frozenset(lost))
        if ip is None:
            return None
        try:
            async with session.begin_nested():
                session.add(row(ip))
        except IntegrityError:
            lost.add(ip)
            continue
        return ip


async def assign_public_ip(session: AsyncSession, instance_id: str,
                           region: str | None = None) -> str | None:
    """Give `instance_id` a public address from the pool (idempotent); None if empty."""
    have = (await session.execute(select(AddressRow).where(
        AddressRow.instance_id == instance_id))).scalar_one_or_none()
    if have is not None:
        return have.public_ip
    if region is None:
        nic = await session.get(InstanceNicRow, instance_id)
        region = nic.region if nic is not None else ""
    ip = await _claim(session, None, lambda free: AddressRow(
        public_ip=free, region=region, kind="auto", instance_id=instance_id))
    if ip is None:
        return None
    await bump_version(session)
    await session.flush()
    return ip


async def release_instance_ip(session: AsyncSession, instance_id: str) -> None:
    """Return the instance's auto address to the pool; disassociate its elastic IP."""
    for row in (await session.execute(select(AddressRow).where(
            AddressRow.instance_id == instance_id))).scalars():
        if row.kind == "auto":
            await session.delete(row)
        else:
            row.instance_id, row.association_id = None, None
        await bump_version(session)
    await session.flush()


async def instance_public_ips(session: AsyncSession, instance_ids: list[str]) -> dict[str, str]:
    if not instance_ids:
        return {}
    rows = (await session.execute(select(AddressRow.instance_id, AddressRow.public_ip).where(
        AddressRow.instance_id.in_(instance_ids)))).all()
    return {iid: ip for iid, ip in rows if iid}


def _address_out(row: AddressRow, nic: InstanceNicRow | None,
                 tags: list[dict[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"PublicIp": row.public_ip, "Domain": "standard", "Tags": tags,
                           "AllocationId": row.allocation_id or "",
                           "NetworkBorderGroup": row.region}
    if row.instance_id:
        out["InstanceId"] = row.instance_id
        if row.association_id:
            out["AssociationId"] = row.association_id
        if nic is not None:
            out["PrivateIpAddress"] = nic.private_ip
    return out


class AddressesProvider(Provider):
    service = "ec2"

    async def start(self) -> None:
        tags_mod.register_resource("eipalloc", _existing_allocations)

    async def _owned(self, session: AsyncSession, ctx: RequestContext,
                     params: dict[str, Any]) -> AddressRow:
        account = ctx.require_account()
        alloc, ip = params.get("AllocationId"), params.get("PublicIp")
        if alloc:
            resources.ELASTIC_IP.check(alloc)
            row = (await session.execute(select(AddressRow).where(
                AddressRow.allocation_id == alloc))).scalar_one_or_none()
            if row is None or row.account_id != account:
                raise AwsError(f"The allocation ID '{alloc}' does not exist",
                               code="InvalidAllocationID.NotFound")
            return row
        if ip:
            found = await session.get(AddressRow, ip)
            if found is None or found.kind != "elastic" or found.account_id != account:
                raise AwsError(f"The address '{ip}' does not belong to you.",
                               code="InvalidAddress.NotFound")
            return found
        raise AwsError("Either AllocationId or PublicIp must be specified.",
                       code="MissingParameter")

    @operation("AllocateAddress")
    async def allocate_address(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            alloc = ids.resource_id("eipalloc")
            ip = await _claim(session, params.get("Address"), lambda free: AddressRow(
                public_ip=free, region=ctx.region, kind="elastic", account_id=account,
                allocation_id=alloc))
            if ip is None:
                raise AwsError("The maximum number of addresses has been reached (the public "
                               "address pool is empty).", code="AddressLimitExceeded")
            specs = params.get("TagSpecifications")
            if specs:
                tags_mod.check_tag_specifications(specs, ["elastic-ip"])
                await tags_mod.apply_tag_specifications(self.cloud, session, account,
                                                        ctx.region, "elastic-ip", [alloc], specs)
        return {"PublicIp": ip, "AllocationId": alloc, "Domain": "standard",
                "PublicIpv4Pool": "amazon", "NetworkBorderGroup": ctx.region}

    @operation("AssociateAddress")
    async def associate_address(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        instance_id = params.get("InstanceId")
        if not instance_id and not params.get("NetworkInterfaceId"):
            raise AwsError("The request must contain the parameter InstanceId",
                           code="MissingParameter")
        if instance_id:
            resources.INSTANCE.check(instance_id)
        async with self.cloud.sessions() as session, session.begin():
            row = await self._owned(session, ctx, params)
            from cloudctl.services.ec2.vpc import addresses as vpc_addresses  # VPC domain

            eni = await vpc_addresses.target_interface(session, account, ctx.region, params)
            if eni is not None:
                assoc = await vpc_addresses.associate(session, row, eni, params)
                return {"AssociationId": assoc}
            nic = await session.get(InstanceNicRow, instance_id)
            if nic is None or nic.account_id != account or nic.region != ctx.region:
                raise AwsError(f"The instance ID '{instance_id}' does not exist",
                               code="InvalidInstanceID.NotFound")
            if row.instance_id == instance_id:
                return {"AssociationId": row.association_id or ""}
            previous = row.instance_id
            if previous is not None and not params.get("AllowReassociation"):
                raise AwsError(f"The address {row.public_ip} is already associated with "
                               f"{previous}; set AllowReassociation to move it.",
                               code="Resource.AlreadyAssociated")
            for other in (await session.execute(select(AddressRow).where(
                    AddressRow.instance_id == instance_id))).scalars():
                if other.kind == "auto":
                    await session.delete(other)
                else:
                    other.instance_id, other.association_id = None, None
            row.instance_id, row.association_id = None, None
            await session.flush()
            row.instance_id = instance_id
            row.association_id = ids.resource_id("eipassoc")
            await session.flush()
            if previous is not None:
                await assign_public_ip(session, previous, ctx.region)
            await bump_version(session)
            assoc = row.association_id
        notify()
        return {"AssociationId": assoc}

    @operation("DisassociateAddress")
    async def disassociate_address(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        assoc, ip = params.get("AssociationId"), params.get("PublicIp")
        async with self.cloud.sessions() as session, session.begin():
            query = select(AddressRow).where(AddressRow.account_id == account)
            if assoc:
                query = query.where(AddressRow.association_id == assoc)
            elif ip:
                query = query.where(AddressRow.public_ip == ip)
            else:
                raise AwsError("Either AssociationId or PublicIp must be specified.",
                               code="MissingParameter")
            row = (await session.execute(query)).scalar_one_or_none()
            from cloudctl.services.ec2.vpc import addresses as vpc_addresses  # VPC domain

            if await vpc_addresses.disassociate(session, account, assoc, ip):
                return {}
            if row is None or row.instance_id is None:
                if assoc:
                    raise AwsError(f"The association ID '{assoc}' does not exist",
                                   code="InvalidAssociationID.NotFound")
                if row is None:
                    raise AwsError(f"The address '{ip}' does not belong to you.",
                                   code="InvalidAddress.NotFound")
                return {}
            instance_id = row.instance_id
            row.instance_id, row.association_id = None, None
            await session.flush()
            await assign_public_ip(session, instance_id, ctx.region)
            await bump_version(session)
        notify()
        return {}

    @operation("ReleaseAddress")
    async def release_address(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._owned(session, ctx, params)
            from cloudctl.services.ec2.vpc import addresses as vpc_addresses  # VPC domain

            mapped = await vpc_addresses.associations(session, [row.allocation_id or ""])
            if mapped:
                raise AwsError(f"The address {row.public_ip} is in use (associated with "
                               f"{next(iter(mapped.values()))['NetworkInterfaceId']}).",
                               code="InvalidIPAddress.InUse")
            if row.instance_id is not None:
                raise AwsError(f"The address {row.public_ip} is in use (associated with "
                               f"{row.instance_id}).", code="InvalidIPAddress.InUse")
            await tags_mod.delete_resource_tags(session, row.account_id or "", row.region,
                                      [row.allocation_id or ""])
            await session.delete(row)
        return {}

    @operation("DescribeAddresses")
    async def describe_addresses(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        want_ips = list(params.get("PublicIps") or [])
        verbose = "verbose" in want_ips and is_cloud_admin(ctx)
        want_ips = [i for i in want_ips if i != "verbose"]
        want_allocs = resources.ELASTIC_IP.check_all(params.get("AllocationIds") or [])
        async with self.cloud.sessions() as session, session.begin():
            rows = list((await session.execute(select(AddressRow).order_by(
                AddressRow.public_ip))).scalars())
            nics = {n.instance_id: n for n in (await session.execute(select(
                InstanceNicRow).where(InstanceNicRow.instance_id.in_(
                    [r.instance_id for r in rows if r.instance_id])))).scalars()}
            tags = await tags_mod.tags_for(session, account, ctx.region,
                                          [r.allocation_id for r in rows if r.allocation_id])
            from cloudctl.services.ec2.vpc import addresses as vpc_addresses  # VPC domain

            in_vpc = await vpc_addresses.associations(
                session, [r.allocation_id for r in rows
                          if r.allocation_id and r.account_id == account])
        if verbose:
            return {"Addresses": _verbose(rows)}
        mine = [r for r in rows if r.kind == "elastic" and r.account_id == account
                and r.region == ctx.region]
        by_ip = {r.public_ip for r in mine}
        by_alloc = {r.allocation_id for r in mine}
        for ip in want_ips:
            if ip not in by_ip:
                raise AwsError(f"Address '{ip}' not found.", code="InvalidAddress.NotFound")
        for alloc in want_allocs:
            if alloc not in by_alloc:
                raise AwsError(f"The allocation ID '{alloc}' does not exist",
                               code="InvalidAllocationID.NotFound")
        if want_ips or want_allocs:
            mine = [r for r in mine if r.public_ip in want_ips or r.allocation_id in want_allocs]
        items = [{**_address_out(r, nics.get(r.instance_id or ""),
                                 tags.get(r.allocation_id or "", [])),
                  **in_vpc.get(r.allocation_id or "", {})} for r in mine]
        items = apply_filters(items, params.get("Filters"), {
            "allocation-id": lambda a: [a["AllocationId"]],
            "association-id": lambda a: [a.get("AssociationId", "")],
            "domain": lambda a: [a["Domain"]],
            "instance-id": lambda a: [a.get("InstanceId", "")],
            "public-ip": lambda a: [a["PublicIp"]],
            "private-ip-address": lambda a: [a.get("PrivateIpAddress", "")],
            "network-border-group": lambda a: [a["NetworkBorderGroup"]],
            "network-interface-id": lambda a: [a.get("NetworkInterfaceId", "")],
            **tags_mod.filter_extractors(lambda a: a["Tags"]),
        })
        return {"Addresses": items}


def _verbose(rows: list[AddressRow]) -> list[dict[str, Any]]:
    """Every address of the pool with its state and owner (Eucalyptus `verbose`)."""
    taken = {r.public_ip: r for r in rows}
    out: list[dict[str, Any]] = []
    for ip in (str(a) for a in config.current().public_ips):
        row = taken.get(ip)
        item: dict[str, Any] = {"PublicIp": ip, "Domain": "standard"}
        if row is None:
            item["InstanceId"] = "available"
        elif row.kind == "auto":
            item["InstanceId"] = f"{row.instance_id} (auto-assigned)"
        else:
            item["AllocationId"] = row.allocation_id or ""
            item["InstanceId"] = f"{row.instance_id or 'nobody'} ({row.account_id})"
        out.append(item)
    return out


async def _existing_allocations(session: AsyncSession, account: str, region: str,
                                allocation_ids: list[str]) -> set[str]:
    rows = (await session.execute(select(AddressRow.allocation_id).where(
        AddressRow.allocation_id.in_(allocation_ids), AddressRow.account_id == account))).scalars()
    return {r for r in rows if r}
