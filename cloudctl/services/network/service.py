"""Start and stop EDGE networking inside one API process.

Every process follows the network configuration property (addresses and
NICs are allocated from it); worker 0 also runs the `NetworkController`
and turns a configuration change into a new view version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.network import config, state
from cloudctl.services.network.controller import NetworkController

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

CONTROLLER = RuntimeKey[NetworkController]("network.controller")
STARTED = RuntimeKey[bool]("network.started")


async def start_network(cloud: Cloud) -> None:
    if CONTROLLER in cloud.runtime or cloud.runtime.get(STARTED):
        return
    cloud.runtime[STARTED] = True
    config.set_live_value(cloud.properties.get(config.NETWORK_CONFIGURATION))

    async def follow(name: str, value: Any) -> None:
        config.set_live_value(value)

    cloud.properties.on_change(config.NETWORK_CONFIGURATION.name, follow)
    if not cloud.runs_controllers:
        return
    controller = NetworkController(cloud, leader=lambda: cloud.runs_controllers)
    cloud.runtime[CONTROLLER] = controller

    async def bump(name: str, value: Any) -> None:
        async with cloud.sessions() as session, session.begin():
            await state.bump_version(session)
        controller.resync_now()

    cloud.properties.on_change(config.NETWORK_CONFIGURATION.name, bump)
    cloud.properties.on_change(config.HOSTS.name, bump)
    cloud.spawn(controller.run(), "network-controller")


async def stop_network(cloud: Cloud) -> None:
    cloud.runtime.pop(CONTROLLER)
