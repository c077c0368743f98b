"""What Auto Scaling needs from EC2, as typed functions (never EC2's tables from outside).

Every call runs EC2's own handler for the operation as the group's account (Auto
Scaling's service-linked role acts for the account in AWS), so a launch is exactly a
RunInstances: same validation, same placement, same ``ClientToken`` idempotency.

- ``run_instance(cloud, account, region, params, token, zone, system_tags)``: one
  instance, idempotent by ``token`` (a retry after a crash finds the same instance);
  ``run_instances(..., token, zone, count, system_tags)``: up to ``count`` in one call;
  the ``aws:`` tags (``aws:autoscaling:groupName``) are written past the user check;
- ``instance_states(cloud, account, region, ids)``: id -> ``Observed`` (missing ids
  are absent: terminated long ago or never launched);
- ``terminate_instances(cloud, account, region, ids)``: ids that are gone are ignored;
- ``zones(cloud, region)``: the region's availability zones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.auth.credentials import Credential
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest
from cloudctl.server.context import RequestContext

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["Observed", "image_exists", "image_of", "instance_states", "run_instance",
           "launch_template_version", "run_instances", "subnet_zones", "tag_instances",
           "terminate_instances", "zones"]


@dataclass(frozen=True)
class Observed:
    """An instance as Auto Scaling sees it."""

    instance_id: str
    state: str  # pending | running | shutting-down | terminated | stopping | stopped
    zone: str
    instance_type: str
    launch_time: datetime | None


def _context(account: str, region: str, operation: str) -> RequestContext:
    credential = Credential(access_key_id="autoscaling-service", secret_access_key="",
                            account_id=account, principal_arn=f"arn:aws:iam::{account}:root",
                            user_id=account, principal_type="root")
    ctx = RequestContext(request_id=str(uuid.uuid4()), service="ec2", operation=operation,
                         region=region, credential=credential,
                         wire=WireRequest(method="POST", path="/", raw_query="", headers={}),
                         source_ip="127.0.0.1")
    ctx.extra["called_via"] = "autoscaling.amazonaws.com"
    return ctx


async def _call(cloud: Cloud, account: str, region: str, operation: str,
                params: dict[str, Any]) -> dict[str, Any]:
    handler = cloud.handler("ec2", operation)
    if handler is None:
        raise AwsError("EC2 is not installed in this cloud", code="ValidationError")
    return await handler(_context(account, region, operation), params)


def zones(cloud: Cloud, region: str) -> list[str]:
    return list(cloud.region_zones.get(region, []))


async def run_instance(cloud: Cloud, account: str, region: str, params: dict[str, Any],
                       token: str, zone: str | None,
                       system_tags: dict[str, str]) -> str:
    """Launch one instance of RunInstances' ``params`` in ``zone``, idempotent by ``token``."""
    return (await run_instances(cloud, account, region, params, token, zone, 1,
                                system_tags))[0]


async def run_instances(cloud: Cloud, account: str, region: str, params: dict[str, Any],
                        token: str, zone: str | None, count: int,
                        system_tags: dict[str, str]) -> list[str]:
    """Launch up to ``count`` instances of ``params`` in ``zone`` in one RunInstances
    (``MinCount`` 1: as many as there is room for), idempotent by ``token`` (a retry
    with it answers the same reservation); their ids in launch index order."""
    request = dict(params, MinCount=1, MaxCount=count, ClientToken=token)
    if zone:
        request["Placement"] = dict(request.get("Placement") or {}, AvailabilityZone=zone)
    found = await _call(cloud, account, region, "RunInstances", request)
    launched = sorted(found["Instances"], key=lambda item: int(item.get("AmiLaunchIndex", 0)))
    iids = [str(item["InstanceId"]) for item in launched]
    if system_tags:
        await _system_tags(cloud, account, region, iids, system_tags)
    return iids


async def _system_tags(cloud: Cloud, account: str, region: str, iids: list[str],
                       tags: dict[str, str]) -> None:
    from cloudctl.services.ec2.shared.tags import Tag

    async with cloud.sessions() as session, session.begin():
        rows = {(r.resource_id, r.key): r for r in (await session.execute(select(Tag).where(
            Tag.account_id == account, Tag.region == region,
            Tag.resource_id.in_(iids), Tag.key.in_(list(tags))))).scalars()}
        for iid in iids:
            for key, value in tags.items():
                row = rows.get((iid, key))
                if row is None:
                    session.add(Tag(account_id=account, region=region, resource_id=iid,
                                    key=key, value=value, resource_type="instance"))
                else:
                    row.value = value


