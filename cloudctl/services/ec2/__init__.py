"""EC2, one subpackage per resource family: ``shared`` (resource registry, ARNs, tags,
filters, geography), ``compute`` (instances and their launch workflow, types, key pairs,
nodes, the instance controller), ``images``, ``ebs`` (volumes, snapshots, and ``storage``
that carries them out), ``network`` (security groups, addresses, an instance's network)
and ``metadata`` (the instance metadata service). The EDGE data plane they feed is
``cloudctl.services.network``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.providers import Provider


def _install(cloud: Cloud) -> None:
    from cloudctl.services.ec2.compute.providers import compute_providers
    from cloudctl.services.ec2.ebs.snapshots import SnapshotsProvider
    from cloudctl.services.ec2.ebs.volumes import VolumesProvider
    from cloudctl.services.ec2.network.addresses import AddressesProvider
    from cloudctl.services.ec2.network.security_group_descriptions import (
        SecurityGroupDescriptionsProvider,
    )
    from cloudctl.services.ec2.network.security_groups import SecurityGroupsProvider
    from cloudctl.services.ec2.network.view_feed import Ec2ViewFeed
    from cloudctl.services.ec2.shared import arns
    from cloudctl.services.ec2.shared.geography import Ec2GeographyProvider
    from cloudctl.services.network.feed import add_feed

    providers: list[type[Provider]] = [Ec2GeographyProvider, SecurityGroupsProvider,
                                       SecurityGroupDescriptionsProvider, AddressesProvider,
                                       *compute_providers(), VolumesProvider,
                                       SnapshotsProvider]
    from cloudctl.services.ec2 import vpc  # VPC: cloudctl.services.ec2.vpc

    providers += vpc.providers()
    for provider_cls in providers:
        cloud.add_provider(provider_cls(cloud))
    arns.install(cloud)  # EC2 resource ARNs and ec2:ResourceTag for IAM policies
    add_feed(cloud, Ec2ViewFeed())  # security groups and addresses for the network view


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.ec2.compute import models as compute_models
    from cloudctl.services.ec2.ebs import models as ebs_models
    from cloudctl.services.ec2.vpc import models as vpc_models
    from cloudctl.services.network import models as network_models

    return (*compute_models.COMPUTE_TABLES, *ebs_models.EBS_TABLES,
            *network_models.NETWORK_TABLES, *vpc_models.VPC_TABLES)


SERVICE = ServiceSpec("ec2", _install, tables=_tables)
