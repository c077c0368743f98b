"""How EC2 operations name their resources for IAM (``authz.declare("ec2", ...)``).

AWS ARN forms: ``arn:aws:ec2:REGION:ACCOUNT:instance/i-...`` (also volume, security-group,
key-pair/NAME, elastic-ip/eipalloc-...); images and snapshots carry no account
(``arn:aws:ec2:REGION::image/emi-...``, ``...::snapshot/snap-...``) as on AWS. Only the
operations that name resources get ARNs (the ``named_by`` of each type in
``cloudctl.services.ec2.shared.resources``, plus a few special cases);
Describe* and Create* without ids stay ``*`` as on AWS, and cost nothing.

Each named resource may carry its own condition keys: ``ec2:ResourceTag/<key>`` and
``aws:ResourceTag/<key>`` come from the ``ec2_tags`` table in one batched query, made
only when the caller's policies for the action test such a key. Names that are not the
ARN's id (GroupName, KeyPairId, PublicIp, AssociationId, DetachVolume without
InstanceId) are resolved in the same session so a Deny cannot be bypassed by naming a
resource the other way. ``ec2:Region`` is set for every EC2 call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from cloudctl.server.context import RequestContext
from cloudctl.services import authz
from cloudctl.services.ec2.shared import resources

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _fields() -> dict[str, tuple[tuple[str, str], ...]]:
    """operation -> ((parameter, ARN resource type), ...), from the resource registry."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for rtype in resources.all_types():
        for op, parameter in rtype.named_by:
            if rtype.arn_type is not None:
                out[op] = (*out.get(op, ()), (parameter, rtype.arn_type))
    return out


_BY_OPERATION = _fields()
_NO_ACCOUNT = frozenset(t.arn_type for t in resources.all_types() if not t.arn_account)


def arn(region: str, account: str, kind: str, name: str) -> str:
    """The ARN of an EC2 resource of ``kind`` (``instance``, ``image``...)."""
    owner = "" if kind in _NO_ACCOUNT else account
    return f"arn:aws:ec2:{region}:{owner}:{kind}/{name}"


def id_type(resource_id: str) -> str | None:
    """The ARN resource type of an EC2 id (by prefix), None when unknown."""
    if "-" not in resource_id:
        return None
    rtype = resources.by_prefix(resource_id.split("-", 1)[0])
    return None if rtype is None else rtype.arn_type


