"""EC2 resource types: SecurityGroup (+Ingress/Egress), KeyPair, Volume,
VolumeAttachment, EIP, EIPAssociation, Instance, over ``cloudctl.services.ec2.api``.

Readiness is the real one: an instance ``running``, a volume ``available``, an
attachment ``attached``; deletion waits for ``terminated``/gone. Creations are
idempotent by ClientToken (instances, volumes) or by the physical name derived from
the token (security groups).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.resources.base import (
    Act,
    NeedsReplacement,
    Outcome,
    ResourceType,
    resumed_exists,
)
from cloudctl.services.ec2 import api as ec2

ALL_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def _tags(act: Act, props: dict[str, Any]) -> list[dict[str, str]]:
    """The resource's tags and the stack's (the ``aws:cloudformation:*`` ones follow
    through ``_system_tags``: a user cannot set them)."""
    return list(props.get("Tags") or []) + act.user_tags()


async def _system_tags(act: Act, resource_id: str) -> None:
    await ec2.system_tags(act.cloud, act.caller, [resource_id],
                          [t for t in act.tags if t["Key"].startswith("aws:")])


def _permission(rule: dict[str, Any], egress: bool) -> dict[str, Any]:
    """A template rule as an ``IpPermission``."""
    protocol = str(rule["IpProtocol"])
    out: dict[str, Any] = {"IpProtocol": protocol}
    if protocol not in ("-1", "all"):
        if "FromPort" in rule:
            out["FromPort"] = int(rule["FromPort"])
        if "ToPort" in rule:
            out["ToPort"] = int(rule["ToPort"])
    extra = {"Description": rule["Description"]} if rule.get("Description") else {}
    if rule.get("CidrIp"):
        out["IpRanges"] = [{"CidrIp": rule["CidrIp"], **extra}]
    if rule.get("CidrIpv6"):
        out["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **extra}]
    peer = rule.get("DestinationSecurityGroupId" if egress else "SourceSecurityGroupId")
    peer_name = None if egress else rule.get("SourceSecurityGroupName")
    if peer or peer_name:
        pair: dict[str, Any] = dict(extra)
        if peer:
            pair["GroupId"] = peer
        if peer_name:
            pair["GroupName"] = peer_name
        if rule.get("SourceSecurityGroupOwnerId"):
            pair["UserId"] = rule["SourceSecurityGroupOwnerId"]
        out["UserIdGroupPairs"] = [pair]
    return out


_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}


def _rule_keys(permission: dict[str, Any]) -> list[dict[str, Any]]:
    """An ``IpPermission`` as template rules, one per peer (drift comparison)."""
    protocol = str(permission.get("IpProtocol", "-1")).lower()
    protocol = _PROTOCOLS.get(protocol, protocol)
    head: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != "-1":
        head["FromPort"] = int(permission.get("FromPort", -1))
        head["ToPort"] = int(permission.get("ToPort", -1))
    out = [dict(head, CidrIp=r["CidrIp"]) for r in permission.get("IpRanges") or []]
    out += [dict(head, CidrIpv6=r["CidrIpv6"]) for r in permission.get("Ipv6Ranges") or []]
    out += [dict(head, Peer=p.get("GroupId") or p.get("GroupName"))
            for p in permission.get("UserIdGroupPairs") or []]
    return out


def _rules(permissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [rule for permission in permissions for rule in _rule_keys(permission)]
    return sorted(found, key=lambda rule: sorted((k, str(v)) for k, v in rule.items()))


def _undeleted(physical_id: str, error: AwsError) -> BaseException:
    """A group's deletion refused: a dependent object in AWS's handler's words."""
    if error.code == "DependencyViolation":
        return ResourceFailure(f"resource {physical_id} has a dependent object "
                               f"(Service: AmazonEC2; Error Code: DependencyViolation)")
    return error


