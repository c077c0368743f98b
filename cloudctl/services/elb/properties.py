"""ELB's properties: where the data plane runs (``loadbalancing.dataplane``) and how
often it is supervised."""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudctl.properties.registry import PropertyDef, PropertyError, PropertyType, registry

_KEYS = {"uplink_netns", "uplink_bridge", "addresses", "prefix_len", "gateway", "state_dir",
         "public_netns", "public_bridge", "public_addresses", "public_prefix_len",
         "public_gateway", "host", "vpc_netns"}
# a data plane for load balancers in VPC subnets only needs where the VPC agent runs
_EDGE_KEYS = ("uplink_netns", "uplink_bridge", "addresses")


def _check(value: Any) -> None:
    if value in (None, {}):
        return
    if not isinstance(value, dict) or set(value) - _KEYS:
        raise PropertyError(f"loadbalancing.dataplane: a JSON object with keys "
                            f"{sorted(_KEYS)}")
    if not isinstance(value.get("vpc_netns"), str) or any(k in value for k in _EDGE_KEYS):
        for key in _EDGE_KEYS:
            if not isinstance(value.get(key), str):
                raise PropertyError(f"loadbalancing.dataplane: '{key}' is required")
    if "public_addresses" in value and not all(
            isinstance(value.get(k), str) for k in ("public_netns", "public_bridge")):
        raise PropertyError("loadbalancing.dataplane: public_addresses needs public_netns "
                            "and public_bridge")
    try:
        if "addresses" in value:
            ipaddress.IPv4Network(value["addresses"])
        if "public_addresses" in value:
            ipaddress.IPv4Network(value["public_addresses"])
    except ValueError as exc:
        raise PropertyError(f"loadbalancing.dataplane: addresses: {exc}") from None


DATAPLANE = registry.define(PropertyDef(
    "loadbalancing.dataplane", PropertyType.JSON, "{}",
    "Where load balancers run: {uplink_netns, uplink_bridge (the bridge their namespaces "
    "attach to, e.g. br-cloud of a host), addresses (CIDR pool of their addresses), "
    "prefix_len (of the uplink subnet, default 24), gateway, state_dir, host; for "
    "internet-facing load balancers a public side: public_netns, public_bridge, "
    "public_addresses, public_prefix_len, public_gateway; vpc_netns: where the VPC host "
    "agent plugs interfaces (load balancers in subnets; default uplink_netns; alone it "
    "is a data plane for VPC load balancers only)}. Empty: no data plane (instances "
    "stay OutOfService).",
    validator=_check,
))
SUPERVISE_INTERVAL = registry.define(PropertyDef(
    "loadbalancing.supervise_interval_sec", PropertyType.INTEGER, "5",
    "Seconds between passes of the data plane supervisor (restarts a dead haproxy).",
    minimum=1, maximum=300,
))
DNS_NETNS = registry.define(PropertyDef(
    "cloud.dns.netns", PropertyType.STRING, "",
    "The network namespace the cloud's DNS resolver (dnsmasq) runs in; empty: no "
    "resolver. It answers for load balancer names (<name>-<id>.<region>.elb.<domain>).",
))
DNS_LISTEN = registry.define(PropertyDef(
    "cloud.dns.listen_address", PropertyType.STRING, "",
    "The address (in cloud.dns.netns) the cloud's DNS resolver listens on (port 53).",
))
METRICS_INTERVAL = registry.define(PropertyDef(
    "loadbalancing.metrics_interval_sec", PropertyType.INTEGER, "60",
    "Seconds between samples of haproxy's counters published as AWS/ELB metrics.",
    minimum=1, maximum=3600,
))
ACCESS_LOG_SECONDS = registry.define(PropertyDef(
    "loadbalancing.access_log_interval_override_sec", PropertyType.INTEGER, "0",
    "Deliver access logs every this many seconds instead of the load balancer's "
    "EmitInterval (5 or 60 minutes); 0: as configured (tests and demonstrations).",
    minimum=0, maximum=3600,
))
