"""Installs ELB into a cloud process (its ``ServiceSpec`` install): the providers and
how its operations name their resources for IAM."""

from __future__ import annotations

from typing import Any

from cloudctl.server.cloud import Cloud
from cloudctl.server.context import RequestContext


def resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    from cloudctl.services.elb.common import lb_arn

    account = ctx.account_id or ""
    names = [str(n) for n in params.get("LoadBalancerNames") or []]
    if params.get("LoadBalancerName"):
        names.append(str(params["LoadBalancerName"]))
    return [lb_arn(ctx.region, account, n) for n in names]


def install(cloud: Cloud) -> None:
    from cloudctl.services import authz
    from cloudctl.services.ec2.api import register_source_groups
    from cloudctl.services.elb.api import source_group_owner
    from cloudctl.services.elb.dataplane import CONTROLLER, DataPlaneController, PlaneHealth
    from cloudctl.services.elb.health import set_source
    from cloudctl.services.elb.instances import InstancesProvider
    from cloudctl.services.elb.loadbalancers import LoadBalancersProvider
    from cloudctl.services.elb.policies import PoliciesProvider
    from cloudctl.services.elb.tags import TagsProvider
    from cloudctl.services.elb.view_feed import ElbViewFeed
    from cloudctl.services.network.feed import add_feed

    cloud.runtime[CONTROLLER] = DataPlaneController(
        cloud, leader=lambda: cloud.runs_controllers)
    set_source(cloud, PlaneHealth(cloud))
    add_feed(cloud, ElbViewFeed(cloud))  # load balancer ports on the instance bridges
    register_source_groups(source_group_owner)  # default_elb_<id> as a rule's source
    authz.declare("elb", resources)
    for provider_cls in (LoadBalancersProvider, InstancesProvider, PoliciesProvider,
                         TagsProvider):
        cloud.add_provider(provider_cls(cloud))