class SecurityGroup(ResourceType):
    type_name = "AWS::EC2::SecurityGroup"
    extra_attributes = frozenset({"VpcId"})
    updatable = frozenset({"SecurityGroupIngress", "SecurityGroupEgress", "Tags"})
    takes_tags = True
    drift_keys = ("GroupDescription", "SecurityGroupIngress")

    def comparable(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"GroupDescription": props.get("GroupDescription"),
                "SecurityGroupIngress": _rules([_permission(r, False) for r in
                                                props.get("SecurityGroupIngress") or []])}

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.security_group(act.cloud, act.caller, group_id=physical_id)
        if found is None:
            return None
        return {"GroupDescription": found.get("Description"),
                "SecurityGroupIngress": _rules(found.get("IpPermissions") or [])}

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("GroupName") or act.physical_name(255)
        try:
            group_id = await ec2.create_security_group(
                act.cloud, act.caller, name=name, description=props["GroupDescription"],
                vpc_id=props.get("VpcId"), tags=_tags(act, props))
            vpc_id = str(props.get("VpcId") or "")  # the group is in the VPC it was given
        except AwsError as error:
            found = await ec2.security_group(act.cloud, act.caller, name=name) \
                if resumed_exists(act, error, "InvalidGroup.Duplicate") else None
            if found is None:
                raise
            group_id, vpc_id = found["GroupId"], str(found.get("VpcId") or "")
        await _system_tags(act, group_id)
        await self._rules(act, group_id, {}, props, fresh=True)
        attributes = {"GroupId": group_id, "Id": group_id, "VpcId": vpc_id,
                      "GroupName": name, "vpc": bool(props.get("VpcId"))}
        return Outcome(group_id, attributes)

    async def create_many(self, acts: Sequence[Act], props: Sequence[dict[str, Any]]
                          ) -> list[Outcome | BaseException]:
        """Groups outside a VPC, on their first attempt, in one ``CreateSecurityGroup``
        transaction of their service (``ec2.create_security_groups``) with their stack
        tags; their rules after, each group's own. The others (a VPC's, a resumed
        attempt that may adopt its group) as ``create``."""
        together = [i for i, (act, p) in enumerate(zip(acts, props, strict=True))
                    if not act.resumed and not p.get("VpcId")]
        if len(together) < 2:
            return await super().create_many(acts, props)
        names = [props[i].get("GroupName") or acts[i].physical_name(255) for i in together]
        made = await ec2.create_security_groups(acts[0].cloud, acts[0].caller, [
            ec2.NewGroup(name, str(props[i]["GroupDescription"]), _tags(acts[i], props[i]),
                         [t for t in acts[i].tags if t["Key"].startswith("aws:")])
            for i, name in zip(together, names, strict=True)])
        out: list[Outcome | BaseException | None] = [None] * len(acts)
        rest = [i for i in range(len(acts)) if i not in set(together)]
        for i, result in zip(rest, await super().create_many(
                [acts[i] for i in rest], [props[i] for i in rest]), strict=True):
            out[i] = result
        finished = await asyncio.gather(*(
            self._made(acts[i], props[i], name, result)
            for i, name, result in zip(together, names, made, strict=True)))
        for i, outcome in zip(together, finished, strict=True):
            out[i] = outcome
        return [o for o in out if o is not None]

    async def _made(self, act: Act, props: dict[str, Any], name: str,
                    group_id: str | AwsError) -> Outcome | BaseException:
        """A group of a batch, made (its rules, its attributes), or its error."""
        if isinstance(group_id, AwsError):
            return group_id
        try:
            await self._rules(act, group_id, {}, props, fresh=True)
        except AwsError as error:
            return error
        return Outcome(group_id, {"GroupId": group_id, "Id": group_id, "VpcId": "",
                                  "GroupName": name, "vpc": False})

    async def _rules(self, act: Act, group_id: str, old: dict[str, Any],
                     new: dict[str, Any], fresh: bool = False) -> None:
        cloud, caller = act.cloud, act.caller
        for key, egress in (("SecurityGroupIngress", False), ("SecurityGroupEgress", True)):
            before = [_permission(r, egress) for r in old.get(key) or []]
            after = [_permission(r, egress) for r in new.get(key) or []]
            if egress and fresh and after:
                await ec2.revoke_egress(cloud, caller, group_id, [ALL_EGRESS])
            gone = [p for p in before if p not in after]
            added = [p for p in after if p not in before]
            revoke = ec2.revoke_egress if egress else ec2.revoke_ingress
            authorize = ec2.authorize_egress if egress else ec2.authorize_ingress
            if gone:
                await revoke(cloud, caller, group_id, gone)
            for permission in added:
                try:
                    await authorize(cloud, caller, group_id, [permission])
                except AwsError as error:
                    if error.code != "InvalidPermission.Duplicate":
                        raise

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._rules(act, physical_id, old, new)
        if old.get("Tags") != new.get("Tags") and new.get("Tags"):
            await ec2.create_tags(act.cloud, act.caller, [physical_id], new["Tags"])
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        try:
            await ec2.delete_security_group(act.cloud, act.caller, physical_id)
        except AwsError as error:
            raise _undeleted(physical_id, error) from None

    async def delete_many(self, acts: Sequence[Act], physical_ids: Sequence[str],
                          props: Sequence[dict[str, Any]],
                          attributes: Sequence[dict[str, Any]]) -> list[BaseException | None]:
        """The groups in one ``DeleteSecurityGroup`` transaction of EC2
        (``ec2.delete_security_groups``), each failing as ``delete`` would."""
        if len(acts) < 2:
            return await super().delete_many(acts, physical_ids, props, attributes)
        done = await ec2.delete_security_groups(acts[0].cloud, acts[0].caller, physical_ids)
        return [None if error is None else _undeleted(physical_id, error)
                for physical_id, error in zip(physical_ids, done, strict=True)]

    def ref(self, physical_id: str, attributes: dict[str, Any]) -> Any:
        if attributes.get("vpc", True):
            return physical_id
        return attributes.get("GroupName", physical_id)


