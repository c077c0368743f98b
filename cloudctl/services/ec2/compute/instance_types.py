"""Instance types: the 18 Eucalyptus legacy types and current AWS names, stored and
modifiable; DescribeInstanceTypes with the Eucalyptus per-zone capacity view and the
``ModifyInstanceTypeAttribute`` extension (``cloudctl/models/ec2/.../sdk-extras``).

``capacity_snapshot`` is the public view of node capacity the scheduler and
DescribeInstanceTypes share; ``get_type`` is the lookup RunInstances uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.db.upsert import insert_missing
from cloudctl.errors import AccessDenied, AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2.compute import nodes as nodes_mod
from cloudctl.services.ec2.compute.instance_models import InstanceType, usage_by_node
from cloudctl.services.ec2.compute.scheduler import (
    CPU_OVERCOMMIT_RATIO,
    NodeCapacity,
    offered_cores,
)
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.paging import paginate

DEFAULT_TYPE = registry.define(PropertyDef(
    "cloud.vmtypes.default_type_name", PropertyType.STRING, "m1.small",
    "Instance type of RunInstances calls that name none.",
))

# name, cpu, memory MiB, disk GiB (Eucalyptus 4.4 defaults for the legacy types)
LEGACY_TYPES: tuple[tuple[str, int, int, int], ...] = (
    ("t1.micro", 1, 256, 5), ("m1.small", 1, 256, 5), ("m1.medium", 1, 512, 10),
    ("c1.medium", 2, 512, 10), ("m1.large", 2, 512, 10), ("m1.xlarge", 2, 1024, 10),
    ("c1.xlarge", 2, 2048, 10), ("m2.xlarge", 2, 2048, 10), ("m3.xlarge", 4, 2048, 15),
    ("m2.2xlarge", 2, 4096, 30), ("m3.2xlarge", 4, 4096, 30), ("cc1.4xlarge", 8, 3072, 60),
    ("m2.4xlarge", 8, 4096, 60), ("hi1.4xlarge", 8, 6144, 120), ("cc2.8xlarge", 16, 6144, 120),
    ("cg1.4xlarge", 16, 12288, 200), ("cr1.8xlarge", 16, 16384, 240),
    ("hs1.8xlarge", 48, 119808, 24000),
)
CURRENT_TYPES: tuple[tuple[str, int, int, int], ...] = (
    ("t2.nano", 1, 512, 8), ("t2.micro", 1, 1024, 8), ("t2.small", 1, 2048, 8),
    ("t2.medium", 2, 4096, 8), ("t2.large", 2, 8192, 8),
    ("t3.nano", 2, 512, 8), ("t3.micro", 2, 1024, 8), ("t3.small", 2, 2048, 8),
    ("t3.medium", 2, 4096, 8), ("t3.large", 2, 8192, 8),
    ("m5.large", 2, 8192, 8), ("m5.xlarge", 4, 16384, 8), ("m5.2xlarge", 8, 32768, 8),
    ("c5.large", 2, 4096, 8), ("c5.xlarge", 4, 8192, 8), ("r5.large", 2, 16384, 8),
)
DEFAULTS = {name: (cpu, mem, disk) for name, cpu, mem, disk in LEGACY_TYPES + CURRENT_TYPES}


async def ensure_types(session: AsyncSession) -> None:
    """Insert the known types that are missing (idempotent, also when every worker of a
    fresh cloud runs it at once; never resets a modified type)."""
    existing = set((await session.execute(select(InstanceType.name))).scalars().all())
    legacy = {t[0] for t in LEGACY_TYPES}
    await insert_missing(session, InstanceType, [
        {"name": name, "cpu": cpu, "memory_mib": mem, "disk_gib": disk,
         "legacy": name in legacy, "position": position, "updated_at": utcnow()}
        for position, (name, cpu, mem, disk) in enumerate(LEGACY_TYPES + CURRENT_TYPES)
        if name not in existing])


async def get_type(session: AsyncSession, name: str) -> InstanceType:
    row = await session.get(InstanceType, name)
    if row is None:
        raise AwsError(f"The instance type '{name}' does not exist", code="InvalidParameterValue")
    return row


async def capacity_snapshot(session: AsyncSession, timeout_sec: int,
                            cpu_ratio: float = 1.0) -> list[NodeCapacity]:
    """Healthy nodes with what their live instances use; each offers its cores times
    ``cpu_ratio`` (the CPU overcommit), its memory as it is."""
    used = await usage_by_node(session)
    out = []
    for view in await nodes_mod.node_views(session, timeout_sec):
        if view.healthy:
            cores, mem = used.get(view.name, (0, 0))
            out.append(NodeCapacity(view.name, view.zone, offered_cores(view.cores, cpu_ratio),
                                    view.memory_mib, cores, mem))
    return out


def _settings(row: InstanceType) -> dict[str, Any]:
    return {"Name": row.name, "Cpu": row.cpu, "Memory": row.memory_mib, "Disk": row.disk_gib}


class InstanceTypesProvider(Provider):
    service = "ec2"

    async def start(self) -> None:
        async with self.cloud.sessions() as session, session.begin():
            await ensure_types(session)

    @operation("DescribeInstanceTypes")
    async def describe_instance_types(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        ctx.require_account()
        wanted = [str(n) for n in params.get("InstanceTypes") or []]
        verbose = "verbose" in wanted and is_cloud_admin(ctx)
        wanted = [n for n in wanted if n != "verbose"]
        zones = self.cloud.region_zones.get(ctx.region, [])
        timeout = int(self.cloud.properties.get(nodes_mod.HEARTBEAT_TIMEOUT))
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(
                select(InstanceType).order_by(InstanceType.position, InstanceType.name)
            )).scalars().all())
            ratio = float(self.cloud.properties.get(CPU_OVERCOMMIT_RATIO))
            capacity = await capacity_snapshot(session, timeout, ratio) if verbose else []
        known = {r.name for r in rows}
        for name in wanted:
            if name not in known:
                raise AwsError(f"The following supplied instance types do not exist: [{name}]",
                               code="InvalidInstanceType")
        if wanted:
            rows = [r for r in rows if r.name in wanted]
        items = []
        for r in rows:
            item: dict[str, Any] = {
                "InstanceType": r.name, "CurrentGeneration": not r.legacy,
                "FreeTierEligible": r.name in ("t1.micro", "t2.micro", "t3.micro"),
                "SupportedUsageClasses": ["on-demand"],
                "SupportedRootDeviceTypes": ["ebs", "instance-store"],
                "SupportedVirtualizationTypes": ["hvm", "paravirtual"],
                "BareMetal": False, "Hypervisor": "xen" if r.legacy else "nitro",
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "VCpuInfo": {"DefaultVCpus": r.cpu, "DefaultCores": r.cpu,
                             "DefaultThreadsPerCore": 1},
                "MemoryInfo": {"SizeInMiB": r.memory_mib},
                "InstanceStorageSupported": True,
                "InstanceStorageInfo": {"TotalSizeInGB": r.disk_gib},
                "DiskGiB": r.disk_gib,
            }
            if verbose:
                item["Availability"] = [{
                    "ZoneName": zone,
                    "Max": sum(n.total(r.cpu, r.memory_mib) for n in capacity if n.zone == zone),
                    "Available": sum(n.fits(r.cpu, r.memory_mib) for n in capacity
                                     if n.zone == zone),
                } for zone in zones]
            items.append(item)
        items = apply_filters(items, params.get("Filters"), {
            "instance-type": lambda i: [i["InstanceType"]],
            "current-generation": lambda i: [str(i["CurrentGeneration"]).lower()],
            "vcpu-info.default-vcpus": lambda i: [str(i["VCpuInfo"]["DefaultVCpus"])],
            "memory-info.size-in-mib": lambda i: [str(i["MemoryInfo"]["SizeInMiB"])],
            "free-tier-eligible": lambda i: [str(i["FreeTierEligible"]).lower()],
            "hypervisor": lambda i: [i["Hypervisor"]],
        })
        page, token = paginate("DescribeInstanceTypes", params, items,
                               lambda i: i["InstanceType"])
        result: Result = {"InstanceTypes": page}
        if token:
            result["NextToken"] = token
        return result

    @operation("ModifyInstanceTypeAttribute")
    async def modify_instance_type_attribute(self, ctx: RequestContext,
                                             params: dict[str, Any]) -> Result:
        if not is_cloud_admin(ctx):
            raise AccessDenied("Only the cloud administrator may modify instance types.")
        name = str(params.get("Name") or "")
        async with self.cloud.sessions() as session, session.begin():
            row = await get_type(session, name)
            previous = _settings(row)
            if params.get("Reset"):
                if name not in DEFAULTS:
                    raise AwsError(f"No default for {name}", code="InvalidParameterValue")
                row.cpu, row.memory_mib, row.disk_gib = DEFAULTS[name]
            for key, attr, low in (("Cpu", "cpu", 1), ("Memory", "memory_mib", 16),
                                   ("Disk", "disk_gib", 1)):
                value = params.get(key)
                if value is not None:
                    if int(value) < low:
                        raise AwsError(f"Value ({value}) for parameter {key} is invalid.",
                                       code="InvalidParameterValue")
                    setattr(row, attr, int(value))
            row.updated_at = utcnow()
            current = _settings(row)
        return {"Return": True, "InstanceType": current, "PreviousInstanceType": previous}
