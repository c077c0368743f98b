"""Network ACLs: Create/Delete/DescribeNetworkAcls, Create/Delete/ReplaceNetworkAclEntry
and ReplaceNetworkAclAssociation.

The default ACL of a VPC allows everything (rule 100 each way); a new ACL denies
everything: it holds only the implicit ``*`` rule (32767, deny all), shown in Describe
and never changed by the entry calls. Rules are stateless: return traffic needs its
own rule. Every subnet is associated with exactly one ACL (the default on creation).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import NETWORK_ACL, VPC
from cloudctl.services.ec2.vpc import build, common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import (
    NetworkAclAssociationRow,
    NetworkAclEntryRow,
    NetworkAclRow,
    VpcRow,
)

tags.register_resource("acl", common.exists_check(NetworkAclRow, NetworkAclRow.acl_id))
_PROTOCOLS = {"all": "-1", "-1": "-1", "tcp": "6", "udp": "17", "icmp": "1"}


def entry_shape(e: NetworkAclEntryRow) -> dict[str, Any]:
    out: dict[str, Any] = {"RuleNumber": e.rule_number, "Protocol": e.protocol,
                           "RuleAction": e.action, "Egress": e.egress, "CidrBlock": e.cidr}
    if e.from_port is not None:
        out["PortRange"] = {"From": e.from_port, "To": e.to_port}
    if e.icmp_type is not None:
        out["IcmpTypeCode"] = {"Type": e.icmp_type, "Code": e.icmp_code}
    return out


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "").lower()
    if text in _PROTOCOLS:
        return _PROTOCOLS[text]
    if text.isdigit() and 0 <= int(text) <= 255:
        return text
    raise AwsError(f"Invalid value '{value}' for protocol. Must be one of the following: "
                   "a number between 0 and 255, tcp, udp, icmp, or -1",
                   code="InvalidParameterValue")


def _entry(acl_id: str, params: dict[str, Any]) -> NetworkAclEntryRow:
    number = params.get("RuleNumber")
    if number is None:
        raise AwsError("The request must contain the parameter ruleNumber",
                       code="MissingParameter")
    if not 1 <= int(number) <= 32766:
        raise AwsError(f"Value ({number}) for parameter ruleNumber is invalid. Rule numbers "
                       "must be between 1 and 32766.", code="InvalidParameterValue")
    action = str(common.required(params, "RuleAction")).lower()
    if action not in ("allow", "deny"):
        raise AwsError(f"Value ({action}) for parameter ruleAction is invalid.",
                       code="InvalidParameterValue")
    protocol = _protocol(common.required(params, "Protocol"))
    cidr_text = str(common.required(params, "CidrBlock"))
    try:
        cidr = str(ipaddress.IPv4Network(cidr_text, strict=False))
    except ValueError:
        raise AwsError(f"Value ({cidr_text}) for parameter cidrBlock is invalid.",
                       code="InvalidParameterValue") from None
    row = NetworkAclEntryRow(acl_id=acl_id, egress=common.boolean(params.get("Egress")),
                             rule_number=int(number), protocol=protocol, action=action,
                             cidr=cidr)
    if protocol in ("6", "17"):
        ports = params.get("PortRange") or {}
        if ports.get("From") is None or ports.get("To") is None:
            raise AwsError("The request must contain the parameter portRange",
                           code="MissingParameter")
        row.from_port, row.to_port = int(ports["From"]), int(ports["To"])
        if not 0 <= row.from_port <= row.to_port <= 65535:
            raise AwsError("Invalid port range.", code="InvalidParameterValue")
    elif protocol == "1":
        icmp = params.get("IcmpTypeCode") or {}
        if icmp.get("Type") is None or icmp.get("Code") is None:
            raise AwsError("The request must contain the parameter icmpTypeCode",
                           code="MissingParameter")
        row.icmp_type, row.icmp_code = int(icmp["Type"]), int(icmp["Code"])
    return row


class NetworkAclsProvider(VpcProvider):

    async def _acl(self, session: Any, account: str, region: str, value: Any
                   ) -> NetworkAclRow:
        return await common.owned(session, NetworkAclRow, NETWORK_ACL, account, region, value)

    async def _shapes(self, session: AsyncSession, rows: list[NetworkAclRow],
                      tag_map: dict[str, tags.Tags]) -> dict[str, dict[str, Any]]:
        wanted = [r.acl_id for r in rows]
        entries: dict[str, list[NetworkAclEntryRow]] = {}
        assocs: dict[str, list[NetworkAclAssociationRow]] = {}
        if wanted:
            eq = select(NetworkAclEntryRow).order_by(
                NetworkAclEntryRow.acl_id, NetworkAclEntryRow.egress.desc(),
                NetworkAclEntryRow.rule_number)
            aq = select(NetworkAclAssociationRow).order_by(
                NetworkAclAssociationRow.association_id)
            if len(wanted) <= 500:
                eq = eq.where(NetworkAclEntryRow.acl_id.in_(wanted))
                aq = aq.where(NetworkAclAssociationRow.acl_id.in_(wanted))
            for e in (await session.execute(eq)).scalars():
                entries.setdefault(e.acl_id, []).append(e)
            for a in (await session.execute(aq)).scalars():
                assocs.setdefault(a.acl_id, []).append(a)
        return {r.acl_id: {
            "NetworkAclId": r.acl_id, "VpcId": r.vpc_id, "IsDefault": r.is_default,
            "OwnerId": r.account_id,
            "Entries": [entry_shape(e) for e in entries.get(r.acl_id, [])],
            "Associations": [{"NetworkAclAssociationId": a.association_id,
                              "NetworkAclId": a.acl_id, "SubnetId": a.subnet_id}
                             for a in assocs.get(r.acl_id, [])],
            "Tags": tag_map.get(r.acl_id, [])} for r in rows}

    @operation("CreateNetworkAcl")
    async def create_network_acl(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        tags.check_tag_specifications(params.get("TagSpecifications"), ["network-acl"])
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     common.required(params, "VpcId"))
            acl = NetworkAclRow(acl_id=ids.resource_id("acl"), account_id=account,
                                region=ctx.region, vpc_id=vpc.vpc_id, is_default=False)
            session.add(acl)
            session.add_all(build.acl_entries(acl.acl_id, allow_all=False))
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "network-acl", [acl.acl_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            found = await tags.tags_for(session, account, ctx.region, [acl.acl_id])
            shapes = await self._shapes(session, [acl], found)
            await common.bump(session)
        self.changed()
        return {"NetworkAcl": shapes[acl.acl_id]}

    @operation("DescribeNetworkAcls")
    async def describe_network_acls(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(NetworkAclRow).where(
                NetworkAclRow.account_id == account, NetworkAclRow.region == ctx.region
            ).order_by(NetworkAclRow.acl_id))).scalars())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.acl_id for r in rows])
            shapes = await self._shapes(session, rows, tag_map)

        def entries(r: NetworkAclRow, field: str) -> list[str]:
            return [str(e.get(field)).lower() for e in shapes[r.acl_id]["Entries"]]

        def assoc(r: NetworkAclRow, field: str) -> list[str]:
            return [a[field] for a in shapes[r.acl_id]["Associations"]]

        page, token = common.describe("DescribeNetworkAcls", params, rows, {
            "network-acl-id": lambda r: [r.acl_id],
            "vpc-id": lambda r: [r.vpc_id],
            "default": lambda r: common.flag(r.is_default),
            "owner-id": lambda r: [r.account_id],
            "association.association-id": lambda r: assoc(r, "NetworkAclAssociationId"),
            "association.network-acl-id": lambda r: assoc(r, "NetworkAclId"),
            "association.subnet-id": lambda r: assoc(r, "SubnetId"),
            "entry.cidr": lambda r: entries(r, "CidrBlock"),
            "entry.egress": lambda r: entries(r, "Egress"),
            "entry.protocol": lambda r: entries(r, "Protocol"),
            "entry.rule-action": lambda r: entries(r, "RuleAction"),
            "entry.rule-number": lambda r: entries(r, "RuleNumber"),
        }, tag_map, lambda r: r.acl_id, "NetworkAclIds", NETWORK_ACL)
        return common.paged({"NetworkAcls": [shapes[r.acl_id] for r in page]}, token)

    @operation("DeleteNetworkAcl")
    async def delete_network_acl(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            acl = await self._acl(session, account, ctx.region,
                                  common.required(params, "NetworkAclId"))
            if acl.is_default:
                raise AwsError(f"cannot delete default network ACL {acl.acl_id}",
                               code="InvalidParameterValue")
            if (await session.execute(select(NetworkAclAssociationRow.association_id).where(
                    NetworkAclAssociationRow.acl_id == acl.acl_id).limit(1))).first():
                raise AwsError(f"The networkAcl '{acl.acl_id}' has dependencies and cannot "
                               "be deleted.", code="DependencyViolation")
            await session.execute(delete(NetworkAclEntryRow).where(
                NetworkAclEntryRow.acl_id == acl.acl_id))
            await tags.delete_resource_tags(session, account, ctx.region, [acl.acl_id])
            await session.delete(acl)
            await common.bump(session)
        self.changed()
        return {}

    @operation("CreateNetworkAclEntry")
    async def create_network_acl_entry(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            acl = await self._acl(session, account, ctx.region,
                                  common.required(params, "NetworkAclId"))
            entry = _entry(acl.acl_id, params)
            if await session.get(NetworkAclEntryRow,
                                 (acl.acl_id, entry.egress, entry.rule_number)) is not None:
                raise AwsError(f"The network acl entry identified by {entry.rule_number} "
                               "already exists.", code="NetworkAclEntryAlreadyExists")
            session.add(entry)
            await common.bump(session)
        self.changed()
        return {}

    async def _existing(self, session: AsyncSession, acl: NetworkAclRow, params: dict[str, Any]
                        ) -> NetworkAclEntryRow:
        number = params.get("RuleNumber")
        egress = common.boolean(params.get("Egress"))
        row = None
        if number is not None and 1 <= int(number) <= 32766:
            row = await session.get(NetworkAclEntryRow, (acl.acl_id, egress, int(number)))
        if row is None:
            raise AwsError(f"The network acl entry identified by {number} does not exist.",
                           code="InvalidNetworkAclEntry.NotFound")
        return row

    @operation("DeleteNetworkAclEntry")
    async def delete_network_acl_entry(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            acl = await self._acl(session, account, ctx.region,
                                  common.required(params, "NetworkAclId"))
            await session.delete(await self._existing(session, acl, params))
            await common.bump(session)
        self.changed()
        return {}

    @operation("ReplaceNetworkAclEntry")
    async def replace_network_acl_entry(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            acl = await self._acl(session, account, ctx.region,
                                  common.required(params, "NetworkAclId"))
            old = await self._existing(session, acl, params)
            new = _entry(acl.acl_id, params)
            for column in ("protocol", "action", "cidr", "from_port", "to_port", "icmp_type",
                           "icmp_code"):
                setattr(old, column, getattr(new, column))
            await common.bump(session)
        self.changed()
        return {}

    @operation("ReplaceNetworkAclAssociation")
    async def replace_network_acl_association(self, ctx: RequestContext,
                                              params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        assoc_id = str(common.required(params, "AssociationId"))
        async with self.cloud.sessions() as session, session.begin():
            acl = await self._acl(session, account, ctx.region,
                                  common.required(params, "NetworkAclId"))
            assoc = await session.get(NetworkAclAssociationRow, assoc_id)
            current = None if assoc is None else await session.get(NetworkAclRow,
                                                                   assoc.acl_id)
            if assoc is None or current is None or current.account_id != account:
                raise AwsError(f"The association ID '{assoc_id}' does not exist",
                               code="InvalidAssociationID.NotFound")
            if current.vpc_id != acl.vpc_id:
                raise AwsError(f"Network ACL {acl.acl_id} belongs to another network",
                               code="InvalidParameterValue")
            subnet_id = assoc.subnet_id
            await session.delete(assoc)
            await session.flush()
            new = NetworkAclAssociationRow(association_id=ids.resource_id("aclassoc"),
                                           acl_id=acl.acl_id, subnet_id=subnet_id)
            session.add(new)
            await common.bump(session)
        self.changed()
        return {"NewAssociationId": new.association_id}
