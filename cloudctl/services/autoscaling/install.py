"""Installs Auto Scaling into a cloud process: its providers and the group controller
(started by the groups provider, acting on the leader only)."""

from __future__ import annotations

from cloudctl.server.cloud import Cloud


def install(cloud: Cloud) -> None:
    from cloudctl.services.autoscaling.activities import ActivitiesProvider
    from cloudctl.services.autoscaling.controller import CONTROLLER, GroupController
    from cloudctl.services.autoscaling.groups import GroupsProvider
    from cloudctl.services.autoscaling.hooks import HooksProvider
    from cloudctl.services.autoscaling.launch_configs import LaunchConfigurationsProvider
    from cloudctl.services.autoscaling.members import MembersProvider
    from cloudctl.services.autoscaling.policies import PoliciesProvider
    from cloudctl.services.autoscaling.processes import ProcessesProvider
    from cloudctl.services.autoscaling.refresh import RefreshProvider
    from cloudctl.services.autoscaling.schedules import SchedulesProvider

    cloud.runtime[CONTROLLER] = GroupController(cloud, leader=lambda: cloud.runs_controllers)
    for provider_cls in (LaunchConfigurationsProvider, GroupsProvider, MembersProvider,
                         ActivitiesProvider, ProcessesProvider, PoliciesProvider,
                         SchedulesProvider, HooksProvider, RefreshProvider):
        cloud.add_provider(provider_cls(cloud))
