"""EC2's public API: key pairs.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import Tags, ec2_call, not_found, tag_specs

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def create_key_pair(cloud: Cloud, caller: Caller, name: str, *, key_type: str = "rsa",
                          tags: Tags | None = None) -> dict[str, Any]:
    return await ec2_call(cloud, caller, "CreateKeyPair", {
        "KeyName": name, "KeyType": key_type,
        "TagSpecifications": tag_specs("key-pair", tags or [])})


async def import_key_pair(cloud: Cloud, caller: Caller, name: str, public_key: str,
                          tags: Tags | None = None) -> dict[str, Any]:
    return await ec2_call(cloud, caller, "ImportKeyPair", {
        "KeyName": name, "PublicKeyMaterial": public_key.encode(),
        "TagSpecifications": tag_specs("key-pair", tags or [])})


async def key_pair(cloud: Cloud, caller: Caller, name: str) -> dict[str, Any] | None:
    try:
        found = await ec2_call(cloud, caller, "DescribeKeyPairs", {"KeyNames": [name]})
    except AwsError as error:
        if not_found(error):
            return None
        raise
    pairs = found.get("KeyPairs") or []
    return dict(pairs[0]) if pairs else None


async def delete_key_pair(cloud: Cloud, caller: Caller, name: str) -> None:
    await ec2_call(cloud, caller, "DeleteKeyPair", {"KeyName": name})
