"""The compute tables, listed for EC2's ``ServiceSpec`` (the table registry, alembic)."""

from __future__ import annotations

from cloudctl.services.ec2.compute.instance_models import Instance, InstanceType
from cloudctl.services.ec2.compute.keypairs import KeyPair
from cloudctl.services.ec2.compute.launch_template_models import (
    LaunchTemplate,
    LaunchTemplateVersion,
)
from cloudctl.services.ec2.compute.monitoring_models import InstanceMonitoring
from cloudctl.services.ec2.compute.nodes import Node
from cloudctl.services.ec2.images.images import Image, LaunchPermission
from cloudctl.services.ec2.shared.tags import Tag

COMPUTE_TABLES = (Tag, KeyPair, InstanceType, Node, Image, LaunchPermission, Instance,
                  InstanceMonitoring, LaunchTemplate, LaunchTemplateVersion)

__all__ = ["COMPUTE_TABLES", "Image", "Instance", "InstanceMonitoring", "InstanceType", "KeyPair",
           "LaunchPermission", "LaunchTemplate", "LaunchTemplateVersion", "Node", "Tag"]
