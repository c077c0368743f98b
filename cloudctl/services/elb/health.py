"""Where instance health comes from: the data plane's health checks (haproxy's runtime
API, read by netd), through a ``HealthSource`` the data plane installs, mapped to the
states, reason codes and descriptions DescribeInstanceHealth answers as AWS does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

NOT_PASSED = ("Instance has not passed the configured HealthyThreshold number of health "
              "checks consecutively.")
FAILED = ("Instance has failed at least the UnhealthyThreshold number of health checks "
          "consecutively.")
NOT_REGISTERED = "Instance is not currently registered with the LoadBalancer."
IN_PROGRESS = "Instance registration is still in progress."


@dataclass(frozen=True)
class BackendHealth:
    """One back-end as the data plane's checks see it: ``up``, and whether it was ever
    up since it was added (a new back-end is down until it passes HealthyThreshold)."""

    up: bool
    ever_up: bool


class HealthSource(Protocol):
    def backends(self, lb_id: str) -> dict[str, BackendHealth] | None:
        """Instance id -> its health, or None when no data plane serves ``lb_id``."""
        ...


HEALTH = RuntimeKey[HealthSource]("elb.health")


def set_source(cloud: Cloud, source: HealthSource) -> None:
    cloud.runtime[HEALTH] = source


@dataclass(frozen=True)
class InstanceState:
    instance_id: str
    state: str
    reason_code: str
    description: str

    def to_wire(self) -> dict[str, str]:
        return {"InstanceId": self.instance_id, "State": self.state,
                "ReasonCode": self.reason_code, "Description": self.description}


def states(cloud: Cloud, lb_id: str, registered: list[str], asked: list[str],
           ec2_states: dict[str, str]) -> list[InstanceState]:
    """The health of ``asked`` (all registered when empty) on load balancer ``lb_id``."""
    source = cloud.runtime.get(HEALTH)
    seen = source.backends(lb_id) if source is not None else None
    out = []
    for iid in asked or registered:
        if iid not in registered:
            out.append(InstanceState(iid, "Unknown", "ELB", NOT_REGISTERED))
            continue
        ec2_state = ec2_states.get(iid, "terminated")
        if ec2_state != "running":
            out.append(InstanceState(iid, "OutOfService", "Instance",
                                     f"Instance is in {ec2_state} state."))
            continue
        check = (seen or {}).get(iid)
        if check is None:
            out.append(InstanceState(iid, "OutOfService", "ELB", IN_PROGRESS
                                     if seen is not None else NOT_PASSED))
        elif check.up:
            out.append(InstanceState(iid, "InService", "N/A", "N/A"))
        elif check.ever_up:
            out.append(InstanceState(iid, "OutOfService", "Instance", FAILED))
        else:
            out.append(InstanceState(iid, "OutOfService", "ELB", NOT_PASSED))
    return out
