"""VPC link resource types: NetworkInterfaceAttachment and VPCPeeringConnection, by
their EC2 operations called as the stack's principal (``cloudctl.server.internal``;
the EC2 ``api`` module has no functions for them).

An attachment is ready when the interface reports it ``attached``; a resumed create
adopts the interface's attachment to the same instance and index. A peering connection
within one account is accepted by the stack (as CloudFormation does) and ready when
``active``; to another account it is ready once requested (``pending-acceptance``). A
resumed create adopts the connection between the same VPCs carrying the stack's tags.
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import call
from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.resources.base import Act, Outcome, ResourceType
from cloudctl.services.cloudformation.resources.ec2 import _system_tags, _tags
from cloudctl.services.cloudformation.resources.vpc import _TaggedVpcObject
from cloudctl.services.ec2 import api as ec2


async def _ec2(act: Act, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    return await call(act.cloud, act.caller, "ec2", operation, params)


def _gone(error: AwsError) -> bool:
    return error.code.endswith("NotFound") or error.code == "InvalidStateTransition"


class NetworkInterfaceAttachment(ResourceType):
    type_name = "AWS::EC2::NetworkInterfaceAttachment"
    updatable = frozenset({"DeleteOnTermination"})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        eni_id, instance_id = str(props["NetworkInterfaceId"]), str(props["InstanceId"])
        index = int(props["DeviceIndex"])
        attachment = None
        try:
            found = await _ec2(act, "AttachNetworkInterface", {
                "NetworkInterfaceId": eni_id, "InstanceId": instance_id, "DeviceIndex": index})
            attachment = str(found["AttachmentId"])
        except AwsError as error:
            current = (await ec2.network_interface(act.cloud, act.caller, eni_id) or {}).get(
                "Attachment") or {}
            if not (act.resumed and error.code == "InvalidNetworkInterface.InUse" and
                    current.get("InstanceId") == instance_id and
                    current.get("DeviceIndex") == index):
                raise
            attachment = str(current["AttachmentId"])
        await self._delete_on_termination(act, eni_id, attachment, props)
        return Outcome(attachment, {"AttachmentId": attachment, "eni": eni_id})

    @staticmethod
    async def _delete_on_termination(act: Act, eni_id: str, attachment: str,
                                     props: dict[str, Any]) -> None:
        keep = props.get("DeleteOnTermination", True)
        await _ec2(act, "ModifyNetworkInterfaceAttribute", {
            "NetworkInterfaceId": eni_id, "Attachment": {
                "AttachmentId": attachment, "DeleteOnTermination": bool(keep)}})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.network_interface(act.cloud, act.caller, attributes["eni"])
        state = ((found or {}).get("Attachment") or {})
        if state.get("AttachmentId") != physical_id:
            raise ResourceFailure(f"Network interface {attributes['eni']} is no longer "
                                  f"attached ({physical_id})")
        return attributes if state.get("Status") == "attached" else None

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._delete_on_termination(act, attributes["eni"], physical_id, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        try:
            await _ec2(act, "DetachNetworkInterface", {"AttachmentId": physical_id})
        except AwsError as error:
            if not _gone(error):
                raise

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        found = await ec2.network_interface(act.cloud, act.caller, attributes["eni"])
        return ((found or {}).get("Attachment") or {}).get("AttachmentId") != physical_id


class VPCPeeringConnection(_TaggedVpcObject):
    type_name = "AWS::EC2::VPCPeeringConnection"

    async def _find(self, act: Act, props: dict[str, Any]) -> str | None:
        found = await _ec2(act, "DescribeVpcPeeringConnections", {"Filters": [
            {"Name": "requester-vpc-info.vpc-id", "Values": [str(props["VpcId"])]},
            {"Name": "accepter-vpc-info.vpc-id", "Values": [str(props["PeerVpcId"])]},
            {"Name": "tag:aws:cloudformation:stack-id", "Values": [act.stack_id]},
            {"Name": "tag:aws:cloudformation:logical-id", "Values": [act.logical_id]}]})
        live = [c for c in found.get("VpcPeeringConnections") or []
                if c.get("Status", {}).get("Code") not in ("deleted", "rejected", "failed")]
        return str(live[0]["VpcPeeringConnectionId"]) if live else None

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        pcx_id = await self._find(act, props) if act.resumed else None
        if pcx_id is None:
            params: dict[str, Any] = {"VpcId": props["VpcId"], "PeerVpcId": props["PeerVpcId"]}
            for key in ("PeerOwnerId", "PeerRegion"):
                if props.get(key):
                    params[key] = props[key]
            tags = _tags(act, props)
            if tags:
                params["TagSpecifications"] = [{"ResourceType": "vpc-peering-connection",
                                                "Tags": tags}]
            made = await _ec2(act, "CreateVpcPeeringConnection", params)
            pcx_id = str(made["VpcPeeringConnection"]["VpcPeeringConnectionId"])
        await _system_tags(act, pcx_id)
        if str(props.get("PeerOwnerId") or act.account_id) == act.account_id:
            try:
                await _ec2(act, "AcceptVpcPeeringConnection",
                           {"VpcPeeringConnectionId": pcx_id})
            except AwsError as error:
                if error.code != "InvalidStateTransition":
                    raise
        return Outcome(pcx_id, {"Id": pcx_id})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await _ec2(act, "DescribeVpcPeeringConnections",
                           {"VpcPeeringConnectionIds": [physical_id]})
        items = found.get("VpcPeeringConnections") or []
        status = items[0].get("Status", {}) if items else {"Code": "deleted"}
        code = status.get("Code")
        if code in ("active", "pending-acceptance"):
            return attributes
        if code in ("failed", "rejected", "deleted", "expired"):
            raise ResourceFailure(f"VPC peering connection {physical_id} is {code}: "
                                  f"{status.get('Message', '')}".rstrip(": "))
        return None

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        # one already deleted, rejected or expired answers InvalidStateTransition
        try:
            await _ec2(act, "DeleteVpcPeeringConnection", {"VpcPeeringConnectionId":
                                                           physical_id})
        except AwsError as error:
            if not _gone(error):
                raise


TYPES: tuple[type[ResourceType], ...] = (NetworkInterfaceAttachment, VPCPeeringConnection)
