"""A group's EC2 launch template: the version it names, resolved through EC2's API
(``$Default``, ``$Latest`` or a number), and the RunInstances members that launch it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.services.autoscaling.common import ValidationError
from cloudctl.services.ec2 import api_autoscaling as ec2

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def resolve(cloud: Cloud, account: str, region: str,
                  spec: dict[str, Any]) -> dict[str, Any]:
    """``{LaunchTemplateId, LaunchTemplateName, Version}`` with the version as a number."""
    version = str(spec.get("Version") or "$Default")
    try:
        found = await ec2.launch_template_version(
            cloud, account, region, template_id=spec.get("LaunchTemplateId"),
            template_name=None if spec.get("LaunchTemplateId") else spec.get(
                "LaunchTemplateName"), version=version)
    except AwsError as error:
        raise ValidationError(f"You must use a valid fully-formed launch template. "
                              f"{error.message}") from None
    return found


def run_params(resolved: dict[str, Any]) -> dict[str, Any]:
    """RunInstances' members launching the resolved template version."""
    return {"LaunchTemplate": {"LaunchTemplateId": resolved["LaunchTemplateId"],
                               "Version": str(resolved["VersionNumber"])}}
