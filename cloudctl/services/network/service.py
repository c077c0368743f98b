"""Start and stop EDGE networking inside one API process.

Every process follows the network configuration property (addresses and
NICs are allocated from it); worker 0 also runs the `NetworkController`
and turns a configuration change into a new view version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.services.network import config, state
from cloudctl.services.network.controller import NetworkController

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

KEY = "network.controller"


async def start_network(cloud: Cloud) -> None:
    if KEY in cloud.services or cloud.services.get("network.started"):
        return
    cloud.services["network.started"] = True
    config.set_live_value(cloud.properties.get(config.NETWORK_CONFIGURATION))

    async def follow(name: str, value: Any) -> None:
        config.set_live_value(value)

    cloud.properties.on_change(config.NETWORK_CONFIGURATION.name, follow)
    if cloud.worker_index != 0:
        return
    controller = NetworkController(cloud, leader=lambda: cloud.worker_index == 0)
    cloud.services[KEY] = controller

    async def bump(name: str, value: Any) -> None:
        async with cloud.sessions() as session, session.begin():
            await state.bump_version(session)
        controller.resync_now()

    cloud.properties.on_change(config.NETWORK_CONFIGURATION.name, bump)
    cloud.properties.on_change(config.HOSTS.name, bump)
    cloud.spawn(controller.run(), "network-controller")


async def stop_network(cloud: Cloud) -> None:
    cloud.services.pop(KEY, None)
