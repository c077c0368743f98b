"""One instance's metadata tree, user data and identity document. No I/O here.

The tree is nested dicts whose leaves are strings; a directory lists its children
(sub-directories with a trailing ``/``), as EC2 does. ``identity_document`` is
the JSON EC2 serves under ``dynamic/instance-identity/document``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cloudctl.services.ec2.compute.dns_names import DnsNames
from cloudctl.services.ec2.compute.instance_models import Instance

Tree = dict[str, Any]


def build_tree(row: Instance, names: DnsNames, iam: Tree | None = None) -> Tree:
    hostname = names.private(row.private_ip)
    groups = [n or g for g, n in zip(row.security_group_ids or [],
                                     (row.security_group_names or []) + [""] * 64, strict=False)]
    group_ids = [g for g in row.security_group_ids or [] if g.startswith("sg-")]
    mac_dir: Tree = {
        "device-number": "0", "interface-id": "", "local-hostname": hostname,
        "local-ipv4s": row.private_ip or "", "mac": row.mac,
        "public-hostname": names.public(row.public_ip),
        "public-ipv4s": row.public_ip or "", "security-groups": "\n".join(groups),
        "security-group-ids": "\n".join(group_ids), "owner-id": row.owner_id,
    }
    mac_dir = {k: v for k, v in mac_dir.items() if v != ""}
    bdm: Tree = {"ami": "/dev/sda1", "root": row.root_device_name}
    index = 0
    for mapping in row.block_device_mappings or []:
        virtual = str(mapping.get("VirtualName") or "")
        if virtual.startswith("ephemeral"):
            bdm[virtual] = str(mapping.get("DeviceName", "")).removeprefix("/dev/")
        elif mapping.get("Ebs"):
            index += 1
            bdm[f"ebs{index}"] = str(mapping.get("DeviceName", "")).removeprefix("/dev/")
    tree: Tree = {
        "ami-id": row.image_id, "ami-launch-index": str(row.launch_index),
        "ami-manifest-path": "(unknown)", "block-device-mapping": bdm,
        "hostname": hostname, "instance-action": "none", "instance-id": row.instance_id,
        "instance-type": row.instance_type, "local-hostname": hostname,
        "local-ipv4": row.private_ip or "", "mac": row.mac,
        "network": {"interfaces": {"macs": {row.mac: mac_dir}}},
        "placement": {"availability-zone": row.zone, "region": row.region},
        "reservation-id": row.reservation_id, "security-groups": "\n".join(groups),
        "services": {"domain": "amazonaws.com", "partition": "aws"},
    }
    if row.kernel_id:
        tree["kernel-id"] = row.kernel_id
    if row.ramdisk_id:
        tree["ramdisk-id"] = row.ramdisk_id
    if row.public_ip:
        tree["public-ipv4"] = row.public_ip
        tree["public-hostname"] = names.public(row.public_ip)
    if row.public_key and row.key_name:
        tree["public-keys"] = {f"0={row.key_name}": {"openssh-key": row.public_key + "\n"}}
    if iam:
        tree["iam"] = iam
    return tree


def lookup(tree: Tree, parts: list[str]) -> Any:
    """The node at ``parts`` (``public-keys/0`` also finds ``0=name``), or None."""
    node: Any = tree
    for part in parts:
        if not isinstance(node, dict):
            return None
        if part in node:
            node = node[part]
            continue
        alias = next((k for k in node if k.split("=", 1)[0] == part and "=" in k), None)
        if alias is None:
            return None
        node = node[alias]
    return node


def listing(node: dict[str, Any]) -> str:
    return "\n".join(f"{k}/" if isinstance(v, dict) and "=" not in k else k
                     for k, v in node.items())


def identity_document(row: Instance) -> dict[str, Any]:
    return {
        "accountId": row.account_id, "architecture": "x86_64",
        "availabilityZone": row.zone, "billingProducts": None, "devpayProductCodes": None,
        "marketplaceProductCodes": None, "imageId": row.image_id,
        "instanceId": row.instance_id, "instanceType": row.instance_type,
        "kernelId": row.kernel_id, "ramdiskId": row.ramdisk_id,
        "pendingTime": row.launch_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "privateIp": row.private_ip, "region": row.region, "version": "2017-09-30",
    }


def document_bytes(row: Instance) -> bytes:
    return json.dumps(identity_document(row), indent=2).encode()


def user_data(row: Instance) -> bytes | None:
    if not row.user_data:
        return None
    return base64.b64decode(row.user_data)
