"""CloudFormation: stacks built from templates by the stack engine, in parallel, with
rollback, change sets and wait conditions. Resource types are thin adapters over each
service's ``api`` module, driven by the pinned resource provider schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.cloudformation.changesets import ChangeSetOperations
    from cloudctl.services.cloudformation.drift import DriftOperations
    from cloudctl.services.cloudformation.engine import EngineStarter
    from cloudctl.services.cloudformation.hook import SignalHook
    from cloudctl.services.cloudformation.stacks import StackOperations

    stacks = StackOperations(cloud)
    cloud.add_provider(stacks)
    cloud.add_provider(ChangeSetOperations(cloud, stacks))
    cloud.add_provider(DriftOperations(cloud))
    cloud.add_provider(EngineStarter(cloud))
    cloud.hooks.append(SignalHook(cloud))


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.cloudformation.models import CFN_TABLES

    return CFN_TABLES


SERVICE = ServiceSpec("cloudformation", _install, tables=_tables)
