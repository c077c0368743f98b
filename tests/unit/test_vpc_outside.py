"""The outside network of the all-in-one VPC host: its gateway follows the cloud's
public pool (cloudctl.cli.vpc_outside)."""

from __future__ import annotations

import json

from cloudctl.cli.vpc_outside import DEFAULT_GATEWAY, Outside, gateway_of


def test_gateway_is_the_first_address_of_the_public_pools_network() -> None:
    assert gateway_of(json.dumps({"PublicIps": ["198.51.100.10-198.51.100.250"]})) == \
        "198.51.100.1/24"
    assert gateway_of(json.dumps({"PublicIps": ["203.0.113.77", "203.0.113.80"]})) == \
        "203.0.113.1/24"
    for broken in ("", "{}", '{"PublicIps": []}', '{"PublicIps": ["nonsense"]}', "[1]"):
        assert gateway_of(broken) == DEFAULT_GATEWAY


def test_guest_endpoint_is_the_gateway_on_the_api_port() -> None:
    outside = Outside("ns", "203.0.113.1/24", 8773)
    assert (outside.address, outside.guest_endpoint) == ("203.0.113.1", "http://203.0.113.1:8773")