class _Rule(ResourceType):
    egress = False
    updatable = frozenset({"Description"})

    async def _group(self, act: Act, props: dict[str, Any]) -> str:
        if props.get("GroupId"):
            return str(props["GroupId"])
        found = await ec2.security_group(act.cloud, act.caller, name=props.get("GroupName"))
        if found is None:
            raise ResourceFailure(f"The security group '{props.get('GroupName')}' does "
                                  f"not exist")
        return str(found["GroupId"])

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        group_id = await self._group(act, props)
        authorize = ec2.authorize_egress if self.egress else ec2.authorize_ingress
        try:
            await authorize(act.cloud, act.caller, group_id, [_permission(props, self.egress)])
        except AwsError as error:
            if not resumed_exists(act, error, "InvalidPermission.Duplicate"):
                raise
        rule_id = "sgr-" + hashlib.sha256(act.token.encode()).hexdigest()[:17]
        return Outcome(rule_id, {"Id": rule_id, "GroupId": group_id})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        return attributes  # a description only: the rule stays

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        group_id = attributes.get("GroupId") or props.get("GroupId")
        if not group_id:
            return
        revoke = ec2.revoke_egress if self.egress else ec2.revoke_ingress
        await revoke(act.cloud, act.caller, str(group_id), [_permission(props, self.egress)])


class SecurityGroupIngress(_Rule):
    type_name = "AWS::EC2::SecurityGroupIngress"


class SecurityGroupEgress(_Rule):
    type_name = "AWS::EC2::SecurityGroupEgress"
    egress = True


class KeyPair(ResourceType):
    type_name = "AWS::EC2::KeyPair"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props["KeyName"]
        try:
            if props.get("PublicKeyMaterial"):
                made = await ec2.import_key_pair(act.cloud, act.caller, name,
                                                 props["PublicKeyMaterial"], _tags(act, props))
            else:
                made = await ec2.create_key_pair(act.cloud, act.caller, name,
                                                 key_type=props.get("KeyType") or "rsa",
                                                 tags=_tags(act, props))
        except AwsError as error:
            found = await ec2.key_pair(act.cloud, act.caller, name) \
                if resumed_exists(act, error, "InvalidKeyPair.Duplicate") else None
            if found is None:
                raise
            made = found
        return Outcome(name, {"KeyFingerprint": made.get("KeyFingerprint", ""),
                              "KeyPairId": made.get("KeyPairId", "")})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_key_pair(act.cloud, act.caller, physical_id)


