"""Auto Scaling resource types: LaunchConfiguration, AutoScalingGroup, ScalingPolicy,
ScheduledAction, LifecycleHook, over ``cloudctl.services.autoscaling.api``.

A group is ready when it has its desired capacity of instances ``InService`` (as
CloudFormation waits for a group's capacity); its deletion forces the termination of
its instances and waits for the group to be gone. A policy's Ref is its ARN.

A group's ``UpdatePolicy``: with ``AutoScalingReplacingUpdate`` ``WillReplace`` a change
of its launch source (``REPLACED_BY``) makes a new group, the old one deleted in cleanup
(the engine's replacement); with ``AutoScalingRollingUpdate`` the group is updated in
place and its instances of the old launch source are replaced ``MaxBatchSize`` at a
time keeping ``MinInstancesInService`` (an instance refresh of the group, waited for).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import call
from cloudctl.services.autoscaling import api as autoscaling
from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.resources.base import (
    Act,
    Outcome,
    ResourceType,
    resumed_exists,
)

# the properties whose change an UpdatePolicy governs (a new launch source, placement)
REPLACED_BY = ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy",
               "PlacementGroup", "VPCZoneIdentifier")
POLL = 1.0


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


def launch_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(key) != new.get(key) for key in REPLACED_BY)


def will_replace(update_policy: dict[str, Any] | None) -> bool:
    """Whether the group's UpdatePolicy asks for a new group on a launch change."""
    replacing = (update_policy or {}).get("AutoScalingReplacingUpdate") or {}
    return isinstance(replacing, dict) and _true(replacing.get("WillReplace"))

_CONFIG_KEYS = ("ImageId", "InstanceType", "KeyName", "SecurityGroups", "UserData",
                "IamInstanceProfile", "AssociatePublicIpAddress", "BlockDeviceMappings",
                "InstanceMonitoring", "EbsOptimized", "KernelId", "SpotPrice",
                "PlacementTenancy", "MetadataOptions", "InstanceId")


class LaunchConfiguration(ResourceType):
    type_name = "AWS::AutoScaling::LaunchConfiguration"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("LaunchConfigurationName") or act.physical_name(255)
        params = {k: props[k] for k in _CONFIG_KEYS if k in props}
        if props.get("RamDiskId"):
            params["RamdiskId"] = props["RamDiskId"]
        params["LaunchConfigurationName"] = name
        try:
            await autoscaling.create_launch_configuration(act.cloud, act.caller, params)
        except AwsError as error:
            if not resumed_exists(act, error, "AlreadyExists"):
                raise
        return Outcome(name)

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await autoscaling.delete_launch_configuration(act.cloud, act.caller, physical_id)


_SIZES = ("MinSize", "MaxSize", "DesiredCapacity", "HealthCheckGracePeriod",
          "DefaultInstanceWarmup")
_GROUP_KEYS = ("LaunchConfigurationName", "LaunchTemplate", "AvailabilityZones",
               "LoadBalancerNames", "TargetGroupARNs", "HealthCheckType", "TerminationPolicies",
               "PlacementGroup", "NewInstancesProtectedFromScaleIn", "CapacityRebalance",
               "MaxInstanceLifetime")


def _group_params(name: str, props: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"AutoScalingGroupName": name}
    params.update({k: props[k] for k in _GROUP_KEYS if k in props})
    params.update({k: int(props[k]) for k in _SIZES if props.get(k) not in (None, "")})
    if props.get("Cooldown") not in (None, ""):
        params["DefaultCooldown"] = int(props["Cooldown"])
    if props.get("VPCZoneIdentifier"):
        params["VPCZoneIdentifier"] = ",".join(props["VPCZoneIdentifier"])
    return params


