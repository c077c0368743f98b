"""Empyrean: the service topology (DescribeServices) as Eucalyptus admins know it.

Lists every user-facing service this cloud runs with its state and endpoint URI, every
cloud host (type ``cloud``: ENABLED, DISABLED by its administrator, NOTREADY when its
heartbeat is stale) and every controller kind on each host that stands for it (type
``controller``, named ``<host>.<kind>``: ENABLED on the leader, with the term's epoch
as ``LocalEpoch``; DISABLED on a standby, as Eucalyptus showed its standby cloud
controller). ``ModifyService`` (``State`` DISABLE/ENABLE, Eucalyptus's
``euserv-modify-service``) drains a host for maintenance and brings it back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.empyrean import registry as reg
from cloudctl.services.empyrean.models import LeaderTerm, ServiceHost
from cloudctl.services.empyrean.registry import HostRegistry

REGISTRY = RuntimeKey[HostRegistry]("empyrean.registry")

# (component type, Eucalyptus path name, description)
API_SERVICES: tuple[tuple[str, str, str], ...] = (
    ("compute", "compute", "EC2: instances, images, volumes, networking"),
    ("euare", "Euare", "IAM: accounts, users, groups, roles, policies"),
    ("tokens", "Tokens", "STS: temporary credentials"),
    ("objectstorage", "objectstorage", "S3: buckets and objects"),
    ("loadbalancing", "LoadBalancing", "ELB: load balancers"),
    ("autoscaling", "AutoScaling", "Auto Scaling groups"),
    ("cloudwatch", "CloudWatch", "CloudWatch metrics and alarms"),
    ("cloudformation", "CloudFormation", "CloudFormation stacks"),
    ("properties", "Properties", "Cloud properties (admin)"),
    ("empyrean", "Empyrean", "Service topology (admin)"),
)


def service_statuses(cloud: Any, host: str) -> list[dict[str, Any]]:
    """Every service with its state; implemented services are ENABLED."""
    statuses = []
    region = cloud.region
    for kind, path, _desc in API_SERVICES:
        from cloudctl.server.router import EUCA_PATHS

        botocore_name = EUCA_PATHS[path.lower()]
        enabled = bool(cloud.handlers.get(botocore_name))
        statuses.append({
            "ServiceId": {
                "Type": kind, "Partition": region, "Name": f"{region}.{kind}",
                "FullName": f"arn:euca:bootstrap:{region}:{kind}:{region}.{kind}/",
                "Uri": f"http://{host}/services/{path}", "Uris": [f"http://{host}/services/{path}"],
            },
            "LocalState": "ENABLED" if enabled else "NOTREADY",
            "LocalEpoch": 0,
            "Details": [] if enabled else ["not yet implemented in this release"],
        })
    return statuses


def _status(kind: str, name: str, region: str, uri: str, state: str, epoch: int,
            details: list[str]) -> dict[str, Any]:
    return {"ServiceId": {"Type": kind, "Partition": region, "Name": name,
                          "FullName": f"arn:euca:bootstrap:{region}:{kind}:{name}/",
                          "Uri": uri, "Uris": [uri] if uri else []},
            "LocalState": state, "LocalEpoch": epoch, "Details": details}


def host_statuses(hosts: list[ServiceHost], leaders: list[LeaderTerm], region: str,
                  now: datetime) -> list[dict[str, Any]]:
    """Every cloud host and every controller kind each one stands for.

    A kind that no live host leads (a handover, or no ZooKeeper quorum) shows NOTREADY
    on every host, with why: requests that need it are accepted and wait for a leader.
    """
    led = {term.kind: term for term in leaders}
    fresh = {h.host: (now - h.heartbeat).total_seconds() <= reg.STALE_SECONDS for h in hosts}
    leaders_now = {kind for h in hosts if fresh[h.host] and h.state == reg.ENABLED
                   for kind in h.controllers if _leads(h, led.get(kind), kind)}
    unreachable = sorted(f"{h.host}: {h.coordination}" for h in hosts
                         if fresh[h.host] and h.coordination.startswith(UNREACHABLE))
    statuses = []
    for host in sorted(hosts, key=lambda h: h.host):
        alive = fresh[host.host]
        state = host.state if alive else reg.NOTREADY
        leading = sorted(k for k in host.controllers if _leads(host, led.get(k), k))
        details = [f"heartbeat {host.heartbeat.isoformat()}"]
        if host.coordination:
            details.append(host.coordination)
        if leading and alive:
            details.append("leads " + ", ".join(leading))
        statuses.append(_status("cloud", host.host, region, host.endpoint, state, 0, details))
        for kind in host.controllers:
            term = led.get(kind)
            leader = _leads(host, term, kind) and alive and host.state == reg.ENABLED
            kind_state = reg.ENABLED if leader else reg.DISABLED
            if not alive or kind not in leaders_now:
                kind_state = reg.NOTREADY
            kind_details = [f"leader {term.host or '-'} epoch {term.epoch}" if term
                            else f"leader {host.host if leader else '-'} (embedded, unfenced)"]
            if kind not in leaders_now:
                kind_details = [_no_leader(kind, unreachable)]
            statuses.append(_status(
                "controller", f"{host.host}.{kind}", region, host.endpoint, kind_state,
                term.epoch if leader and term is not None else 0, kind_details))
    return statuses


UNREACHABLE = "ZooKeeper unreachable"


def _no_leader(kind: str, unreachable: list[str]) -> str:
    why = ("; ".join(unreachable) if unreachable
           else "an election is under way (ZooKeeper session timeout)")
    return (f"no leader: {kind} work is not carried out now; requests that need it are "
            f"accepted and wait for a leader ({why})")


def _leads(host: ServiceHost, term: LeaderTerm | None, kind: str) -> bool:
    """The host leads ``kind`` now: it holds the term (ZooKeeper) and its controller
    process said so at its last heartbeat (a host cut off from ZooKeeper keeps the
    term's row but stops leading); without terms (the embedded cloud), the host that
    reports leading it."""
    if term is not None and term.host != host.host:
        return False
    return kind in (host.leading or [])


class EmpyreanProvider(Provider):
    service = "empyrean"

    async def start(self) -> None:
        self.cloud.spawn(self.cloud.runtime[REGISTRY].run(), "empyrean-heartbeat")

    async def _hosts(self) -> list[dict[str, Any]]:
        async with self.cloud.sessions() as session:
            hosts = list((await session.execute(select(ServiceHost))).scalars())
            leaders = list((await session.execute(select(LeaderTerm))).scalars())
        return host_statuses(hosts, leaders, self.cloud.region, datetime.now(UTC))

    @operation("DescribeServices")
    async def describe_services(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        host = ctx.wire.header("Host") or "localhost:8773"
        statuses = service_statuses(self.cloud, host) + await self._hosts()
        by_type = params.get("ByServiceType")
        if by_type:
            statuses = [s for s in statuses if s["ServiceId"]["Type"] == by_type]
        by_state = params.get("ByState")
        if by_state:
            statuses = [s for s in statuses if s["LocalState"].lower() == by_state.lower()]
        by_partition = params.get("ByPartition")
        if by_partition:
            statuses = [s for s in statuses if s["ServiceId"]["Partition"] == by_partition]
        names = params.get("ServiceNames") or []
        if names:
            known = {s["ServiceId"]["Name"] for s in statuses}
            missing = [n for n in names if n not in known]
            if missing:
                raise AwsError(f"No such service: {missing[0]}", code="InvalidParameterValue")
            statuses = [s for s in statuses if s["ServiceId"]["Name"] in names]
        return {"ServiceStatuses": statuses}

    @operation("ModifyService")
    async def modify_service(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = str(params.get("Name") or "")
        wanted = str(params.get("State") or "").upper()
        states = {"ENABLE": reg.ENABLED, "ENABLED": reg.ENABLED,
                  "DISABLE": reg.DISABLED, "DISABLED": reg.DISABLED}
        if wanted not in states:
            raise AwsError(f"Invalid state {params.get('State')!r}: expected ENABLE or "
                           "DISABLE", code="InvalidParameterValue")
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(ServiceHost, name)
            if row is None:
                raise AwsError(f"No such service: {name}", code="InvalidParameterValue")
            row.state = states[wanted]
        registry = self.cloud.runtime[REGISTRY]
        if name == registry.host:
            registry.apply(states[wanted])  # at once here; the host's other workers next beat
        return {"Return": True}

    @operation("DescribeAvailableServiceTypes")
    async def describe_available_service_types(self, ctx: RequestContext,
                                               params: dict[str, Any]) -> Result:
        extra = [("cloud", "A cloud host: API and controllers (admin state, heartbeat)"),
                 ("controller", "A controller kind on a host: ENABLED where it leads")]
        return {"Available": [{"ComponentName": kind, "Description": desc, "Public": True}
                              for kind, _path, desc in API_SERVICES]
                + [{"ComponentName": kind, "Description": desc, "Public": False}
                   for kind, desc in extra]}
