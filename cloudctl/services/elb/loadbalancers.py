"""Load balancers: Create/Delete/DescribeLoadBalancers (Marker/PageSize paging),
listeners (create, delete, SSL certificate), zones, subnets, security groups, the health
check and the attributes."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from cloudctl.db.base import utcnow
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.elb import common, vpc
from cloudctl.services.elb import properties as props
from cloudctl.services.elb.base import ElbProvider
from cloudctl.services.elb.common import (
    CertificateNotFound,
    DuplicateListener,
    DuplicateLoadBalancerName,
    InvalidConfigurationRequest,
    InvalidScheme,
    InvalidSecurityGroup,
    ListenerNotFound,
    LoadBalancerAttributeNotFound,
    SubnetNotFound,
    TooManyLoadBalancers,
    ValidationError,
)
from cloudctl.services.elb.models import ElbLoadBalancer
from cloudctl.services.elb.paging import page
from cloudctl.services.elb.tags import check_tags

MAX_LOAD_BALANCERS = 20
TARGET_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "SSL")


def _new_id() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def _check_zones(ctx: RequestContext, zones: list[Any], cloud_zones: list[str]) -> list[str]:
    out = []
    for zone in zones:
        if str(zone) not in cloud_zones:
            raise ValidationError(f"Invalid Availability Zone: {zone}")
        if str(zone) not in out:
            out.append(str(zone))
    return out


def _check_sgs(groups: list[Any]) -> list[str]:
    for group in groups:
        if not str(group).startswith("sg-"):
            raise InvalidSecurityGroup(f"One or more security groups are invalid: {group}")
    return [str(g) for g in groups]


def _check_subnets(subnets: list[Any]) -> list[str]:
    for subnet in subnets:
        if not str(subnet).startswith("subnet-"):
            raise SubnetNotFound(f"One or more subnets could not be found: {subnet}")
    return [str(s) for s in subnets]


async def _default_subnets(cloud: Any, account: str, region: str,
                           zones: list[str]) -> list[Any]:
    """In VPC mode a load balancer given zones lands in the account's default subnets
    of those zones (AWS, accounts with a default VPC); [] outside VPC mode."""
    from cloudctl.services.ec2.api import default_subnets

    found = await default_subnets(cloud, account, region, zones)
    if found is None:
        return []
    missing = [z for z in zones if z not in found]
    if missing:
        raise InvalidConfigurationRequest(
            f"There is no default subnet in Availability Zone {missing[0]}")
    return [found[z] for z in zones]


def check_health_check(raw: dict[str, Any]) -> dict[str, Any]:
    target = str(raw.get("Target") or "")
    proto, _, rest = target.partition(":")
    proto = proto.upper()
    port_text, slash, path = rest.partition("/")
    if proto not in TARGET_PROTOCOLS or not port_text.isdigit() or not (
            1 <= int(port_text) <= 65535):
        raise ValidationError(f"HealthCheck Target must be PROTOCOL:PORT[/PATH], got "
                              f"'{target}'")
    if proto in common.LAYER7 and not slash:
        raise ValidationError("HealthCheck HTTP Target must specify a ping path")
    if proto not in common.LAYER7 and slash:
        raise ValidationError("HealthCheck TCP/SSL Target must not specify a path")
    values = {}
    for key, low, high in (("Interval", 5, 300), ("Timeout", 2, 60),
                           ("UnhealthyThreshold", 2, 10), ("HealthyThreshold", 2, 10)):
        value = int(raw.get(key) or 0)
        if not low <= value <= high:
            raise ValidationError(f"HealthCheck {key} must be between {low} and {high}")
        values[key] = value
    if values["Timeout"] >= values["Interval"]:
        raise ValidationError("HealthCheck Timeout must be less than Interval")
    norm = f"{proto}:{int(port_text)}" + (f"/{path}" if slash else "")
    return {"Target": norm, **values}


class LoadBalancersProvider(ElbProvider):
    service = "elb"

    async def start(self) -> None:
        """Start the data plane controller (it acts only on the leader)."""
        from cloudctl.services.elb.dataplane import CONTROLLER

        controller = self.cloud.runtime[CONTROLLER]

        async def changed(name: str, value: Any) -> None:
            controller.resync_now()

        for prop in (props.DATAPLANE, props.DNS_NETNS, props.DNS_LISTEN):
            self.cloud.properties.on_change(prop.name, changed)
        self.cloud.spawn(controller.run(), "elb-dataplane")

    async def _certificate(self, session: Any, account: str, arn: str) -> None:
        from cloudctl.services.iam.api import server_certificate

        found = await server_certificate(session, self.cloud.secrets, account, arn)
        if found is None:
            raise CertificateNotFound(f"Server Certificate not found for the key: {arn}")

    async def _listeners(self, session: Any, account: str,
                         raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [common.check_listener(r) for r in raw]
        for lst in out:
            if "SSLCertificateId" in lst:
                await self._certificate(session, account, lst["SSLCertificateId"])
        return out

    @operation("CreateLoadBalancer")
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = common.check_name(params.get("LoadBalancerName"))
        raw = list(params.get("Listeners") or [])
        if not raw:
            raise ValidationError("At least one listener is required")
        scheme = str(params.get("Scheme") or "internet-facing")
        if scheme not in ("internet-facing", "internal"):
            raise InvalidScheme(f"Invalid scheme: {scheme}")
        zones_in = list(params.get("AvailabilityZones") or [])
        subnets_in = list(params.get("Subnets") or [])
        if zones_in and subnets_in:
            raise ValidationError("Specify either AvailabilityZones or Subnets, not both")
        if not zones_in and not subnets_in:
            raise ValidationError("Either AvailabilityZones or Subnets must be specified")
        zones = _check_zones(ctx, zones_in, self.cloud.region_zones.get(ctx.region, []))
        if zones and not subnets_in:
            subnets_in = await _default_subnets(self.cloud, account, ctx.region, zones)
        subnets = _check_subnets(subnets_in)
        if scheme == "internal" and not subnets:
            raise InvalidConfigurationRequest(
                "The internal scheme is only available for load balancers in a VPC")
        groups = _check_sgs(list(params.get("SecurityGroups") or []))
        if groups and not subnets:
            raise InvalidConfigurationRequest(
                "Security groups are only available for load balancers in a VPC")
        tags = check_tags(list(params.get("Tags") or []))
        async with self.cloud.sessions() as session, session.begin():
            if subnets:
                vpc_id, facts = await vpc.check_subnets(session, account, ctx.region, subnets)
                zones = list(dict.fromkeys(f.zone for f in facts))
                groups = await vpc.check_groups(session, account, ctx.region, vpc_id, groups)
            listeners = await self._listeners(session, account, raw)
            ports = [lst["LoadBalancerPort"] for lst in listeners]
            if len(set(ports)) != len(ports):
                raise DuplicateListener("A listener already exists for the port")
            common.check_backend_protocols(listeners)
            existing = await common.find(session, account, ctx.region, name)
            if existing is not None:
                same = ([{k: v for k, v in lst.items() if k != "PolicyNames"}
                         for lst in existing.listeners] == listeners
                        and existing.scheme == scheme)
                if not same:
                    raise DuplicateLoadBalancerName(
                        f"Load Balancer named '{name}' already exists and it is configured "
                        "with different parameters.")
                return {"DNSName": common.dns_name(self.cloud, existing)}
            count = len((await session.execute(select(ElbLoadBalancer.lb_id).where(
                ElbLoadBalancer.account_id == account,
                ElbLoadBalancer.region == ctx.region))).all())
            if count >= MAX_LOAD_BALANCERS:
                raise TooManyLoadBalancers(
                    f"Exceeded quota of account {account}: at most "
                    f"{MAX_LOAD_BALANCERS} load balancers")
            lb = ElbLoadBalancer(
                lb_id=_new_id(), account_id=account, region=ctx.region, name=name,
                scheme=scheme, zones=zones, subnets=subnets, security_groups=groups,
                listeners=[{**lst, "PolicyNames": []} for lst in listeners],
                health_check=common.default_health_check(listeners),
                attributes=common.default_attributes(), policies=[], backend_policies={},
                instances=[], tags=tags, generation=1, created_at=utcnow(),
                updated_at=utcnow())
            session.add(lb)
            if subnets:
                await vpc.sync(session, lb)
        return {"DNSName": common.dns_name(self.cloud, lb)}

    @operation("DeleteLoadBalancer")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = common.check_name(params.get("LoadBalancerName"))
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.find(session, account, ctx.region, name)
            if lb is not None:  # AWS: deleting a missing load balancer succeeds
                if lb.subnets:
                    await vpc.sync(session, lb, deleted=True)
                await session.delete(lb)
        return {}

    @operation("DescribeLoadBalancers")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = [str(n) for n in params.get("LoadBalancerNames") or []]
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(ElbLoadBalancer).where(
                ElbLoadBalancer.account_id == account,
                ElbLoadBalancer.region == ctx.region))).scalars().all())
        if names:
            have = {r.name: r for r in rows}
            missing = [n for n in names if n not in have]
            if missing:
                raise common.LoadBalancerNotFound(
                    f"There is no ACTIVE Load Balancer named '{missing[0]}'")
            rows = [have[n] for n in dict.fromkeys(names)]
        rows.sort(key=lambda r: r.name)
        items, marker = page(params, [r.name for r in rows], "DescribeLoadBalancers",
                             maximum=400)
        wanted = set(items)
        shown = [r for r in rows if r.name in wanted]
        async with self.cloud.sessions() as session:
            vpcs = {r.lb_id: await vpc.vpc_of(session, r) for r in shown if r.subnets}
            firsts = await vpc.group_names(session, [g for r in shown for g in
                                                     r.security_groups[:1]])
        out: dict[str, Any] = {"LoadBalancerDescriptions": [
            common.describe(self.cloud, r, vpcs.get(r.lb_id),
                            firsts.get((r.security_groups or [""])[0])) for r in shown]}
        if marker:
            out["NextMarker"] = marker
        return out

    @operation("CreateLoadBalancerListeners")
    async def create_listeners(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        raw = list(params.get("Listeners") or [])
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            new = await self._listeners(session, account, raw)
            current = {lst["LoadBalancerPort"]: lst for lst in lb.listeners}
            merged = list(lb.listeners)
            for lst in new:
                old = current.get(lst["LoadBalancerPort"])
                if old is not None:
                    if {k: v for k, v in old.items() if k != "PolicyNames"} != lst:
                        raise DuplicateListener(
                            f"A listener already exists for {lb.name} with "
                            f"LoadBalancerPort {lst['LoadBalancerPort']}, but with a "
                            "different InstancePort, Protocol, or SSLCertificateId")
                    continue
                current[lst["LoadBalancerPort"]] = lst
                merged.append({**lst, "PolicyNames": []})
            common.check_backend_protocols(merged)
            lb.listeners = merged
            common.touch(lb)
        return {}

    @operation("DeleteLoadBalancerListeners")
    async def delete_listeners(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        ports = {int(p) for p in params.get("LoadBalancerPorts") or []}
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            lb.listeners = [lst for lst in lb.listeners
                            if lst["LoadBalancerPort"] not in ports]
            common.touch(lb)
        return {}

    @operation("SetLoadBalancerListenerSSLCertificate")
    async def set_certificate(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        port = int(params.get("LoadBalancerPort") or 0)
        cert = str(params.get("SSLCertificateId") or "")
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            listeners = [dict(lst) for lst in lb.listeners]
            target = next((lst for lst in listeners if lst["LoadBalancerPort"] == port), None)
            if target is None:
                raise ListenerNotFound(f"Unable to find listener for port {port}")
            if target["Protocol"] not in common.SECURE:
                raise InvalidConfigurationRequest(
                    "The listener is not an HTTPS or SSL listener")
            await self._certificate(session, account, cert)
            target["SSLCertificateId"] = cert
            lb.listeners = listeners
            common.touch(lb)
        return {}

    @operation("EnableAvailabilityZonesForLoadBalancer")
    async def enable_zones(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._zones(ctx, params, add=True)

    @operation("DisableAvailabilityZonesForLoadBalancer")
    async def disable_zones(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._zones(ctx, params, add=False)

    async def _zones(self, ctx: RequestContext, params: dict[str, Any], add: bool) -> Result:
        account = ctx.require_account()
        zones = _check_zones(ctx, list(params.get("AvailabilityZones") or []),
                             self.cloud.region_zones.get(ctx.region, []))
        defaults = await _default_subnets(self.cloud, account, ctx.region, zones)
        if defaults:  # in the default VPC: its subnets of those zones (as AWS)
            lb_name = params.get("LoadBalancerName")
            async with self.cloud.sessions() as session:
                lb = await common.get(session, account, ctx.region, lb_name)
                mine = await vpc.vpc_of(session, lb)
                theirs, _ = await vpc.check_subnets(session, account, ctx.region, defaults)
            if lb.subnets and mine == theirs:
                if add:
                    defaults = [d for d in defaults if d not in lb.subnets]
                    if defaults:
                        await self._subnets(ctx, {"LoadBalancerName": lb_name,
                                                  "Subnets": defaults}, add=True)
                else:
                    await self._subnets(ctx, {"LoadBalancerName": lb_name, "Subnets": [
                        d for d in defaults if d in lb.subnets]}, add=False)
                async with self.cloud.sessions() as session:
                    lb = await common.get(session, account, ctx.region, lb_name)
                return {"AvailabilityZones": list(lb.zones)}
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            if lb.subnets:
                raise InvalidConfigurationRequest(
                    "A load balancer in a VPC takes subnets, not Availability Zones")
            if add:
                now = lb.zones + [z for z in zones if z not in lb.zones]
            else:
                now = [z for z in lb.zones if z not in zones]
                if not now:
                    raise ValidationError(
                        "A load balancer must keep at least one Availability Zone")
            lb.zones = now
            common.touch(lb)
        return {"AvailabilityZones": now}

    @operation("AttachLoadBalancerToSubnets")
    async def attach_subnets(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._subnets(ctx, params, add=True)

    @operation("DetachLoadBalancerFromSubnets")
    async def detach_subnets(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._subnets(ctx, params, add=False)

    async def _subnets(self, ctx: RequestContext, params: dict[str, Any], add: bool) -> Result:
        account = ctx.require_account()
        subnets = _check_subnets(list(params.get("Subnets") or []))
        if not subnets:
            raise ValidationError("Subnets must name at least one subnet")
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            if not lb.subnets:
                raise InvalidConfigurationRequest(
                    "A load balancer outside a VPC takes Availability Zones, not subnets")
            if add:
                now = lb.subnets + [s for s in subnets if s not in lb.subnets]
            else:
                missing = [s for s in subnets if s not in lb.subnets]
                if missing:
                    raise InvalidConfigurationRequest(
                        f"The load balancer is not attached to subnet {missing[0]}")
                now = [s for s in lb.subnets if s not in subnets]
                if not now:
                    raise InvalidConfigurationRequest(
                        "A load balancer must stay attached to at least one subnet")
            mine = await vpc.vpc_of(session, lb)
            found_vpc, facts = await vpc.check_subnets(session, account, ctx.region, now)
            if mine is not None and found_vpc != mine:
                raise InvalidConfigurationRequest(
                    f"The subnets must belong to the load balancer's VPC {mine}")
            lb.subnets = now
            lb.zones = list(dict.fromkeys(f.zone for f in facts))
            await vpc.sync(session, lb)
            common.touch(lb)
        return {"Subnets": now}

    @operation("ApplySecurityGroupsToLoadBalancer")
    async def apply_groups(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        groups = _check_sgs(list(params.get("SecurityGroups") or []))
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            if not lb.subnets:
                raise InvalidConfigurationRequest(
                    "Security groups are only available for load balancers in a VPC")
            vpc_id = await vpc.vpc_of(session, lb)
            if vpc_id is None:
                raise InvalidConfigurationRequest("The load balancer's subnets are gone")
            groups = await vpc.check_groups(session, account, ctx.region, vpc_id, groups)
            lb.security_groups = groups
            await vpc.sync(session, lb)
            common.touch(lb)
        return {"SecurityGroups": groups}

    @operation("ConfigureHealthCheck")
    async def configure_health_check(self, ctx: RequestContext,
                                     params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        check = check_health_check(dict(params.get("HealthCheck") or {}))
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            lb.health_check = check
            common.touch(lb)
        return {"HealthCheck": check}

    @operation("DescribeLoadBalancerAttributes")
    async def describe_attributes(self, ctx: RequestContext,
                                  params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
        return {"LoadBalancerAttributes": dict(lb.attributes)}

    @operation("ModifyLoadBalancerAttributes")
    async def modify_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        given = dict(params.get("LoadBalancerAttributes") or {})
        async with self.cloud.sessions() as session, session.begin():
            lb = await common.get(session, account, ctx.region, params.get("LoadBalancerName"))
            attrs = {**common.default_attributes(), **lb.attributes}
            attrs.update(_modified(given))
            lb.attributes = attrs
            common.touch(lb)
        return {"LoadBalancerName": lb.name, "LoadBalancerAttributes": _modified(given)}


def _modified(given: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "CrossZoneLoadBalancing" in given:
        out["CrossZoneLoadBalancing"] = {
            "Enabled": bool(given["CrossZoneLoadBalancing"].get("Enabled"))}
    if "ConnectionDraining" in given:
        raw = given["ConnectionDraining"]
        timeout = int(raw.get("Timeout") or 300)
        if not 1 <= timeout <= 3600:
            raise ValidationError("ConnectionDraining Timeout must be between 1 and 3600")
        out["ConnectionDraining"] = {"Enabled": bool(raw.get("Enabled")), "Timeout": timeout}
    if "ConnectionSettings" in given:
        idle = int(given["ConnectionSettings"].get("IdleTimeout") or 0)
        if not 1 <= idle <= 4000:
            raise ValidationError("ConnectionSettings IdleTimeout must be between 1 and 4000")
        out["ConnectionSettings"] = {"IdleTimeout": idle}
    if "AccessLog" in given:
        raw = given["AccessLog"]
        log: dict[str, Any] = {"Enabled": bool(raw.get("Enabled"))}
        if log["Enabled"]:
            interval = int(raw.get("EmitInterval") or 60)
            if interval not in (5, 60):
                raise ValidationError("AccessLog EmitInterval must be 5 or 60")
            if not raw.get("S3BucketName"):
                raise ValidationError("AccessLog S3BucketName is required when enabled")
            log.update({"S3BucketName": str(raw["S3BucketName"]), "EmitInterval": interval,
                        "S3BucketPrefix": str(raw.get("S3BucketPrefix") or "")})
        out["AccessLog"] = log
    for extra in given.get("AdditionalAttributes") or []:
        raise LoadBalancerAttributeNotFound(
            f"The attribute '{extra.get('Key')}' is not known")
    return out
