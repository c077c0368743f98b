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
    from cloudctl.services.iam.credentials import IamCredentialStore
    from cloudctl.services.properties.provider import PropertiesProvider
    from cloudctl.services.sts.provider import StsProvider

    cloud.credentials = IamCredentialStore(cloud.sessions, cloud.secrets)
    cloud.authorizer = PolicyAuthorizer(cloud)
    from cloudctl.services.iam.install import IAM_PROVIDERS

    for iam_cls in IAM_PROVIDERS:
        cloud.add_provider(iam_cls(cloud))
    for provider_cls in (StsProvider, Ec2GeographyProvider, EmpyreanProvider, PropertiesProvider):
        cloud.add_provider(provider_cls(cloud))
    from cloudctl.services.s3.install import install as install_s3

    install_s3(cloud)
    from cloudctl.services.ec2.addresses import AddressesProvider
    from cloudctl.services.ec2.security_groups import SecurityGroupsProvider

    for network_cls in (SecurityGroupsProvider, AddressesProvider):  # EDGE networking
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


PRELOADED = ("cloudctl.services.authz", "cloudctl.services.ec2.geography",
             "cloudctl.services.empyrean.provider", "cloudctl.services.iam.credentials",
             "cloudctl.services.properties.provider", "cloudctl.services.sts.provider",
             "cloudctl.services.iam.install", "cloudctl.services.s3.install",
             "cloudctl.services.ec2.addresses", "cloudctl.services.ec2.security_groups",
             "cloudctl.services.ec2.compute", "cloudctl.services.ec2.snapshots",
             "cloudctl.services.ec2.volumes", "cloudctl.services.ec2.arns")
PRELOADED_MODELS = ("ec2", "iam", "sts", "s3")


def preload() -> None:
    """Import the providers :func:`assemble` installs and parse the service models they
    serve, in a parent before it forks its API workers: done once, and the pages are
    shared, instead of each worker doing it at once on the same cores."""
    import importlib

    from cloudctl.protocol.codec import service_model
    from cloudctl.services.ec2.compute import compute_providers

    for name in PRELOADED:
        importlib.import_module(name)
    compute_providers()  # imports its providers' modules
    for service in PRELOADED_MODELS:
        service_model(service)