async def instance_states(cloud: Cloud, account: str, region: str,
                          ids: list[str]) -> dict[str, Observed]:
    """What DescribeInstances would say of these ids' state, zone, type and launch time,
    read as one query of those columns (a group's every sync asks this of all its
    instances: the full answer of DescribeInstances is 1-2 ms an instance)."""
    from cloudctl.services.ec2.compute.instance_models import Instance

    if not ids:
        return {}
    async with cloud.sessions() as session:
        rows = (await session.execute(select(
            Instance.instance_id, Instance.state, Instance.zone, Instance.instance_type,
            Instance.launch_time).where(
            Instance.account_id == account, Instance.region == region,
            Instance.instance_id.in_(sorted(set(ids)))))).all()
    return {iid: Observed(instance_id=iid, state=state, zone=zone, instance_type=itype,
                          launch_time=launched)
            for iid, state, zone, itype, launched in rows}


async def terminate_instances(cloud: Cloud, account: str, region: str,
                              ids: list[str]) -> None:
    live = await instance_states(cloud, account, region, ids)
    todo = sorted(i for i, o in live.items() if o.state != "terminated")
    if todo:
        await _call(cloud, account, region, "TerminateInstances", {"InstanceIds": todo})


async def image_exists(cloud: Cloud, account: str, region: str, image_id: str) -> bool:
    try:
        found = await _call(cloud, account, region, "DescribeImages", {"ImageIds": [image_id]})
    except AwsError as error:
        if error.code.startswith("InvalidAMIID"):
            return False
        raise
    return bool(found.get("Images"))


async def image_of(cloud: Cloud, account: str, region: str, instance_id: str) -> str:
    found = await _call(cloud, account, region, "DescribeInstances",
                        {"InstanceIds": [instance_id]})
    for reservation in found.get("Reservations") or []:
        for item in reservation.get("Instances") or []:
            return str(item.get("ImageId", ""))
    return ""


async def subnet_zones(cloud: Cloud, account: str, region: str,
                       subnet_ids: list[str]) -> dict[str, str] | None:
    """Subnet id -> its zone for the subnets that exist; None when this cloud's EC2
    has no subnets (no DescribeSubnets): the caller then knows zones only."""
    if cloud.handler("ec2", "DescribeSubnets") is None:
        return None
    found = await _call(cloud, account, region, "DescribeSubnets",
                        {"Filters": [{"Name": "subnet-id", "Values": sorted(subnet_ids)}]})
    return {s["SubnetId"]: s["AvailabilityZone"] for s in found.get("Subnets") or []}


async def launch_template_version(cloud: Cloud, account: str, region: str, *,
                                  template_id: str | None, template_name: str | None,
                                  version: str) -> dict[str, Any]:
    """DescribeLaunchTemplateVersions' item for one version (``$Default``, ``$Latest`` or
    a number) of a template named by id or name; the operation's error when missing."""
    if cloud.handler("ec2", "DescribeLaunchTemplateVersions") is None:
        raise AwsError("Launch templates are not available in this cloud.",
                       code="InvalidLaunchTemplateId.NotFound")
    params: dict[str, Any] = {"Versions": [version]}
    if template_id:
        params["LaunchTemplateId"] = template_id
    else:
        params["LaunchTemplateName"] = template_name
    found = await _call(cloud, account, region, "DescribeLaunchTemplateVersions", params)
    versions = found.get("LaunchTemplateVersions") or []
    if not versions:
        raise AwsError(f"The specified launch template version {version} does not exist.",
                       code="InvalidLaunchTemplateId.VersionNotFound")
    return dict(versions[0])


async def tag_instances(cloud: Cloud, account: str, region: str, ids: list[str],
                        system_tags: dict[str, str]) -> None:
    """Set ``aws:`` tags (an attached instance's group name) on instances."""
    if ids:
        await _system_tags(cloud, account, region, list(ids), system_tags)