class Volume(ResourceType):
    type_name = "AWS::EC2::Volume"
    takes_tags = True
    drift_keys = ("Size", "VolumeType", "AvailabilityZone")

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.volume(act.cloud, act.caller, physical_id)
        if found is None or found.get("State") in ("deleting", "deleted"):
            return None
        return {"Size": found.get("Size"), "VolumeType": found.get("VolumeType"),
                "AvailabilityZone": found.get("AvailabilityZone")}

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        size = props.get("Size")
        volume_id = await ec2.create_volume(
            act.cloud, act.caller, zone=props["AvailabilityZone"],
            size=int(size) if size is not None else None, snapshot_id=props.get("SnapshotId"),
            volume_type=props.get("VolumeType"),
            iops=int(props["Iops"]) if props.get("Iops") else None,
            token=act.token, tags=_tags(act, props))
        await _system_tags(act, volume_id)
        return Outcome(volume_id, {"VolumeId": volume_id})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.volume(act.cloud, act.caller, physical_id)
        state = found["State"] if found else "missing"
        if state in ("available", "in-use"):
            return attributes
        if state in ("error", "missing", "deleting", "deleted"):
            raise ResourceFailure(f"Volume {physical_id} is in state {state}")
        return None

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
        if changed - {"Tags"}:
            raise NeedsReplacement()
        if new.get("Tags"):
            await ec2.create_tags(act.cloud, act.caller, [physical_id], new["Tags"])
        return attributes

    async def snapshot(self, act: Act, physical_id: str) -> None:
        await ec2.create_snapshot(act.cloud, act.caller, physical_id,
                                  f"Created by CloudFormation stack {act.stack_id} "
                                  f"({act.logical_id})")

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_volume(act.cloud, act.caller, physical_id)

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        return await ec2.volume(act.cloud, act.caller, physical_id) is None


class VolumeAttachment(ResourceType):
    type_name = "AWS::EC2::VolumeAttachment"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        found = await ec2.volume(act.cloud, act.caller, props["VolumeId"])
        attached = [a for a in (found or {}).get("Attachments") or []
                    if a.get("InstanceId") == props["InstanceId"]]
        if not attached:
            await ec2.attach_volume(act.cloud, act.caller, props["VolumeId"],
                                    props["InstanceId"], props["Device"])
        return Outcome(f"{props['VolumeId']}", {"InstanceId": props["InstanceId"]})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.volume(act.cloud, act.caller, physical_id)
        states = [a.get("State") for a in (found or {}).get("Attachments") or []]
        if "attached" in states:
            return attributes
        if found is None or (not states and found.get("State") == "available"):
            raise ResourceFailure(f"Volume {physical_id} failed to attach")
        return None

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.detach_volume(act.cloud, act.caller, physical_id,
                                str(attributes.get("InstanceId") or props.get("InstanceId")))

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        found = await ec2.volume(act.cloud, act.caller, physical_id)
        return found is None or not found.get("Attachments")


class EIP(ResourceType):
    type_name = "AWS::EC2::EIP"
    updatable = frozenset({"InstanceId", "Tags"})
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        made = await ec2.allocate_address(act.cloud, act.caller,
                                          domain=props.get("Domain") or "vpc",
                                          tags=_tags(act, props))
        attributes = {"PublicIp": made["PublicIp"],
                      "AllocationId": made.get("AllocationId", "")}
        if props.get("InstanceId"):
            await self._associate(act, attributes, props["InstanceId"])
        return Outcome(made["PublicIp"], attributes)

    async def _associate(self, act: Act, attributes: dict[str, Any], instance: str) -> None:
        params = ({"AllocationId": attributes["AllocationId"]} if attributes["AllocationId"]
                  else {"PublicIp": attributes["PublicIp"]})
        attributes["Association"] = await ec2.associate_address(
            act.cloud, act.caller, dict(params, InstanceId=instance))

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        attributes = dict(attributes)
        if old.get("InstanceId") != new.get("InstanceId"):
            if attributes.get("Association"):
                await ec2.disassociate_address(act.cloud, act.caller,
                                               attributes.pop("Association"))
            if new.get("InstanceId"):
                await self._associate(act, attributes, new["InstanceId"])
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        if attributes.get("Association"):
            await ec2.disassociate_address(act.cloud, act.caller, attributes["Association"])
        await ec2.release_address(act.cloud, act.caller,
                                  allocation_id=attributes.get("AllocationId") or None,
                                  public_ip=physical_id)


