"""The compute tables, listed for EC2's ``ServiceSpec`` (the table registry, alembic)."""

from __future__ import annotations

from cloudctl.services.ec2.images import Image, LaunchPermission
from cloudctl.services.ec2.instance_models import Instance, InstanceType
from cloudctl.services.ec2.keypairs import KeyPair
from cloudctl.services.ec2.monitoring_models import InstanceMonitoring
from cloudctl.services.ec2.nodes import Node
from cloudctl.services.ec2.tags import Tag

COMPUTE_TABLES = (Tag, KeyPair, InstanceType, Node, Image, LaunchPermission, Instance,
                  InstanceMonitoring)

__all__ = ["COMPUTE_TABLES", "Image", "Instance", "InstanceMonitoring", "InstanceType", "KeyPair",
           "LaunchPermission", "Node", "Tag"]