def _strings(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return [str(value)]


class Ec2Resources:
    """The ``resolve`` hook of EC2's declaration (holds the cloud for its lookups)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def resolve(self, ctx: RequestContext, params: dict[str, Any],
                      want_tags: bool) -> list[tuple[str, dict[str, Any]]]:
        """``[(arn, condition keys of that resource)]``; empty: the call is on ``*``."""
        op = ctx.operation
        named: list[tuple[str, str]] = []  # (type, id or name)
        lookups = _lookups(op, params)
        if op == "RunInstances":
            named.append(("image", str(params.get("ImageId") or "*")))
            named.append(("instance", "*"))
        elif op in ("CreateTags", "DeleteTags"):
            for rid in _strings(params.get("Resources")):
                named.append((id_type(rid) or "*", rid))
        else:
            fields = _BY_OPERATION.get(op)
            if fields is None and not lookups:
                return []
            for field, kind in fields or ():
                named.extend((kind, v) for v in _strings(params.get(field)))
        if lookups:
            named.extend(await self._lookup(ctx, lookups))
        if not named:
            return []
        account, region = ctx.account_id or "", ctx.region
        tags: dict[str, dict[str, str]] = {}
        if want_tags:
            ids = sorted({name for kind, name in named
                          if name != "*" and kind not in ("key-pair", "*")})
            tags = await self._tags(account, region, ids)
        out: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for kind, name in named:
            resource = "*" if kind == "*" else arn(region, account, kind, name)
            if resource in seen:
                continue
            seen.add(resource)
            keys: dict[str, Any] = {}
            for key, value in tags.get(name, {}).items():
                keys[f"ec2:ResourceTag/{key}"] = value
                keys[f"aws:ResourceTag/{key}"] = value
            out.append((resource, keys))
        return out

    async def _tags(self, account: str, region: str,
                    ids: list[str]) -> dict[str, dict[str, str]]:
        if not ids:
            return {}
        from cloudctl.services.ec2.shared.tags import Tag

        out: dict[str, dict[str, str]] = {}
        async with self.cloud.sessions() as session:
            rows = await session.execute(
                select(Tag.resource_id, Tag.key, Tag.value).where(
                    Tag.account_id == account, Tag.region == region,
                    Tag.resource_id.in_(ids)))
            for rid, key, value in rows:
                out.setdefault(rid, {})[key] = value
        return out

    async def _lookup(self, ctx: RequestContext,
                      lookups: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Resources named another way than by their ARN id; unknown names stay ``*``-free
        (the provider answers NotFound for them)."""
        from cloudctl.services.ec2.compute.keypairs import KeyPair
        from cloudctl.services.ec2.ebs.models import Volume
        from cloudctl.services.network.models import AddressRow, SecurityGroupRow

        account, region = ctx.account_id or "", ctx.region

        def query(what: str, value: str) -> tuple[str, Any] | None:
            """(ARN resource type, the statement finding its id) of one lookup."""
            if what == "GroupName":
                return "security-group", select(SecurityGroupRow.id).where(
                    SecurityGroupRow.account_id == account, SecurityGroupRow.region == region,
                    SecurityGroupRow.name == value)
            if what == "KeyPairId":
                return "key-pair", select(KeyPair.name).where(
                    KeyPair.account_id == account, KeyPair.region == region,
                    KeyPair.key_pair_id == value)
            if what in ("PublicIp", "AssociationId"):
                column = (AddressRow.public_ip if what == "PublicIp"
                          else AddressRow.association_id)
                return "elastic-ip", select(AddressRow.allocation_id).where(
                    column == value, or_(AddressRow.account_id == account,
                                         AddressRow.account_id.is_(None)))
            if what == "VolumeInstance":
                return "instance", select(Volume.instance_id).where(
                    Volume.account_id == account, Volume.region == region,
                    Volume.volume_id == value)
            return None

        out: list[tuple[str, str]] = []
        async with self.cloud.sessions() as session:
            for what, value in lookups:
                lookup = query(what, value)
                if lookup is None:
                    continue
                kind, statement = lookup
                found = (await session.execute(statement)).scalars().first()
                if found:
                    out.append((kind, found))
        return out


def _lookups(op: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if op in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress",
              "DeleteSecurityGroup") and params.get("GroupName") and not params.get("GroupId"):
        out.append(("GroupName", str(params["GroupName"])))
    elif op == "DeleteKeyPair" and params.get("KeyPairId") and not params.get("KeyName"):
        out.append(("KeyPairId", str(params["KeyPairId"])))
    elif op in ("AssociateAddress", "ReleaseAddress") and params.get("PublicIp") \
            and not params.get("AllocationId"):
        out.append(("PublicIp", str(params["PublicIp"])))
    elif op == "DisassociateAddress":
        if params.get("AssociationId"):
            out.append(("AssociationId", str(params["AssociationId"])))
        elif params.get("PublicIp"):
            out.append(("PublicIp", str(params["PublicIp"])))
    elif op == "DetachVolume" and params.get("VolumeId") and not params.get("InstanceId"):
        out.append(("VolumeInstance", str(params["VolumeId"])))
    return out


def _context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"ec2:Region": ctx.region}


def install(cloud: Cloud) -> None:
    """Declare EC2's resource naming to the authorizer (called from ``assemble``)."""
    authz.declare("ec2", resolve=Ec2Resources(cloud).resolve, context=_context,
                  denial=authz.encoded_denial(cloud.secrets))
