"""The network properties and the process-wide view of the EDGE configuration.

Owns `cloud.network.network_configuration` (EDGE JSON, validated with
`netd.client.validate_edge_config`), `cloud.network.hosts` (the netd hosts
this controller drives in-process) and `cloud.network.resync_seconds`. The
default configuration suits the all-in-one host: private subnet
10.111.0.0/16 and a public pool in 198.51.100.0/24 (TEST-NET-2), which is
only ever reachable from network namespaces, never from the root namespace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cloudctl.properties.registry import PropertyDef, PropertyError, PropertyType, registry
from cloudctl.server.runtime import RuntimeKey
from netd.client import EdgeConfig, NetworkConfigError, validate_edge_config

ALL_IN_ONE_HOST = "local"
# the network namespace of the all-in-one node (set when the local node starts)
LOCAL_NETNS = RuntimeKey[str]("node.netns")

DEFAULT_CONFIG: dict[str, Any] = {
    "Mode": "EDGE",
    "MacPrefix": "d0:0d",
    "PublicIps": ["198.51.100.10-198.51.100.250"],
    "InstanceDnsServers": ["10.111.0.1"],
    "InstanceDnsDomain": "eucalyptus.internal",
    "Subnets": [{"Name": "default", "Subnet": "10.111.0.0", "Netmask": "255.255.0.0",
                 "Gateway": "10.111.0.1"}],
}


MODES = ("EDGE", "VPC", "VPCMIDO")  # VPCMIDO: Eucalyptus 4.4's name, read as VPC


def _as_edge(value: Any) -> Any:
    """The document netd's EDGE part reads: in VPC mode the same public pool, MAC prefix
    and DNS settings serve the elastic IPs, the VPC API lives in ``ec2.vpc``."""
    if isinstance(value, dict) and str(value.get("Mode", "EDGE")).upper() in MODES[1:]:
        return {**value, "Mode": "EDGE"}
    return value


def _validate_config(value: Any) -> None:
    if value is None:
        raise PropertyError("the network configuration cannot be empty")
    if not isinstance(value, dict) or str(value.get("Mode", "EDGE")).upper() not in MODES:
        raise PropertyError("Mode must be EDGE or VPC (VPCMIDO is read as VPC)")
    try:
        validate_edge_config(_as_edge(value))
    except NetworkConfigError as exc:
        raise PropertyError(str(exc)) from None


_HOST_KEYS = {"name", "netns", "public_interface", "underlay_interface", "underlay_ip", "cluster"}


def _validate_hosts(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise PropertyError("cloud.network.hosts: expected a JSON list of host objects")
    names: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("netns"), str):
            raise PropertyError(f"hosts[{i}]: expected an object with string name and netns")
        unknown = set(item) - _HOST_KEYS
        if unknown:
            raise PropertyError(f"hosts[{i}]: unknown keys {sorted(unknown)}")
        if item["name"] in names:
            raise PropertyError(f"hosts[{i}]: duplicate host name {item['name']!r}")
        names.add(item["name"])


NETWORK_CONFIGURATION = registry.define(PropertyDef(
    "cloud.network.network_configuration", PropertyType.JSON, json.dumps(DEFAULT_CONFIG),
    "The EDGE network configuration (JSON: Mode, PublicIps, Subnets, Clusters, "
    "InstanceDnsServers, MacPrefix...). Applied live to every host.",
    validator=_validate_config,
))
HOSTS = registry.define(PropertyDef(
    "cloud.network.hosts", PropertyType.JSON, "[]",
    "Hosts whose netd this controller drives in-process: a JSON list of {name, netns, "
    "public_interface, underlay_interface, underlay_ip, cluster}. Empty: the all-in-one "
    "host 'local' in the private libvirtd's network namespace.",
    validator=_validate_hosts,
))
RESYNC_SECONDS = registry.define(PropertyDef(
    "cloud.network.resync_seconds", PropertyType.INTEGER, "30",
    "Seconds between full resyncs of every host's network to the view.",
    minimum=1, maximum=3600,
))


@dataclass(frozen=True)
class HostEntry:
    """One netd host as configured in `cloud.network.hosts`."""

    name: str
    netns: str
    public_interface: str | None = None
    underlay_interface: str | None = None
    underlay_ip: str | None = None
    cluster: str | None = None


def parse_hosts(value: Any) -> list[HostEntry]:
    return [HostEntry(name=h["name"], netns=h["netns"],
                      public_interface=h.get("public_interface"),
                      underlay_interface=h.get("underlay_interface"),
                      underlay_ip=h.get("underlay_ip"), cluster=h.get("cluster"))
            for h in (value or [])]


_current: dict[str, EdgeConfig] = {}


def edge_config(value: Any) -> EdgeConfig:
    """The parsed configuration for a property value (cached per document)."""
    value = _as_edge(value)
    key = json.dumps(value, sort_keys=True)
    cfg = _current.get(key)
    if cfg is None:
        cfg = validate_edge_config(value)
        _current.clear()
        _current[key] = cfg
    return cfg


_live_value: list[Any] = [DEFAULT_CONFIG]


def set_live_value(value: Any) -> None:
    """Record the property value now in force in this process (called by the provider)."""
    _live_value[0] = value


def current() -> EdgeConfig:
    """The EDGE configuration in force in this process."""
    return edge_config(_live_value[0])