class AutoScalingGroup(ResourceType):
    type_name = "AWS::AutoScaling::AutoScalingGroup"
    updatable = frozenset({"MinSize", "MaxSize", "DesiredCapacity", "Cooldown",
                           "LaunchConfigurationName", "LaunchTemplate", "VPCZoneIdentifier",
                           "AvailabilityZones", "HealthCheckType", "HealthCheckGracePeriod",
                           "TerminationPolicies"})
    takes_tags = True
    drift_keys = ("MinSize", "MaxSize", "DesiredCapacity")

    def comparable(self, props: dict[str, Any]) -> dict[str, Any]:
        return {key: str(props[key]) for key in self.drift_keys if key in props}

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await autoscaling.group(act.cloud, act.caller, physical_id)
        if found is None or found.get("Status") == "Delete in progress":
            return None
        return {key: str(found.get(key)) for key in self.drift_keys}

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("AutoScalingGroupName") or act.physical_name(255)
        params = _group_params(name, props)
        tags = [{"Key": t["Key"], "Value": t["Value"],
                 "PropagateAtLaunch": bool(t.get("PropagateAtLaunch"))}
                for t in props.get("Tags") or []]
        tags += [{"Key": t["Key"], "Value": t["Value"], "PropagateAtLaunch": True}
                 for t in act.user_tags()]
        if tags:
            params["Tags"] = [{**t, "ResourceId": name, "ResourceType": "auto-scaling-group"}
                              for t in tags]
        try:
            await autoscaling.create_group(act.cloud, act.caller, params)
        except AwsError as error:
            if not resumed_exists(act, error, "AlreadyExists"):
                raise
        found = await autoscaling.group(act.cloud, act.caller, name) or {}
        return Outcome(name, {"AutoScalingGroupARN": found.get("AutoScalingGroupARN", "")})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await autoscaling.group(act.cloud, act.caller, physical_id)
        if found is None:
            return None
        serving = [i for i in found.get("Instances") or []
                   if i.get("LifecycleState") == "InService"]
        return attributes if len(serving) >= int(found.get("DesiredCapacity", 0)) else None

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await autoscaling.update_group(act.cloud, act.caller, _group_params(physical_id, new))
        rolling = act.update_policy.get("AutoScalingRollingUpdate")
        if isinstance(rolling, dict) and launch_changed(old, new):
            await self._roll(act, physical_id, new, rolling)
        return attributes

    async def _roll(self, act: Act, name: str, props: dict[str, Any],
                    rolling: dict[str, Any]) -> None:
        """Replace the instances of an older launch source, a batch at a time; repeated
        after a restart it finds none left (or the refresh under way) and waits."""
        found = await autoscaling.group(act.cloud, act.caller, name) or {}
        desired = int(found.get("DesiredCapacity") or 0)
        current = props.get("LaunchConfigurationName")
        stale = [i for i in found.get("Instances") or []
                 if current is None or i.get("LaunchConfigurationName") != current]
        if desired == 0 or not stale:
            return
        batch = max(1, int(rolling.get("MaxBatchSize") or 1))
        keep = int(rolling.get("MinInstancesInService") or 0)
        if keep >= int(found.get("MaxSize") or 0) and keep > 0:
            raise ResourceFailure("MinInstancesInService must be less than the "
                                  "autoscaling group's MaxSize")
        healthy = max(0, min(100, 100 * max(keep, desired - batch) // desired))
        refresh_id = None
        try:
            started = await call(act.cloud, act.caller, "autoscaling", "StartInstanceRefresh",
                                 {"AutoScalingGroupName": name, "Preferences": {
                                     "MinHealthyPercentage": healthy, "InstanceWarmup": 0}})
            refresh_id = started.get("InstanceRefreshId")
        except AwsError as error:
            if error.code != "InstanceRefreshInProgress":
                raise
        while True:
            listed = await call(act.cloud, act.caller, "autoscaling",
                                "DescribeInstanceRefreshes", {"AutoScalingGroupName": name})
            refreshes = listed.get("InstanceRefreshes") or []
            mine = next((r for r in refreshes if r.get("InstanceRefreshId") == refresh_id),
                        refreshes[0] if refreshes else None)
            if mine is None or mine.get("Status") == "Successful":
                return
            if mine.get("Status") in ("Failed", "Cancelled", "RollbackSuccessful"):
                raise ResourceFailure(f"Rolling update of {name} failed: "
                                      f"{mine.get('StatusReason') or mine.get('Status')}")
            await asyncio.sleep(POLL)

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await autoscaling.delete_group(act.cloud, act.caller, physical_id)

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        return await autoscaling.group(act.cloud, act.caller, physical_id) is None


_POLICY_KEYS = ("PolicyType", "AdjustmentType", "MetricAggregationType",
                "StepAdjustments", "TargetTrackingConfiguration", "Enabled")
_POLICY_NUMBERS = ("ScalingAdjustment", "Cooldown", "EstimatedInstanceWarmup",
                   "MinAdjustmentMagnitude")


class ScalingPolicy(ResourceType):
    type_name = "AWS::AutoScaling::ScalingPolicy"
    updatable = frozenset(_POLICY_KEYS + _POLICY_NUMBERS)

    @staticmethod
    def _params(name: str, props: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"AutoScalingGroupName": props["AutoScalingGroupName"],
                                  "PolicyName": name}
        params.update({k: props[k] for k in _POLICY_KEYS if k in props})
        params.update({k: int(props[k]) for k in _POLICY_NUMBERS
                       if props.get(k) not in (None, "")})
        return params

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = act.physical_name(255)
        arn = await autoscaling.put_scaling_policy(act.cloud, act.caller,
                                                   self._params(name, props))
        return Outcome(arn, {"Arn": arn, "PolicyName": name})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await autoscaling.put_scaling_policy(act.cloud, act.caller,
                                             self._params(attributes["PolicyName"], new))
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await autoscaling.delete_policy(act.cloud, act.caller, props["AutoScalingGroupName"],
                                        attributes.get("PolicyName") or physical_id)


_SCHEDULE_KEYS = ("StartTime", "EndTime", "Recurrence", "TimeZone")


class ScheduledAction(ResourceType):
    """A scheduled action; Ref is its (generated) name."""

    type_name = "AWS::AutoScaling::ScheduledAction"
    updatable = frozenset(_SCHEDULE_KEYS + ("MinSize", "MaxSize", "DesiredCapacity"))

    @staticmethod
    async def _put(act: Act, name: str, props: dict[str, Any]) -> None:
        params: dict[str, Any] = {"AutoScalingGroupName": props["AutoScalingGroupName"],
                                  "ScheduledActionName": name}
        params.update({k: props[k] for k in _SCHEDULE_KEYS if props.get(k)})
        params.update({k: int(props[k]) for k in ("MinSize", "MaxSize", "DesiredCapacity")
                       if props.get(k) not in (None, "")})
        await autoscaling.put_scheduled_action(act.cloud, act.caller, params)

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = act.physical_name(255)
        await self._put(act, name, props)
        return Outcome(name, {"ScheduledActionName": name})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._put(act, physical_id, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await autoscaling.delete_scheduled_action(act.cloud, act.caller,
                                                  props["AutoScalingGroupName"], physical_id)


_HOOK_KEYS = ("LifecycleTransition", "RoleARN", "NotificationTargetARN",
              "NotificationMetadata", "DefaultResult")


class LifecycleHook(ResourceType):
    """A lifecycle hook; Ref is its name."""

    type_name = "AWS::AutoScaling::LifecycleHook"
    updatable = frozenset(_HOOK_KEYS + ("HeartbeatTimeout",))

    @staticmethod
    async def _put(act: Act, name: str, props: dict[str, Any]) -> None:
        params: dict[str, Any] = {"AutoScalingGroupName": props["AutoScalingGroupName"],
                                  "LifecycleHookName": name}
        params.update({k: props[k] for k in _HOOK_KEYS if props.get(k)})
        if props.get("HeartbeatTimeout") not in (None, ""):
            params["HeartbeatTimeout"] = int(props["HeartbeatTimeout"])
        await autoscaling.put_lifecycle_hook(act.cloud, act.caller, params)

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("LifecycleHookName") or act.physical_name(255)
        await self._put(act, name, props)
        return Outcome(name)

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._put(act, physical_id, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await autoscaling.delete_lifecycle_hook(act.cloud, act.caller,
                                                props["AutoScalingGroupName"], physical_id)


TYPES: tuple[type[ResourceType], ...] = (LaunchConfiguration, AutoScalingGroup, ScalingPolicy,
                                         ScheduledAction, LifecycleHook)
