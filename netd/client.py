"""netd as the cloud controller sees it: view types, validation and the host client.

The only netd module `cloudctl` imports. It re-exports the pure view and
configuration types (no kernel access at import time) and offers
`LocalNetd`, the in-process client of one host's agent (all-in-one mode and
multi-host on one machine, each host a network namespace). The agent and its
kernel dependencies (pyroute2, nftables) are imported only when a
`LocalNetd` is created. A remote (HTTP) client implements the same
`NetdClient` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from netd.config import EdgeConfig, NetworkConfigError, parse_edge_config
from netd.view import (
    PROTO_ALL,
    PROTO_ICMP,
    PROTO_TCP,
    PROTO_UDP,
    Host,
    Instance,
    Metadata,
    NetworkView,
    Rule,
    SecurityGroup,
    ViewError,
    check_view,
    parse_view,
)

if TYPE_CHECKING:
    from netd.agent import NetAgent

__all__ = [
    "PROTO_ALL", "PROTO_ICMP", "PROTO_TCP", "PROTO_UDP", "EdgeConfig", "Host", "HostSpec",
    "Instance", "LocalNetd", "Metadata", "NetdClient", "NetworkConfigError", "NetworkView",
    "Rule", "SecurityGroup", "ViewError", "check_view", "parse_edge_config", "parse_view",
    "validate_edge_config",
]


def validate_edge_config(doc: Any) -> EdgeConfig:
    """Parse and check an EDGE `network_configuration` document (raises NetworkConfigError)."""
    return parse_edge_config(doc)


@dataclass(frozen=True)
class HostSpec:
    """Where one host's netd converges: its namespace and interfaces."""

    name: str
    netns: str
    state_dir: Path
    public_interface: str | None = None
    underlay_interface: str | None = None


class NetdClient(Protocol):
    """What the controller needs of a host's netd."""

    def apply(self, view: NetworkView) -> int:
        """Converge the host to `view` (blocking); the version applied."""
        ...

    def status(self) -> dict[str, Any]:
        """The agent's last report (`applied_version`, `last_error`, `last_seconds`...)."""
        ...


class LocalNetd:
    """An in-process netd agent for one host (same contract as a remote one)."""

    def __init__(self, spec: HostSpec) -> None:
        from netd.agent import NetAgent
        from netd.host import HostConfig

        self.spec = spec
        self._agent: NetAgent = NetAgent(HostConfig(
            netns=spec.netns, host=spec.name, state_dir=spec.state_dir,
            public_interface=spec.public_interface,
            underlay_interface=spec.underlay_interface))

    def apply(self, view: NetworkView) -> int:
        return self._agent.apply(view)

    def status(self) -> dict[str, Any]:
        return self._agent.status().to_json()

    def netns_exists(self) -> bool:
        from netd import netns

        return netns.exists(self.spec.netns)

    def teardown(self) -> None:
        self._agent.teardown()
