"""The versioned network view: JSON round trip and consistency checks (netd.view)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netd.view import ViewError, parse_view

NET = {"Mode": "EDGE", "MacPrefix": "d0:0d", "PublicIps": ["198.51.100.10-198.51.100.20"],
       "Subnets": [{"Name": "s", "Subnet": "10.1.0.0", "Netmask": "255.255.0.0",
                    "Gateway": "10.1.0.1"}]}


def doc(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "version": 3, "network": NET,
        "hosts": [{"name": "h1", "underlay_ip": "192.168.100.11"}],
        "instances": [{"id": "i-1", "host": "h1", "mac": "d0:0d:00:00:00:01",
                       "private_ip": "10.1.0.5", "public_ip": "198.51.100.10",
                       "security_groups": ["sg-1"], "interface": "vn-i-1"}],
        "security_groups": [{"id": "sg-1", "owner": "000000000001",
                             "ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                          "cidrs": ["0.0.0.0/0"], "groups": ["sg-1"]}],
                             "egress": [{"protocol": -1, "cidrs": ["0.0.0.0/0"]}]}],
        "metadata": {"upstream": "unix:/run/cloud/metadata.sock"},
    }
    d.update(over)
    return d


def test_round_trip_through_json() -> None:
    v = parse_view(json.dumps(doc()))
    assert v.version == 3 and v.instances[0].public_ip is not None
    assert v.security_groups[0].ingress[0].protocol == 6
    again = parse_view(json.loads(v.dumps()))
    assert again == v


@pytest.mark.parametrize(("over", "needle"), [
    ({"version": -1}, "version"),
    ({"instances": [dict(doc()["instances"][0], mac="aa:bb:cc:dd:ee:ff")]}, "MacPrefix"),
    ({"instances": [dict(doc()["instances"][0], private_ip="10.2.0.5")]}, "usable subnet"),
    ({"instances": [dict(doc()["instances"][0], private_ip="10.1.0.1")]}, "usable subnet"),
    ({"instances": [dict(doc()["instances"][0], public_ip="203.0.113.1")]}, "not in PublicIps"),
    ({"instances": [dict(doc()["instances"][0], security_groups=["sg-x"])]}, "unknown security"),
    ({"instances": [dict(doc()["instances"][0], interface="a-very-long-interface")]},
     "interface"),
    ({"instances": [doc()["instances"][0], dict(doc()["instances"][0], id="i-2",
                                                 mac="d0:0d:00:00:00:02")]}, "more than one"),
    ({"security_groups": [{"id": "sg-1", "ingress": [{"protocol": 6, "from_port": 9,
                                                      "to_port": 1, "cidrs": ["0.0.0.0/0"]}]}]},
     "from_port"),
    ({"security_groups": [{"id": "sg-1", "ingress": [{"protocol": 6}]}]}, "at least one CIDR"),
    ({"security_groups": [{"id": "sg-1", "ingress": [{"protocol": 6, "groups": ["sg-9"]}]}]},
     "unknown group"),
    ({"network": dict(NET, MacPrefix="bad")}, "network.MacPrefix"),
])
def test_inconsistent_views_are_rejected(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(ViewError) as err:
        parse_view(doc(**over))
    assert any(needle in p for p in err.value.problems), err.value.problems
