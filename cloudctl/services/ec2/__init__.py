"""EC2: compute (instances, images, key pairs, nodes), EBS (volumes, snapshots) and EDGE
networking (security groups, addresses), with the block storage, metadata and network
packages that carry them out (``cloudctl.services.storage``, ``.metadata``, ``.network``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.providers import Provider


def _install(cloud: Cloud) -> None:
    from cloudctl.services.ec2 import arns
    from cloudctl.services.ec2.addresses import AddressesProvider
    from cloudctl.services.ec2.compute import compute_providers
    from cloudctl.services.ec2.geography import Ec2GeographyProvider
    from cloudctl.services.ec2.security_group_descriptions import (
        SecurityGroupDescriptionsProvider,
    )
    from cloudctl.services.ec2.security_groups import SecurityGroupsProvider
    from cloudctl.services.ec2.snapshots import SnapshotsProvider
    from cloudctl.services.ec2.volumes import VolumesProvider

    providers: list[type[Provider]] = [Ec2GeographyProvider, SecurityGroupsProvider,
                                       SecurityGroupDescriptionsProvider, AddressesProvider,
                                       *compute_providers(), VolumesProvider,
                                       SnapshotsProvider]
    from cloudctl.services.ec2 import vpc  # VPC: cloudctl.services.ec2.vpc

    providers += vpc.providers()
    for provider_cls in providers:
        cloud.add_provider(provider_cls(cloud))
    arns.install(cloud)  # EC2 resource ARNs and ec2:ResourceTag for IAM policies


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.ec2 import compute_models, ebs_models
    from cloudctl.services.ec2.vpc import models as vpc_models
    from cloudctl.services.network import models as network_models

    return (*compute_models.COMPUTE_TABLES, *ebs_models.EBS_TABLES,
            *network_models.NETWORK_TABLES, *vpc_models.VPC_TABLES)


SERVICE = ServiceSpec("ec2", _install, tables=_tables)
