"""EDGE network configuration validation (netd.config)."""

from __future__ import annotations

import ipaddress

import pytest

from netd.config import NetworkConfigError, parse_edge_config

GOOD = {
    "Mode": "EDGE", "InstanceDnsDomain": "eucalyptus.internal",
    "InstanceDnsServers": ["10.1.0.2"], "MacPrefix": "d0:0d",
    "PublicIps": ["198.51.100.10-198.51.100.12", "198.51.100.20"],
    "Subnets": [{"Name": "s1", "Subnet": "10.1.0.0", "Netmask": "255.255.0.0",
                 "Gateway": "10.1.0.1"}],
    "Clusters": [{"Name": "one", "MacPrefix": "d0:0e", "Subnet": "s1",
                  "PrivateIps": ["10.1.1.1-10.1.1.3"]}],
}


def test_parses_ranges_clusters_and_round_trips() -> None:
    cfg = parse_edge_config(GOOD)
    assert [str(i) for i in cfg.public_ips] == [
        "198.51.100.10", "198.51.100.11", "198.51.100.12", "198.51.100.20"]
    assert cfg.subnet_for_cluster("one").gateway == ipaddress.IPv4Address("10.1.0.1")
    assert cfg.mac_prefixes() == {"d0:0d", "d0:0e"}
    assert cfg.clusters[0].private_ips[-1] == ipaddress.IPv4Address("10.1.1.3")
    assert parse_edge_config(cfg.to_json()) == cfg


def test_inline_cluster_subnet_as_in_eucalyptus_examples() -> None:
    doc = dict(GOOD, Clusters=[{"Name": "two", "Subnet": {
        "Name": "s2", "Subnet": "10.2.0.0", "Netmask": "255.255.0.0", "Gateway": "10.2.0.1"},
        "PrivateIps": ["10.2.0.5"]}])
    cfg = parse_edge_config(doc)
    assert str(cfg.subnet_for_cluster("two").network) == "10.2.0.0/16"


@pytest.mark.parametrize(("patch", "needle"), [
    ({"Mode": "VPCMIDO"}, "Mode: 'VPCMIDO' is not supported"),
    ({"MacPrefix": "zz:00"}, "MacPrefix"),
    ({"MacPrefix": "d1:00"}, "multicast"),
    ({"PublicIps": ["198.51.100.20-198.51.100.10"]}, "ends before it starts"),
    ({"PublicIps": ["10.1.0.50"]}, "inside a private subnet"),
    ({"PublicIps": ["1.2.3.4", "1.2.3.4"]}, "more than once"),
    ({"InstanceDnsServers": ["nope"]}, "InstanceDnsServers[0]: 'nope' is not an IPv4 address"),
    ({"Subnets": [{"Subnet": "10.1.0.0", "Netmask": "255.255.0.0", "Gateway": "10.9.0.1"}]},
     "Subnets[0].Gateway: 10.9.0.1 is not a host address"),
    ({"Subnets": []}, "at least one private subnet"),
    ({"Clusters": [{"Name": "x", "Subnet": "nope"}]}, "no subnet named 'nope'"),
    ({"Clusters": [{"Name": "x", "Subnet": "s1", "PrivateIps": ["10.9.0.1"]}]},
     "not a usable address"),
    ({"Bogus": 1}, "Bogus: unknown field"),
])
def test_reports_clear_errors(patch: dict[str, object], needle: str) -> None:
    with pytest.raises(NetworkConfigError) as err:
        parse_edge_config(dict(GOOD, **patch))
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_collects_every_problem_at_once() -> None:
    with pytest.raises(NetworkConfigError) as err:
        parse_edge_config({"MacPrefix": "x", "PublicIps": ["a"], "Subnets": "no"})
    assert len(err.value.problems) >= 3
