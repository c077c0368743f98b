"""Empyrean: the service topology (DescribeServices) as Eucalyptus admins know it.

Lists every user-facing service this cloud runs with its state and endpoint URI.
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation

# (component type, Eucalyptus path name, description)
API_SERVICES: tuple[tuple[str, str, str], ...] = (
    ("compute", "compute", "EC2: instances, images, volumes, networking"),
    ("euare", "Euare", "IAM: accounts, users, groups, roles, policies"),
    ("tokens", "Tokens", "STS: temporary credentials"),
    ("objectstorage", "objectstorage", "S3: buckets and objects"),
    ("loadbalancing", "LoadBalancing", "ELB: load balancers"),
    ("autoscaling", "AutoScaling", "Auto Scaling groups"),
    ("cloudwatch", "CloudWatch", "CloudWatch metrics and alarms"),
    ("cloudformation", "CloudFormation", "CloudFormation stacks"),
    ("properties", "Properties", "Cloud properties (admin)"),
    ("empyrean", "Empyrean", "Service topology (admin)"),
)


def service_statuses(cloud: Any, host: str) -> list[dict[str, Any]]:
    """Every service with its state; implemented services are ENABLED."""
    statuses = []
    region = cloud.region
    for kind, path, _desc in API_SERVICES:
        from cloudctl.server.router import EUCA_PATHS

        botocore_name = EUCA_PATHS[path.lower()]
        enabled = bool(cloud.handlers.get(botocore_name))
        statuses.append({
            "ServiceId": {
                "Type": kind, "Partition": region, "Name": f"{region}.{kind}",
                "FullName": f"arn:euca:bootstrap:{region}:{kind}:{region}.{kind}/",
                "Uri": f"http://{host}/services/{path}", "Uris": [f"http://{host}/services/{path}"],
            },
            "LocalState": "ENABLED" if enabled else "NOTREADY",
            "LocalEpoch": 0,
            "Details": [] if enabled else ["not yet implemented in this release"],
        })
    return statuses


class EmpyreanProvider(Provider):
    service = "empyrean"

    @operation("DescribeServices")
    async def describe_services(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        host = ctx.wire.header("Host") or "localhost:8773"
        statuses = service_statuses(self.cloud, host)
        by_type = params.get("ByServiceType")
        if by_type:
            statuses = [s for s in statuses if s["ServiceId"]["Type"] == by_type]
        by_state = params.get("ByState")
        if by_state:
            statuses = [s for s in statuses if s["LocalState"].lower() == by_state.lower()]
        by_partition = params.get("ByPartition")
        if by_partition:
            statuses = [s for s in statuses if s["ServiceId"]["Partition"] == by_partition]
        names = params.get("ServiceNames") or []
        if names:
            known = {s["ServiceId"]["Name"] for s in statuses}
            missing = [n for n in names if n not in known]
            if missing:
                raise AwsError(f"No such service: {missing[0]}", code="InvalidParameterValue")
            statuses = [s for s in statuses if s["ServiceId"]["Name"] in names]
        return {"ServiceStatuses": statuses}

    @operation("DescribeAvailableServiceTypes")
    async def describe_available_service_types(self, ctx: RequestContext,
                                               params: dict[str, Any]) -> Result:
        return {"Available": [{"ComponentName": kind, "Description": desc, "Public": True}
                              for kind, _path, desc in API_SERVICES]}
