"""A group's settings: validation of Create/UpdateAutoScalingGroup's members into the
group's definition, and the group as DescribeAutoScalingGroups shows it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Row

from cloudctl.services.autoscaling.common import ValidationError, loads
from cloudctl.services.autoscaling.models import AsGroup, AsInstance

DEFAULT_COOLDOWN = 300
DEFAULT_GRACE = 0  # the API's default (the console's is 300)
TERMINATION_POLICIES = ("OldestInstance", "NewestInstance", "OldestLaunchConfiguration",
                        "ClosestToNextInstanceHour", "Default", "OldestLaunchTemplate",
                        "AllocationStrategy")
PROCESSES = ("Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance",
             "AlarmNotification", "ScheduledActions", "AddToLoadBalancer",
             "InstanceRefresh")
METRICS = ("GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
           "GroupPendingInstances", "GroupStandbyInstances", "GroupTerminatingInstances",
           "GroupTotalInstances", "GroupInServiceCapacity", "GroupPendingCapacity",
           "GroupStandbyCapacity", "GroupTerminatingCapacity", "GroupTotalCapacity")
SETTINGS = ("LaunchConfigurationName", "LaunchTemplate", "DefaultCooldown",
            "AvailabilityZones", "LoadBalancerNames", "TargetGroupARNs", "HealthCheckType",
            "HealthCheckGracePeriod", "VPCZoneIdentifier", "TerminationPolicies",
            "NewInstancesProtectedFromScaleIn", "MaxInstanceLifetime", "CapacityRebalance",
            "DefaultInstanceWarmup", "PlacementGroup")
SHOWN = SETTINGS + ("SuspendedProcesses", "EnabledMetrics")


def check_sizes(min_size: int, max_size: int, desired: int | None) -> None:
    if min_size < 0 or max_size < 0:
        raise ValidationError("Min and Max bounds must be non-negative.")
    if max_size < min_size:
        raise ValidationError(f"Max bound, {max_size}, must be greater than or equal to min "
                              f"bound, {min_size}")
    if desired is not None and not min_size <= desired <= max_size:
        raise ValidationError(f"Desired capacity:{desired} must be between the specified min "
                              f"size:{min_size} and max size:{max_size}")


def settings(params: dict[str, Any], current: dict[str, Any] | None,
             region_zones: list[str]) -> dict[str, Any]:
    """The definition after applying ``params`` (Create: ``current`` None)."""
    out = dict(current or {"DefaultCooldown": DEFAULT_COOLDOWN, "HealthCheckType": "EC2",
                           "HealthCheckGracePeriod": DEFAULT_GRACE,
                           "TerminationPolicies": ["Default"], "LoadBalancerNames": [],
                           "TargetGroupARNs": [], "NewInstancesProtectedFromScaleIn": False,
                           "SuspendedProcesses": [], "EnabledMetrics": [], "Tags": [],
                           "AvailabilityZones": [], "VPCZoneIdentifier": ""})
    for member in SETTINGS:
        if params.get(member) is not None:
            out[member] = params[member]
    if params.get("LaunchConfigurationName"):
        out.pop("LaunchTemplate", None)
    elif params.get("LaunchTemplate"):
        out.pop("LaunchConfigurationName", None)
    if params.get("MixedInstancesPolicy"):
        raise ValidationError("MixedInstancesPolicy is not supported by this cloud; use a "
                              "LaunchTemplate or a LaunchConfigurationName.")
    if not out.get("LaunchConfigurationName") and not out.get("LaunchTemplate"):
        raise ValidationError("Valid requests must contain either LaunchTemplate, "
                              "LaunchConfigurationName, InstanceId or MixedInstancesPolicy "
                              "parameter.")
    template = params.get("LaunchTemplate")
    if template is not None and not (template.get("LaunchTemplateId")
                                     or template.get("LaunchTemplateName")):
        raise ValidationError("Valid requests must contain either launchTemplateId or "
                              "LaunchTemplateName")
    if out["HealthCheckType"] not in ("EC2", "ELB"):
        raise ValidationError(f"Health check type {out['HealthCheckType']} is not valid; "
                              "EC2 or ELB.")
    if int(out["DefaultCooldown"]) < 0 or int(out["HealthCheckGracePeriod"]) < 0:
        raise ValidationError("DefaultCooldown and HealthCheckGracePeriod must be "
                              "non-negative.")
    for policy in out["TerminationPolicies"]:
        if policy not in TERMINATION_POLICIES:
            raise ValidationError(f"Termination policy {policy} is not valid.")
    zones = [str(z) for z in out.get("AvailabilityZones") or []]
    for zone in zones:
        if zone not in region_zones:
            raise ValidationError(f"The availability zone '{zone}' is not legal")
    if len(set(zones)) != len(zones):
        raise ValidationError("The list of AvailabilityZones must not contain duplicates.")
    if not zones and not out.get("VPCZoneIdentifier"):
        raise ValidationError("At least one Availability Zone or VPC Subnet is required.")
    return out


def subnets(definition: dict[str, Any]) -> list[str]:
    return [s.strip() for s in str(definition.get("VPCZoneIdentifier") or "").split(",")
            if s.strip()]


#: what DescribeAutoScalingGroups reads of a group and of its instances (plain rows,
#: no ORM objects: ``group_view`` and ``instance_view`` take either)
GROUP_COLUMNS = (AsGroup.arn, AsGroup.name, AsGroup.account_id, AsGroup.min_size,
                 AsGroup.max_size, AsGroup.desired, AsGroup.created_at, AsGroup.status,
                 AsGroup.definition)
INSTANCE_COLUMNS = (AsInstance.group_arn, AsInstance.instance_id, AsInstance.instance_type,
                    AsInstance.zone, AsInstance.lifecycle_state, AsInstance.health,
                    AsInstance.protected, AsInstance.launch_source)


@lru_cache(maxsize=1024)
def _source_view(launch_source: str) -> dict[str, Any]:
    """The launch configuration or template an instance was launched from, as the
    instance's members show it (parsed once per distinct source: a group's instances
    share a handful; a shared, read-only dict)."""
    source = loads(launch_source)
    return {member: source[member] for member in ("LaunchConfigurationName",
                                                   "LaunchTemplate") if member in source}


def launch_name(instance: AsInstance | Row[Any]) -> dict[str, Any]:
    return dict(_source_view(instance.launch_source))


def instance_view(instance: AsInstance | Row[Any],
                  group_name: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "InstanceId": instance.instance_id, "InstanceType": instance.instance_type,
        "AvailabilityZone": instance.zone, "LifecycleState": instance.lifecycle_state,
        "HealthStatus": instance.health, "ProtectedFromScaleIn": instance.protected}
    item.update(_source_view(instance.launch_source))
    if group_name is not None:
        item["AutoScalingGroupName"] = group_name
        item["HealthStatus"] = instance.health.upper()
    return item


@lru_cache(maxsize=4096)
def _shown_settings(definition: str, group_name: str) -> dict[str, Any]:
    """The members of a group's definition that DescribeAutoScalingGroups shows (a
    shared, read-only dict: a listing parses each group's definition once while it is
    unchanged)."""
    settings_ = loads(definition)
    shown = {member: settings_[member] for member in SHOWN if member in settings_}
    shown["Tags"] = [dict(t, ResourceId=group_name, ResourceType="auto-scaling-group")
                     for t in settings_.get("Tags") or []]
    return shown


def group_view(group: AsGroup | Row[Any],
               instances: Sequence[AsInstance | Row[Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "AutoScalingGroupName": group.name, "AutoScalingGroupARN": group.arn,
        "MinSize": group.min_size, "MaxSize": group.max_size,
        "DesiredCapacity": group.desired, "CreatedTime": group.created_at,
        "Instances": [instance_view(i) for i in instances if i.instance_id],
        "ServiceLinkedRoleARN": (f"arn:aws:iam::{group.account_id}:role/aws-service-role/"
                                 "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")}
    item.update(_shown_settings(group.definition, group.name))
    if group.status:
        item["Status"] = group.status
    return item
