"""EC2 regions and availability zones (DescribeRegions, DescribeAvailabilityZones).

Filters and the Eucalyptus ``verbose`` pseudo-zone for administrators follow the
EC2 API reference; unknown names answer ``InvalidParameterValue`` as EC2 does.
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.geography import zone_id


class Ec2GeographyProvider(Provider):
    service = "ec2"

    @operation("DescribeRegions")
    async def describe_regions(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        host = ctx.wire.header("Host") or "localhost:8773"
        regions: list[dict[str, Any]] = [{"RegionName": name, "Endpoint": host, "OptInStatus": "opt-in-not-required"}
                   for name in sorted({self.cloud.region, *self.cloud.region_zones})]
        names = params.get("RegionNames") or []
        if names:
            known = {r["RegionName"] for r in regions}
            for name in names:
                if name not in known:
                    raise AwsError(f"Invalid region: {name}", code="InvalidParameterValue")
            regions = [r for r in regions if r["RegionName"] in names]
        regions = apply_filters(regions, params.get("Filters"), {
            "endpoint": lambda r: [r["Endpoint"]],
            "region-name": lambda r: [r["RegionName"]],
            "opt-in-status": lambda r: [r["OptInStatus"]],
        })
        return {"Regions": regions}

    @operation("DescribeAvailabilityZones")
    async def describe_availability_zones(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        region = ctx.region if ctx.region in self.cloud.region_zones else self.cloud.region
        names: list[str] = list(params.get("ZoneNames") or [])
        verbose = "verbose" in names and is_cloud_admin(ctx)
        names = [n for n in names if n != "verbose"]
        zones: list[dict[str, Any]] = []
        for index, name in enumerate(self.cloud.region_zones.get(region, [])):
            messages = []
            if verbose:
                messages = [{"Message": f"zone {name}: region {region}, services enabled"}]
            zones.append({
                "ZoneName": name, "ZoneId": zone_id(region, index), "State": "available",
                "RegionName": region, "ZoneType": "availability-zone",
                "OptInStatus": "opt-in-not-required", "GroupName": region,
                "NetworkBorderGroup": region, "Messages": messages,
            })
        if names:
            known = {z["ZoneName"] for z in zones} | {z["ZoneId"] for z in zones}
            for name in names:
                if name not in known:
                    raise AwsError(f"The zone '{name}' does not exist.",
                                   code="InvalidParameterValue")
            zones = [z for z in zones if z["ZoneName"] in names or z["ZoneId"] in names]
        zone_ids = params.get("ZoneIds") or []
        if zone_ids:
            zones = [z for z in zones if z["ZoneId"] in zone_ids]
        zones = apply_filters(zones, params.get("Filters"), {
            "zone-name": lambda z: [z["ZoneName"]],
            "zone-id": lambda z: [z["ZoneId"]],
            "region-name": lambda z: [z["RegionName"]],
            "state": lambda z: [z["State"]],
            "zone-type": lambda z: [z["ZoneType"]],
            "group-name": lambda z: [z["GroupName"]],
            "opt-in-status": lambda z: [z["OptInStatus"]],
            "message": lambda z: [m["Message"] for m in z["Messages"]],
        })
        return {"AvailabilityZones": zones}
