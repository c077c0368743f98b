"""DHCP option sets: Create/Delete/Describe/AssociateDhcpOptions (``default``: none)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.resources import DHCP_OPTIONS, VPC
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.base import VpcProvider
from cloudctl.services.ec2.vpc.models import DhcpOptionsRow, VpcRow

tags.register_resource("dopt", common.exists_check(DhcpOptionsRow,
                                                   DhcpOptionsRow.dhcp_options_id))
KEYS = ("domain-name", "domain-name-servers", "ntp-servers", "netbios-name-servers",
        "netbios-node-type")
MAX_SERVERS = 4


def dopt_shape(d: DhcpOptionsRow, tag_list: tags.Tags) -> dict[str, Any]:
    return {"DhcpOptionsId": d.dhcp_options_id, "OwnerId": d.account_id,
            "DhcpConfigurations": [{"Key": c["Key"],
                                    "Values": [{"Value": v} for v in c["Values"]]}
                                   for c in d.configuration],
            "Tags": tag_list}


def _configuration(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not items:
        raise AwsError("The request must contain the parameter dhcpConfiguration",
                       code="MissingParameter")
    out: dict[str, list[str]] = {}
    for item in items:
        key = str(item.get("Key") or "")
        values = [str(v) for v in item.get("Values") or []]
        if key not in KEYS:
            raise AwsError(f"Value ({key}) for parameter name is invalid. Unknown DHCP option",
                           code="InvalidParameterValue")
        if not values:
            raise AwsError(f"Value for parameter {key} is missing.",
                           code="InvalidParameterValue")
        if key.endswith("-servers") and len(values) > MAX_SERVERS:
            raise AwsError(f"Value for parameter {key} has more than {MAX_SERVERS} items.",
                           code="InvalidParameterValue")
        out.setdefault(key, []).extend(values)
    return [{"Key": k, "Values": v} for k, v in out.items()]


class DhcpOptionsProvider(VpcProvider):

    @operation("CreateDhcpOptions")
    async def create_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        configuration = _configuration(list(params.get("DhcpConfigurations") or []))
        tags.check_tag_specifications(params.get("TagSpecifications"), ["dhcp-options"])
        async with self.cloud.sessions() as session, session.begin():
            row = DhcpOptionsRow(dhcp_options_id=ids.resource_id("dopt"), account_id=account,
                                 region=ctx.region, configuration=configuration)
            session.add(row)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "dhcp-options", [row.dhcp_options_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            found = await tags.tags_for(session, account, ctx.region, [row.dhcp_options_id])
        return {"DhcpOptions": dopt_shape(row, found.get(row.dhcp_options_id, []))}

    @operation("DescribeDhcpOptions")
    async def describe_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(DhcpOptionsRow).where(
                DhcpOptionsRow.account_id == account, DhcpOptionsRow.region == ctx.region
            ).order_by(DhcpOptionsRow.dhcp_options_id))).scalars())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.dhcp_options_id for r in rows])
        page, token = common.describe("DescribeDhcpOptions", params, rows, {
            "dhcp-options-id": lambda d: [d.dhcp_options_id],
            "owner-id": lambda d: [d.account_id],
            "key": lambda d: [c["Key"] for c in d.configuration],
            "value": lambda d: [v for c in d.configuration for v in c["Values"]],
        }, tag_map, lambda d: d.dhcp_options_id, "DhcpOptionsIds", DHCP_OPTIONS)
        return common.paged({"DhcpOptions": [
            dopt_shape(d, tag_map.get(d.dhcp_options_id, [])) for d in page]}, token)

    @operation("AssociateDhcpOptions")
    async def associate_dhcp_options(self, ctx: RequestContext,
                                     params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        wanted = str(common.required(params, "DhcpOptionsId"))
        async with self.cloud.sessions() as session, session.begin():
            vpc = await common.owned(session, VpcRow, VPC, account, ctx.region,
                                     common.required(params, "VpcId"))
            if wanted != "default":
                await common.owned(session, DhcpOptionsRow, DHCP_OPTIONS, account, ctx.region,
                                   wanted)
            vpc.dhcp_options_id = wanted
            await common.bump(session)
        self.changed()
        return {}

    @operation("DeleteDhcpOptions")
    async def delete_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        async with self.cloud.sessions() as session, session.begin():
            row = await common.owned(session, DhcpOptionsRow, DHCP_OPTIONS, account,
                                     ctx.region, common.required(params, "DhcpOptionsId"))
            if (await session.execute(select(VpcRow.vpc_id).where(
                    VpcRow.dhcp_options_id == row.dhcp_options_id).limit(1))).first():
                raise AwsError(f"The dhcpOptions '{row.dhcp_options_id}' has dependencies and "
                               "cannot be deleted.", code="DependencyViolation")
            await tags.delete_resource_tags(session, account, ctx.region,
                                            [row.dhcp_options_id])
            await session.delete(row)
        return {}
