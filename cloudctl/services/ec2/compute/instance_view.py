"""How an instance row looks on the wire (DescribeInstances ``Instance``) and which
filters DescribeInstances understands. No database access here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cloudctl.services.ec2.compute.dns_names import DnsNames
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.shared import tags

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
               "stopping": 64, "stopped": 80}
USER_SHUTDOWN = ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")


def user_initiated(now: datetime) -> str:
    return f"User initiated ({now.strftime('%Y-%m-%d %H:%M:%S')} GMT)"


def state(row: Instance) -> dict[str, Any]:
    return {"Code": STATE_CODES[row.state], "Name": row.state}


def groups(row: Instance) -> list[dict[str, str]]:
    names = row.security_group_names or []
    return [{"GroupId": gid if gid.startswith("sg-") else "",
             "GroupName": names[i] if i < len(names) and names[i] else gid}
            for i, gid in enumerate(row.security_group_ids or [])]


def instance_shape(row: Instance, tag_list: list[dict[str, str]],
                   names: DnsNames) -> dict[str, Any]:
    live = row.state not in ("terminated",)
    item: dict[str, Any] = {
        "InstanceId": row.instance_id, "ImageId": row.image_id, "State": state(row),
        "PrivateDnsName": names.private(row.private_ip) if live else "",
        "PublicDnsName": names.public(row.public_ip) if live and row.public_ip else "",
        "StateTransitionReason": row.transition_reason, "AmiLaunchIndex": row.launch_index,
        "ProductCodes": [], "InstanceType": row.instance_type, "LaunchTime": row.launch_time,
        "Placement": {"AvailabilityZone": row.zone, "GroupName": "", "Tenancy": "default"},
        "Monitoring": {"State": "disabled"}, "Architecture": "x86_64",
        "RootDeviceType": row.root_device_type, "RootDeviceName": row.root_device_name,
        "BlockDeviceMappings": [], "VirtualizationType": "paravirtual" if row.kernel_id else "hvm",
        "Hypervisor": "xen", "Tags": tag_list, "SecurityGroups": groups(row),
        "NetworkInterfaces": [], "EbsOptimized": False, "EnaSupport": False,
        "SourceDestCheck": True,
        "MetadataOptions": {"State": "applied", "HttpTokens": row.http_tokens,
                            "HttpPutResponseHopLimit": 1, "HttpEndpoint": row.http_endpoint},
    }
    if row.client_token:
        item["ClientToken"] = row.client_token
    if row.key_name:
        item["KeyName"] = row.key_name
    if row.kernel_id:
        item["KernelId"] = row.kernel_id
    if row.ramdisk_id:
        item["RamdiskId"] = row.ramdisk_id
    if live and row.private_ip:
        item["PrivateIpAddress"] = row.private_ip
    if live and row.public_ip:
        item["PublicIpAddress"] = row.public_ip
    if row.state_reason_code:
        item["StateReason"] = {"Code": row.state_reason_code,
                               "Message": row.state_reason_message}
    if row.iam_instance_profile:
        item["IamInstanceProfile"] = {"Arn": row.iam_instance_profile.get("Arn", ""),
                                      "Id": row.iam_instance_profile.get("Id", "")}
    return item


def extractors(tag_map: dict[str, list[dict[str, str]]],
               names: DnsNames) -> dict[str, Callable[[Instance], list[str]]]:
    def one(fn: Callable[[Instance], Any]) -> Callable[[Instance], list[str]]:
        def get(row: Instance) -> list[str]:
            value = fn(row)
            return [] if value is None else [str(value)]
        return get

    return {
        "instance-id": one(lambda r: r.instance_id),
        "instance-state-name": one(lambda r: r.state),
        "instance-state-code": one(lambda r: STATE_CODES[r.state]),
        "instance-type": one(lambda r: r.instance_type),
        "key-name": one(lambda r: r.key_name),
        "availability-zone": one(lambda r: r.zone),
        # a terminated instance has no addresses (its private one may be reused already)
        "private-ip-address": one(lambda r: r.private_ip if r.state != "terminated" else None),
        "ip-address": one(lambda r: r.public_ip if r.state != "terminated" else None),
        "private-dns-name": one(lambda r: names.private(r.private_ip)
                                if r.state != "terminated" else None),
        "dns-name": one(lambda r: names.public(r.public_ip)
                        if r.state != "terminated" and r.public_ip else None),
        "image-id": one(lambda r: r.image_id),
        "kernel-id": one(lambda r: r.kernel_id),
        "ramdisk-id": one(lambda r: r.ramdisk_id),
        "reservation-id": one(lambda r: r.reservation_id),
        "owner-id": one(lambda r: r.owner_id),
        "client-token": one(lambda r: r.client_token),
        "launch-index": one(lambda r: r.launch_index),
        "root-device-type": one(lambda r: r.root_device_type),
        "architecture": one(lambda r: "x86_64"),
        "iam-instance-profile.arn": one(lambda r: (r.iam_instance_profile or {}).get("Arn")),
        "instance.group-id": lambda r: list(r.security_group_ids or []),
        "instance.group-name": lambda r: list(r.security_group_names or []),
        "group-id": lambda r: list(r.security_group_ids or []),
        "group-name": lambda r: list(r.security_group_names or []),
        "metadata-options.http-tokens": one(lambda r: r.http_tokens),
        "node-name": one(lambda r: r.node),
        **tags.filter_extractors(lambda r: tag_map.get(r.instance_id, [])),
    }


def reservation_shape(rows: list[Instance], tag_map: dict[str, list[dict[str, str]]],
                      names: DnsNames) -> list[dict[str, Any]]:
    reservations: dict[str, dict[str, Any]] = {}
    for row in rows:
        res = reservations.get(row.reservation_id)
        if res is None:
            res = reservations[row.reservation_id] = {
                "ReservationId": row.reservation_id, "OwnerId": row.owner_id,
                "Groups": [], "Instances": []}
        res["Instances"].append(instance_shape(row, tag_map.get(row.instance_id, []), names))
    return list(reservations.values())
