"""The one list of the cloud's services, and what is read from it.

``SERVICES`` is the order of assembly: the geography (zones, a start-up task) and
identity first (every other service authorises through them), then the services.
``assemble(cloud)`` installs them all; ``metadata()`` is every table (alembic, tests).
Adding a service is one line here (see docs/DEVELOPING.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import MetaData

from cloudctl.server import spec
from cloudctl.services import (
    autoscaling,
    cloudformation,
    cloudwatch,
    ec2,
    elb,
    empyrean,
    geography,
    iam,
    properties,
    s3,
    sts,
)

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

SERVICES: tuple[spec.ServiceSpec, ...] = (
    geography.SERVICE,
    iam.SERVICE,
    sts.SERVICE,
    properties.SERVICE,
    empyrean.SERVICE,
    s3.SERVICE,
    ec2.SERVICE,
    cloudwatch.SERVICE,
    elb.SERVICE,
    autoscaling.SERVICE,
    cloudformation.SERVICE,
)


def assemble(cloud: Cloud) -> None:
    """Install every service into ``cloud`` (the composition root ``cloudctl up`` uses)."""
    spec.assemble(cloud, SERVICES)


def metadata() -> MetaData:
    """The metadata of every table of the cloud (the services' and the core's)."""
    from cloudctl.db.base import Base
    from cloudctl.properties.models import PropertyValue

    tables = [PropertyValue]
    for service in SERVICES:
        tables += list(service.tables())
    assert all(t.metadata is Base.metadata for t in tables)
    return Base.metadata


def preload() -> None:
    """Import every service's modules and parse the models they serve, in a parent
    before it forks its API workers: done once, the pages shared, instead of each worker
    doing it at the same time on the same cores."""
    import importlib
    import pkgutil

    import cloudctl.services
    from cloudctl.protocol.codec import service_model

    for info in pkgutil.walk_packages(cloudctl.services.__path__, "cloudctl.services."):
        importlib.import_module(info.name)
    for service in ("ec2", "iam", "sts", "s3", "cloudwatch", "elb", "autoscaling",
                    "cloudformation"):
        service_model(service)