class EIPAssociation(ResourceType):
    type_name = "AWS::EC2::EIPAssociation"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        params: dict[str, Any] = {}
        for src, dst in (("AllocationId", "AllocationId"), ("EIP", "PublicIp"),
                         ("InstanceId", "InstanceId"),
                         ("NetworkInterfaceId", "NetworkInterfaceId"),
                         ("PrivateIpAddress", "PrivateIpAddress")):
            if props.get(src):
                params[dst] = props[src]
        association = await ec2.associate_address(act.cloud, act.caller, params)
        return Outcome(association, {"Id": association})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.disassociate_address(act.cloud, act.caller, physical_id)


_RUN_KEYS = ("ImageId", "InstanceType", "KeyName", "SecurityGroups", "SecurityGroupIds",
             "SubnetId", "UserData", "KernelId", "RamdiskId", "PrivateIpAddress",
             "DisableApiTermination", "InstanceInitiatedShutdownBehavior", "EbsOptimized")


class Instance(ResourceType):
    type_name = "AWS::EC2::Instance"
    extra_attributes = frozenset({"AvailabilityZone"})
    updatable = frozenset({"Tags"})
    takes_tags = True
    drift_keys = ("InstanceType", "ImageId")

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.instance(act.cloud, act.caller, physical_id)
        if found is None or found.get("State", {}).get("Name") in ("shutting-down",
                                                                   "terminated"):
            return None
        return {"InstanceType": found.get("InstanceType"), "ImageId": found.get("ImageId")}

    def _request(self, act: Act, props: dict[str, Any]) -> dict[str, Any]:
        request = {key: props[key] for key in _RUN_KEYS if key in props}
        if props.get("AvailabilityZone"):
            request["Placement"] = {"AvailabilityZone": props["AvailabilityZone"]}
        if props.get("IamInstanceProfile"):
            profile = str(props["IamInstanceProfile"])
            request["IamInstanceProfile"] = ({"Arn": profile} if profile.startswith("arn:")
                                             else {"Name": profile})
        if props.get("BlockDeviceMappings"):
            request["BlockDeviceMappings"] = props["BlockDeviceMappings"]
        if "Monitoring" in props:
            request["Monitoring"] = {"Enabled": bool(props["Monitoring"])}
        tags = _tags(act, props)
        if tags:
            request["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        return request

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        instance_id = await ec2.run_instance(act.cloud, act.caller,
                                             self._request(act, props), act.token)
        await _system_tags(act, instance_id)
        return Outcome(instance_id, {"InstanceId": instance_id,
                                     "Volumes": props.get("Volumes") or []})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.instance(act.cloud, act.caller, physical_id)
        state = (found or {}).get("State", {}).get("Name", "missing")
        if state in ("pending",):
            return None
        if state != "running":
            reason = (found or {}).get("StateReason", {}).get("Message", state)
            raise ResourceFailure(f"Instance {physical_id} did not stabilize: {reason}")
        assert found is not None
        for volume in attributes.get("Volumes") or []:
            current = await ec2.volume(act.cloud, act.caller, volume["VolumeId"])
            if current and not current.get("Attachments"):
                await ec2.attach_volume(act.cloud, act.caller, volume["VolumeId"],
                                        physical_id, volume["Device"])
        return {"InstanceId": physical_id,
                "AvailabilityZone": found.get("Placement", {}).get("AvailabilityZone", ""),
                "PrivateDnsName": found.get("PrivateDnsName", ""),
                "PrivateIp": found.get("PrivateIpAddress", ""),
                "PublicDnsName": found.get("PublicDnsName", ""),
                "PublicIp": found.get("PublicIpAddress", ""),
                "VpcId": found.get("VpcId", ""), "State": {"Name": state},
                "Volumes": attributes.get("Volumes") or []}

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        if new.get("Tags"):
            await ec2.create_tags(act.cloud, act.caller, [physical_id], new["Tags"])
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.terminate_instance(act.cloud, act.caller, physical_id)

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        found = await ec2.instance(act.cloud, act.caller, physical_id)
        return found is None or found.get("State", {}).get("Name") == "terminated"


TYPES: tuple[type[ResourceType], ...] = (SecurityGroup, SecurityGroupIngress,
                                         SecurityGroupEgress, KeyPair, Volume,
                                         VolumeAttachment, EIP, EIPAssociation, Instance)
