"""The AWS services' providers and the assembly of a running cloud from them.

``assemble`` is the one place that decides which providers, which credential
store and which authorizer a cloud process runs with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def assemble(cloud: Cloud) -> None:
    """Install identity, authorisation and every provider into ``cloud``."""
    from cloudctl.services.authz import PolicyAuthorizer
    from cloudctl.services.ec2.geography import Ec2GeographyProvider
    from cloudctl.services.empyrean.provider import EmpyreanProvider
    from cloudctl.services.iam import fastsql as iam_fastsql
    from cloudctl.services.iam.credentials import IamCredentialStore
    from cloudctl.services.properties.provider import PropertiesProvider
    from cloudctl.services.sts.federation import FederationProvider
    from cloudctl.services.sts.provider import StsProvider

    cloud.credentials = IamCredentialStore(cloud.sessions, cloud.secrets,
                                           fast=lambda: iam_fastsql.for_cloud(cloud))
    cloud.authorizer = PolicyAuthorizer(cloud)
    from cloudctl.services.iam.install import IAM_PROVIDERS

    for iam_cls in IAM_PROVIDERS:
        cloud.add_provider(iam_cls(cloud))
    for provider_cls in (StsProvider, FederationProvider, Ec2GeographyProvider, EmpyreanProvider, PropertiesProvider):
        cloud.add_provider(provider_cls(cloud))
    from cloudctl.services.s3.install import install as install_s3

    install_s3(cloud)
    from cloudctl.services.ec2.addresses import AddressesProvider
    from cloudctl.services.ec2.security_group_descriptions import (
        SecurityGroupDescriptionsProvider,
    )
    from cloudctl.services.ec2.security_groups import SecurityGroupsProvider

    for network_cls in (SecurityGroupsProvider, SecurityGroupDescriptionsProvider,
                        AddressesProvider):  # EDGE networking
        cloud.add_provider(network_cls(cloud))
    from cloudctl.services.ec2.compute import compute_providers

    for compute_cls in compute_providers():
        cloud.add_provider(compute_cls(cloud))
    from cloudctl.services.ec2.snapshots import SnapshotsProvider
    from cloudctl.services.ec2.volumes import VolumesProvider

    for ebs_cls in (VolumesProvider, SnapshotsProvider):
        cloud.add_provider(ebs_cls(cloud))
    from cloudctl.services.ec2 import arns as ec2_arns

    ec2_arns.install(cloud)  # EC2 resource ARNs and ec2:ResourceTag for IAM policies
