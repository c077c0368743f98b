"""EC2's public API: elastic addresses.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import Tags, ec2_call, not_found, tag_specs

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def allocate_address(cloud: Cloud, caller: Caller, *, domain: str = "vpc",
                           tags: Tags | None = None) -> dict[str, Any]:
    return await ec2_call(cloud, caller, "AllocateAddress", {
        "Domain": domain, "TagSpecifications": tag_specs("elastic-ip", tags or [])})


async def release_address(cloud: Cloud, caller: Caller, *, allocation_id: str | None,
                          public_ip: str | None) -> None:
    params = {"AllocationId": allocation_id} if allocation_id else {"PublicIp": public_ip}
    try:
        await ec2_call(cloud, caller, "ReleaseAddress", params)
    except AwsError as error:
        if not not_found(error):
            raise


async def associate_address(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> str:
    """Associate an address (AssociateAddress's members); the association id, else the
    public ip (an EC2-Classic style address has no association id)."""
    found = await ec2_call(cloud, caller, "AssociateAddress", params)
    return str(found.get("AssociationId") or params.get("PublicIp") or "")


async def disassociate_address(cloud: Cloud, caller: Caller, association: str) -> None:
    params = ({"AssociationId": association} if association.startswith("eipassoc-")
              else {"PublicIp": association})
    try:
        await ec2_call(cloud, caller, "DisassociateAddress", params)
    except AwsError as error:
        if not (not_found(error) or error.code == "InvalidAssociationID.NotFound"):
            raise
