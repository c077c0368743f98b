"""The VPC properties: where the topology is published (``cloud.network.zookeeper``)."""

from __future__ import annotations

from typing import Any

from cloudctl.properties.registry import PropertyDef, PropertyError, PropertyType, registry


def _validate_connect(value: Any) -> None:
    text = str(value or "")
    for member in filter(None, text.split("/", 1)[0].split(",")):
        host, _, port = member.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PropertyError(f"cloud.network.zookeeper: {member!r} is not host:port")


ZOOKEEPER = registry.define(PropertyDef(
    "cloud.network.zookeeper", PropertyType.STRING, "",
    "ZooKeeper connect string (host:port[,host:port...]) the controller publishes the VPC "
    "topology to and every host's netd reads. Empty: nothing is published.",
    validator=_validate_connect,
))
PUBLISH_RESYNC_SECONDS = registry.define(PropertyDef(
    "cloud.network.topology_resync_seconds", PropertyType.INTEGER, "30",
    "Seconds between full republications of the VPC topology (repairs drift in ZooKeeper).",
    minimum=1, maximum=3600,
))
GATEWAY_HOST = registry.define(PropertyDef(
    "cloud.network.vpc_gateway_host", PropertyType.STRING, "",
    "The host (node name) whose VPC agent realises internet and NAT gateways (it has the "
    "outside bridge). Empty: the first node by name (the all-in-one node, `local`).",
))
