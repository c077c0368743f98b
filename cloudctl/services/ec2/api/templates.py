"""EC2's public API: launch templates and their versions.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import ec2_call, not_found

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def create_launch_template(cloud: Cloud, caller: Caller,
                                 params: dict[str, Any]) -> dict[str, Any]:
    """CreateLaunchTemplate with its request parameters; its ``LaunchTemplate``."""
    found = await ec2_call(cloud, caller, "CreateLaunchTemplate", params)
    return dict(found["LaunchTemplate"])


async def create_launch_template_version(cloud: Cloud, caller: Caller, template_id: str,
                                         data: dict[str, Any],
                                         description: str | None = None) -> int:
    """A new version of the template; its number."""
    params: dict[str, Any] = {"LaunchTemplateId": template_id, "LaunchTemplateData": data}
    if description:
        params["VersionDescription"] = description
    found = await ec2_call(cloud, caller, "CreateLaunchTemplateVersion", params)
    return int(found["LaunchTemplateVersion"]["VersionNumber"])


async def set_default_launch_template_version(cloud: Cloud, caller: Caller,
                                              template_id: str, version: int) -> None:
    await ec2_call(cloud, caller, "ModifyLaunchTemplate",
               {"LaunchTemplateId": template_id, "DefaultVersion": str(version)})


async def delete_launch_template(cloud: Cloud, caller: Caller, template_id: str) -> None:
    """Delete the template; one already gone is not an error."""
    try:
        await ec2_call(cloud, caller, "DeleteLaunchTemplate", {"LaunchTemplateId": template_id})
    except AwsError as error:
        if not (not_found(error) or "NotFound" in error.code):
            raise
