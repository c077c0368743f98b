"""The resource types the cloud serves, by type name (thin adapters over each
service's ``api`` module); ``adapter(type)`` is None for a type it does not serve."""

from __future__ import annotations

from cloudctl.services.cloudformation.resources import (
    autoscaling,
    cloudwatch,
    ec2,
    elb,
    iam,
    nested,
    s3,
    signals,
    vpc,
    vpc_links,
)
from cloudctl.services.cloudformation.resources.base import ResourceType

_MODULES = (iam, s3, ec2, signals, vpc, elb, autoscaling, cloudwatch, nested,
            vpc_links)
_TYPES: dict[str, ResourceType] = {
    cls.type_name: cls() for module in _MODULES for cls in module.TYPES}


def adapter(type_name: str) -> ResourceType | None:
    return _TYPES.get(type_name)


def served() -> list[str]:
    return sorted(_TYPES)
