"""The compute part of EC2: which providers it runs (one list, so the shared
EC2's ``ServiceSpec`` needs a single line for all of them).

Compute owns key pairs, tags, instance types, nodes, the scheduler, images,
instances, their controller and the instance metadata service.
"""

from __future__ import annotations

from cloudctl.server.providers import Provider


def compute_providers() -> list[type[Provider]]:
    """Every compute provider class, in registration order."""
    from cloudctl.services.ec2.compute.instance_actions import InstanceActionsProvider
    from cloudctl.services.ec2.compute.instance_types import InstanceTypesProvider
    from cloudctl.services.ec2.compute.instance_volumes import InstanceImagesProvider
    from cloudctl.services.ec2.compute.instances import InstancesProvider
    from cloudctl.services.ec2.compute.keypairs import KeyPairsProvider
    from cloudctl.services.ec2.compute.launch_templates import LaunchTemplatesProvider
    from cloudctl.services.ec2.compute.monitoring import MonitoringProvider
    from cloudctl.services.ec2.ebs.volume_attach import VolumeAttachProvider
    from cloudctl.services.ec2.images.copy import ImageCopyProvider
    from cloudctl.services.ec2.images.images import ImagesProvider
    from cloudctl.services.ec2.metadata.server import MetadataProvider
    from cloudctl.services.ec2.shared.tags import TagsProvider

    providers: list[type[Provider]] = [TagsProvider, KeyPairsProvider, InstanceTypesProvider,
                                       ImagesProvider, InstancesProvider,
                                       InstanceActionsProvider, MetadataProvider,
                                       VolumeAttachProvider, InstanceImagesProvider,
                                       ImageCopyProvider, MonitoringProvider,
                                       LaunchTemplatesProvider]
    return providers
