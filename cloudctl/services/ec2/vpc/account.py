"""DescribeAccountAttributes: ``supported-platforms`` (``VPC`` in VPC mode; ``EC2`` and
``VPC`` in EDGE mode, as an EC2-Classic account showed) and ``default-vpc`` (its id,
or ``none``), with the per-account limits clients read."""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.ec2.vpc import build, common
from cloudctl.services.ec2.vpc.base import VpcProvider

NAMES = ("supported-platforms", "default-vpc", "max-instances", "max-elastic-ips",
         "vpc-max-elastic-ips", "vpc-max-security-groups-per-interface")


class AccountAttributesProvider(VpcProvider):

    @operation("DescribeAccountAttributes")
    async def describe_account_attributes(self, ctx: RequestContext,
                                          params: dict[str, Any]) -> Result:
        account = await self.account(ctx)
        wanted = list(params.get("AttributeNames") or NAMES)
        for name in wanted:
            if name not in NAMES:
                raise AwsError(f"Value ({name}) for parameter attributeName is invalid.",
                               code="InvalidParameterValue")
        async with self.cloud.sessions() as session:
            vpc = await build.find_default_vpc(session, account, ctx.region)
        platforms = ["VPC"] if common.network_mode(self.cloud) == "VPC" else ["EC2", "VPC"]
        values: dict[str, list[str]] = {
            "supported-platforms": platforms,
            "default-vpc": [vpc.vpc_id if vpc is not None else "none"],
            "max-instances": ["20"], "max-elastic-ips": ["5"], "vpc-max-elastic-ips": ["5"],
            "vpc-max-security-groups-per-interface": ["5"]}
        return {"AccountAttributes": [
            {"AttributeName": name,
             "AttributeValues": [{"AttributeValue": v} for v in values[name]]}
            for name in wanted]}
