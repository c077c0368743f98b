"""EC2 security groups (EDGE / EC2-classic semantics) and their rules.

Owns the operations on the `ec2_security_groups`, `ec2_security_group_rules`
and `ec2_instance_security_groups` tables (`cloudctl.services.network.models`).
Every change bumps the network view version in its transaction and wakes the
network controller after commit, which pushes the new view to every host.

The `default` group of an account is created on first use with EDGE
semantics: members may talk to each other (ingress from itself), all egress
is allowed (0.0.0.0/0), nothing else comes in. New groups allow all egress.

Public functions for the compute provider (RunInstances, ModifyInstanceAttribute,
DescribeInstances, TerminateInstances); all take the caller's session and run
inside the caller's transaction (they never commit):

- `resolve_groups_for_launch(session, account, region, names, ids) -> list[str]`
- `set_instance_groups(session, account, region, instance_id, group_ids) -> None`
- `instance_groups(session, instance_ids) -> dict[str, list[GroupRef]]`
- `forget_instance(session, instance_id) -> None`
After committing, call `cloudctl.services.network.state.notify()` for a fast push.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.authz import is_cloud_admin
from cloudctl.services.ec2.shared import tags as tags_mod
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.ec2.shared.resources import SECURITY_GROUP
from cloudctl.services.network.models import (
    InstanceGroupRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)
from cloudctl.services.network.rules import (
    RuleSpec,
    describe_rule,
    invalid,
    parse_permissions,
    ports_out,
)
from cloudctl.services.network.state import bump_version, notify
from cloudctl.services.paging import paginate

DEFAULT_GROUP = "default"
_NAME_RE = re.compile(r"^[\x20-\x7e]{1,255}\Z")


@dataclass(frozen=True)
class GroupRef:
    """What DescribeInstances shows of a group (`GroupSet` item)."""

    group_id: str
    group_name: str


def group_not_found(what: str) -> AwsError:
    return AwsError(f"The security group '{what}' does not exist", code="InvalidGroup.NotFound")


async def _ensure_default(session: AsyncSession, account: str, region: str) -> SecurityGroupRow:
    """The account's default group in the region, made on first use.

    Two requests may make it at once (two stacks, two launches): the insert runs in a
    savepoint, and the loser of the unique-key race reads the winner's group."""
    row = await _default_row(session, account, region)
    if row is not None:
        return row
    row = SecurityGroupRow(id=ids.resource_id("sg"), account_id=account, region=region,
                           name=DEFAULT_GROUP, description="default group")
    try:
        async with session.begin_nested():
            session.add(row)
            session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=row.id,
                                             egress=False, protocol="-1", peer_group_id=row.id,
                                             peer_account=account))
            session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=row.id,
                                             egress=True, protocol="-1", cidr="0.0.0.0/0"))
    except IntegrityError:
        made = await _default_row(session, account, region)
        if made is None:
            raise
        return made
    await bump_version(session)
    return row


async def _default_row(session: AsyncSession, account: str,
                       region: str) -> SecurityGroupRow | None:
    found: SecurityGroupRow | None = (await session.execute(select(SecurityGroupRow).where(
        SecurityGroupRow.account_id == account, SecurityGroupRow.region == region,
        SecurityGroupRow.name == DEFAULT_GROUP,
        SecurityGroupRow.vpc_id == ""))).scalar_one_or_none()
    return found


async def groups_by_ids(session: AsyncSession, region: str, group_ids: Iterable[str]
                  ) -> dict[str, SecurityGroupRow]:
    wanted = list(dict.fromkeys(group_ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(SecurityGroupRow).where(
        SecurityGroupRow.id.in_(wanted), SecurityGroupRow.region == region))).scalars()
    return {r.id: r for r in rows}


async def _by_name(session: AsyncSession, account: str, region: str,
                   name: str) -> SecurityGroupRow | None:
    if name == DEFAULT_GROUP:
        return await _ensure_default(session, account, region)
    return (await session.execute(select(SecurityGroupRow).where(
        SecurityGroupRow.account_id == account, SecurityGroupRow.region == region,
        SecurityGroupRow.name == name, SecurityGroupRow.vpc_id == ""))).scalar_one_or_none()


async def resolve_groups_for_launch(session: AsyncSession, account: str, region: str,
                                    names: list[str] | None,
                                    ids: list[str] | None) -> list[str]:
    """The group ids an instance launched with `SecurityGroups`/`SecurityGroupIds` gets.

    No names and no ids: the account's `default` group (created on first use,
    EDGE semantics: members talk to each other, all egress, no other ingress).
    Unknown names/ids raise `AwsError` InvalidGroup.NotFound. Order is kept,
    duplicates dropped.
    """
    out: list[str] = []
    for name in names or []:
        row = await _by_name(session, account, region, name)
        if row is None:
            raise group_not_found(name)
        out.append(row.id)
    found = await groups_by_ids(session, region, SECURITY_GROUP.check_all(ids or []))
    for gid in ids or []:
        row = found.get(gid)
        if row is None or row.account_id != account:
            raise group_not_found(gid)
        out.append(gid)
    if not out:
        out.append((await _ensure_default(session, account, region)).id)
    return list(dict.fromkeys(out))


async def set_instance_groups(session: AsyncSession, account: str, region: str,
                              instance_id: str, group_ids: list[str]) -> None:
    """Replace the groups of `instance_id` (ModifyInstanceAttribute --groups, RunInstances).

    Every id must be a group of `account` in `region` (InvalidGroup.NotFound);
    an empty list raises InvalidParameterValue. Bumps the network view version.
    """
    if not group_ids:
        raise invalid("An instance must belong to at least one security group.")
    wanted = list(dict.fromkeys(group_ids))
    found = await groups_by_ids(session, region, wanted)
    for gid in wanted:
        if gid not in found or found[gid].account_id != account:
            raise group_not_found(gid)
    await session.execute(delete(InstanceGroupRow).where(
        InstanceGroupRow.instance_id == instance_id))
    for pos, gid in enumerate(wanted):
        session.add(InstanceGroupRow(instance_id=instance_id, group_id=gid, position=pos))
    await bump_version(session)
    await session.flush()


async def instance_groups(session: AsyncSession,
                          instance_ids: list[str]) -> dict[str, list[GroupRef]]:
    """The groups of each instance (for DescribeInstances `Groups`/`SecurityGroups`)."""
    if not instance_ids:
        return {}
    rows = (await session.execute(
        select(InstanceGroupRow.instance_id, SecurityGroupRow.id, SecurityGroupRow.name)
        .join(SecurityGroupRow, SecurityGroupRow.id == InstanceGroupRow.group_id)
        .where(InstanceGroupRow.instance_id.in_(instance_ids))
        .order_by(InstanceGroupRow.instance_id, InstanceGroupRow.position))).all()
    out: dict[str, list[GroupRef]] = {}
    for iid, gid, name in rows:
        out.setdefault(iid, []).append(GroupRef(gid, name))
    return out


async def forget_instance(session: AsyncSession, instance_id: str) -> None:
    """Drop the memberships of a terminated instance (bumps the view version)."""
    await session.execute(delete(InstanceGroupRow).where(
        InstanceGroupRow.instance_id == instance_id))
    await bump_version(session)


# -- responses ---------------------------------------------------------------------------

def _rule_out(rule: SecurityGroupRuleRow, group: SecurityGroupRow,
              tags: list[dict[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SecurityGroupRuleId": rule.id, "GroupId": group.id, "GroupOwnerId": group.account_id,
        "IsEgress": rule.egress, "IpProtocol": rule.protocol,
        "FromPort": rule.from_port if rule.from_port is not None else -1,
        "ToPort": rule.to_port if rule.to_port is not None else -1,
        "Description": rule.description, "Tags": tags,
    }
    if rule.cidr is not None:
        out["CidrIpv4"] = rule.cidr
    else:
        out["ReferencedGroupInfo"] = {"GroupId": rule.peer_group_id, "UserId": rule.peer_account}
    return out


def _permissions(rules: list[SecurityGroupRuleRow], names: dict[str, str]) -> list[dict[str, Any]]:
    perms: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for r in rules:
        key = (r.protocol, r.from_port, r.to_port)
        perm = perms.get(key)
        if perm is None:
            perm = {"IpProtocol": r.protocol, **ports_out(r.protocol, r.from_port, r.to_port),
                    "IpRanges": [], "UserIdGroupPairs": [], "Ipv6Ranges": [],
                    "PrefixListIds": []}
            perms[key] = perm
        if r.cidr is not None:
            rng = {"CidrIp": r.cidr}
            if r.description:
                rng["Description"] = r.description
            perm["IpRanges"].append(rng)
        else:
            pair = {"GroupId": r.peer_group_id or "", "UserId": r.peer_account or ""}
            if r.peer_group_id in names:
                pair["GroupName"] = names[r.peer_group_id or ""]
            if r.description:
                pair["Description"] = r.description
            perm["UserIdGroupPairs"].append(pair)
    return list(perms.values())


def _check_new(name: str | None, desc: str | None) -> None:
    """CreateSecurityGroup's checks of the new group's name and description."""
    if not name:
        raise AwsError("The request must contain the parameter groupName",
                       code="MissingParameter")
    if desc is None or desc == "":
        raise AwsError("The request must contain the parameter groupDescription",
                       code="MissingParameter")
    if not _NAME_RE.match(name) or name.lower().startswith("sg-"):
        raise invalid(f"Invalid security group name '{name}': 1-255 ASCII characters, "
                      f"not starting with sg-")
    if not _NAME_RE.match(desc):
        raise invalid("Invalid security group description: 1-255 ASCII characters")


@dataclass(frozen=True)
class NewGroup:
    """One group of a batch (``create_groups``): EC2-classic (no VPC), with its tags."""

    name: str
    description: str
    tags: list[dict[str, str]]
    system_tags: list[dict[str, str]]  # aws: tags a service sets (a stack's)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


async def create_groups(cloud: Any, account: str, region: str,
                        groups: list[NewGroup]) -> list[str | AwsError]:
    """Many ``CreateSecurityGroup`` (authorised each by the caller) in one transaction:
    each group's id, or the error its own call would answer (a name taken, in the
    account or earlier in the batch; a bad name or tag). One network view version for
    all. A concurrent create of one of the names (the unique key) fails the
    transaction: the groups are then made one transaction each, as separate calls."""
    out: list[str | AwsError | None] = [None] * len(groups)
    for index, group in enumerate(groups):
        try:
            _check_new(group.name, group.description)
            tags_mod.check_new_tags(cloud, group.tags, group.system_tags)
        except AwsError as error:
            out[index] = error
    wanted = [g.name for g, o in zip(groups, out, strict=True) if o is None]
    try:
        async with cloud.sessions() as session, session.begin():
            # one read for the names taken and the default group (made if missing)
            taken = set((await session.execute(select(SecurityGroupRow.name).where(
                SecurityGroupRow.account_id == account, SecurityGroupRow.region == region,
                SecurityGroupRow.vpc_id == "",
                SecurityGroupRow.name.in_([*wanted, DEFAULT_GROUP])))).scalars())
            if DEFAULT_GROUP not in taken:
                await _ensure_default(session, account, region)
                taken.add(DEFAULT_GROUP)
            made: dict[int, str] = {}
            rows: list[dict[str, Any]] = []
            now = utcnow()
            tagged: list[tuple[str, list[dict[str, str]], list[dict[str, str]]]] = []
            for index, group in enumerate(groups):
                if out[index] is not None:
                    continue
                if group.name in taken:
                    out[index] = AwsError(f"The security group '{group.name}' already exists",
                                          code="InvalidGroup.Duplicate")
                    continue
                taken.add(group.name)
                gid = ids.resource_id("sg")
                made[index] = gid
                rows.append({"id": gid, "account_id": account, "region": region,
                             "name": group.name, "description": group.description,
                             "vpc_id": "", "created_at": now})
                tagged.append((gid, group.tags, group.system_tags))
            if made:  # one statement a table: the groups, their all-egress rules, tags
                await session.execute(insert(_table(SecurityGroupRow)), rows)
                await session.execute(insert(_table(SecurityGroupRuleRow)), [
                    {"id": ids.resource_id("sgr"), "group_id": gid, "egress": True,
                     "protocol": "-1", "from_port": None, "to_port": None,
                     "cidr": "0.0.0.0/0", "peer_group_id": None, "peer_account": None,
                     "description": "", "created_at": now} for gid in made.values()])
                await tags_mod.tag_new(session, account, region, "security-group", tagged)
                await bump_version(session)
    except IntegrityError:
        if len(groups) == 1:  # its name, taken since it was looked for
            return [AwsError(f"The security group '{groups[0].name}' already exists",
                             code="InvalidGroup.Duplicate")]
        return [(await create_groups(cloud, account, region, [g]))[0] if o is None else o
                for g, o in zip(groups, out, strict=True)]
    notify()
    return [made[i] if o is None else o for i, o in enumerate(out)]


class SecurityGroupsProvider(Provider):
    service = "ec2"

    async def start(self) -> None:
        tags_mod.register_resource("sg", _existing_groups)
        from cloudctl.services.network.service import start_network

        await start_network(self.cloud)

    async def stop(self) -> None:
        from cloudctl.services.network.service import stop_network

        await stop_network(self.cloud)

    @operation("CreateSecurityGroup")
    async def create_security_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = params.get("GroupName")
        desc = params.get("Description")
        _check_new(name, desc)
        assert name is not None and desc is not None
        async with self.cloud.sessions() as session, session.begin():
            await _ensure_default(session, account, ctx.region)
            vpc_id = ""
            if params.get("VpcId"):  # a VPC group: names are unique within the VPC
                from cloudctl.services.ec2.vpc import groups as vpc_groups

                vpc_id = await vpc_groups.check_vpc(session, account, ctx.region,
                                                    params["VpcId"], name)
            elif await _by_name(session, account, ctx.region, name) is not None:
                raise AwsError(f"The security group '{name}' already exists",
                               code="InvalidGroup.Duplicate")
            row = SecurityGroupRow(id=ids.resource_id("sg"), account_id=account,
                                   region=ctx.region, name=name, description=desc,
                                   vpc_id=vpc_id)
            session.add(row)
            await session.flush()
            session.add(SecurityGroupRuleRow(id=ids.resource_id("sgr"), group_id=row.id,
                                             egress=True, protocol="-1", cidr="0.0.0.0/0"))
            specs = params.get("TagSpecifications")
            if specs:
                tags_mod.check_tag_specifications(specs, ["security-group"])
                await tags_mod.apply_tag_specifications(self.cloud, session, account,
                                                        ctx.region, "security-group", [row.id],
                                                        specs)
            await bump_version(session)
            gid = row.id
        notify()
        tags = params.get("TagSpecifications") or []
        return {"GroupId": gid, "Tags": [t for s in tags for t in s.get("Tags") or []]}

    async def _target(self, session: AsyncSession, ctx: RequestContext,
                      params: dict[str, Any]) -> SecurityGroupRow:
        return await target_group(session, ctx, params)

    @operation("DeleteSecurityGroup")
    async def delete_security_group(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._target(session, ctx, params)
            refused = deletion_refusal(row, (await dependents_of(session, [row]))[row.id])
            if refused is not None:
                raise refused
            await session.execute(delete(SecurityGroupRuleRow).where(
                SecurityGroupRuleRow.group_id == row.id))
            await tags_mod.delete_resource_tags(session, row.account_id, row.region, [row.id])
            await session.delete(row)
            await bump_version(session)
            gid = row.id
        notify()
        return {"Return": True, "GroupId": gid}

    @operation("DescribeSecurityGroups")
    async def describe_security_groups(self, ctx: RequestContext, params: dict[str, Any]
                                       ) -> Result:
        account = ctx.require_account()
        want_ids = SECURITY_GROUP.check_all(params.get("GroupIds") or [])
        want_names = list(params.get("GroupNames") or [])
        verbose = "verbose" in want_names and is_cloud_admin(ctx)
        want_names = [n for n in want_names if n != "verbose"]
        if params.get("MaxResults") is not None and (want_ids or want_names):
            raise invalid("The parameter groupIds or groupNames cannot be used with "
                          "the parameter maxResults")
        async with self.cloud.sessions() as session, session.begin():
            await _ensure_default(session, account, ctx.region)
            query = select(SecurityGroupRow).where(SecurityGroupRow.region == ctx.region)
            if not verbose:
                query = query.where(SecurityGroupRow.account_id == account)
            groups = list((await session.execute(query.order_by(SecurityGroupRow.id))).scalars())
            have = {g.id for g in groups}
            for gid in want_ids:
                if gid not in have:
                    raise group_not_found(gid)
            # names address EDGE groups; VPC groups go by id
            own_names = {g.name for g in groups if g.account_id == account and not g.vpc_id}
            for name in want_names:
                if name not in own_names:
                    raise group_not_found(name)
            if want_ids or want_names:
                groups = [g for g in groups if g.id in want_ids or
                          (g.name in want_names and g.account_id == account
                           and not g.vpc_id)]
            rules = await rules_of(session, [g.id for g in groups])
            names = await _names_of(session, ctx.region, rules)
            tags: dict[str, list[dict[str, str]]] = {}
            for acc in {g.account_id for g in groups}:
                tags.update(await tags_mod.tags_for(
                    session, acc, ctx.region, [g.id for g in groups if g.account_id == acc]))
        items = [_group_out(g, rules.get(g.id, []), names, tags.get(g.id, [])) for g in groups]
        items = apply_filters(items, params.get("Filters"), _GROUP_FILTERS)
        page, token = paginate("DescribeSecurityGroups", params, items,
                               lambda g: g["GroupId"])
        out: Result = {"SecurityGroups": page}
        if token:
            out["NextToken"] = token
        return out

    @operation("DescribeSecurityGroupRules")
    async def describe_security_group_rules(self, ctx: RequestContext, params: dict[str, Any]
                                            ) -> Result:
        account = ctx.require_account()
        want = list(params.get("SecurityGroupRuleIds") or [])
        async with self.cloud.sessions() as session, session.begin():
            await _ensure_default(session, account, ctx.region)
            rows = (await session.execute(
                select(SecurityGroupRuleRow, SecurityGroupRow)
                .join(SecurityGroupRow, SecurityGroupRow.id == SecurityGroupRuleRow.group_id)
                .where(SecurityGroupRow.account_id == account,
                       SecurityGroupRow.region == ctx.region)
                .order_by(SecurityGroupRuleRow.id))).all()
            tags = await tags_mod.tags_for(session, account, ctx.region, [r.id for r, _ in rows])
        have = {r.id for r, _ in rows}
        for rid in want:
            if rid not in have:
                raise AwsError(f"The security group rule ID '{rid}' does not exist",
                               code="InvalidSecurityGroupRuleId.NotFound")
        items = [_rule_out(r, g, tags.get(r.id, [])) for r, g in rows if not want or r.id in want]
        items = apply_filters(items, params.get("Filters"), {
            "group-id": lambda i: [i["GroupId"]],
            "security-group-rule-id": lambda i: [i["SecurityGroupRuleId"]],
            **tags_mod.filter_extractors(lambda i: i["Tags"]),
        })
        page, token = paginate("DescribeSecurityGroupRules", params, items,
                               lambda i: i["SecurityGroupRuleId"])
        out: Result = {"SecurityGroupRules": page}
        if token:
            out["NextToken"] = token
        return out

    @operation("AuthorizeSecurityGroupIngress")
    async def authorize_ingress(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._authorize(ctx, params, egress=False)

    @operation("AuthorizeSecurityGroupEgress")
    async def authorize_egress(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._authorize(ctx, params, egress=True)

    @operation("RevokeSecurityGroupIngress")
    async def revoke_ingress(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._revoke(ctx, params, egress=False)

    @operation("RevokeSecurityGroupEgress")
    async def revoke_egress(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._revoke(ctx, params, egress=True)

    async def _authorize(self, ctx: RequestContext, params: dict[str, Any],
                         egress: bool) -> Result:
        specs = parse_permissions(params, egress)
        async with self.cloud.sessions() as session, session.begin():
            group = await self._target(session, ctx, params)
            existing = await rules_of(session, [group.id])
            keys = {rule_key(r): r for r in existing.get(group.id, []) if r.egress == egress}
            new_rows: list[SecurityGroupRuleRow] = []
            for spec in specs:
                peer_id, peer_acc = await resolve_peer(session, ctx, group, spec)
                row = SecurityGroupRuleRow(
                    id=ids.resource_id("sgr"), group_id=group.id, egress=egress,
                    protocol=spec.protocol, from_port=spec.from_port, to_port=spec.to_port,
                    cidr=spec.cidr, peer_group_id=peer_id, peer_account=peer_acc,
                    description=spec.description)
                if rule_key(row) in keys:
                    peer = spec.cidr or f"{peer_id}"
                    raise AwsError(f'the specified rule "{describe_rule(spec.protocol, spec.from_port, spec.to_port, peer)}" already exists',
                                   code="InvalidPermission.Duplicate")
                keys[rule_key(row)] = row
                new_rows.append(row)
                session.add(row)
            await session.flush()
            await bump_version(session)
            out = [_rule_out(r, group, []) for r in new_rows]
        notify()
        return {"Return": True, "SecurityGroupRules": out}

    async def _revoke(self, ctx: RequestContext, params: dict[str, Any], egress: bool) -> Result:
        rule_ids = list(params.get("SecurityGroupRuleIds") or [])
        specs = [] if rule_ids and not (params.get("IpPermissions") or params.get("CidrIp")) \
            else parse_permissions(params, egress)
        async with self.cloud.sessions() as session, session.begin():
            group = await self._target(session, ctx, params)
            existing = [r for r in (await rules_of(session, [group.id])).get(group.id, [])
                        if r.egress == egress]
            by_key = {rule_key(r): r for r in existing}
            by_id = {r.id: r for r in existing}
            gone: list[SecurityGroupRuleRow] = []
            for rid in rule_ids:
                if rid not in by_id:
                    raise AwsError(f"The security group rule ID '{rid}' does not exist",
                                   code="InvalidSecurityGroupRuleId.NotFound")
                gone.append(by_id[rid])
            for spec in specs:
                peer_id, peer_acc = await resolve_peer(session, ctx, group, spec)
                probe = SecurityGroupRuleRow(protocol=spec.protocol, from_port=spec.from_port,
                                             to_port=spec.to_port, cidr=spec.cidr,
                                             peer_group_id=peer_id, peer_account=peer_acc)
                found = by_key.get(rule_key(probe))
                if found is None:
                    peer = spec.cidr or f"{peer_id}"
                    raise AwsError(
                        "The specified rule does not exist in this security group: "
                        + describe_rule(spec.protocol, spec.from_port, spec.to_port, peer),
                        code="InvalidPermission.NotFound")
                gone.append(found)
            for r in {r.id: r for r in gone}.values():
                await session.delete(r)
            await bump_version(session)
            out = [_rule_out(r, group, []) for r in gone]
        notify()
        return {"Return": True, "RevokedSecurityGroupRules": out}


async def target_group(session: AsyncSession, ctx: RequestContext,
                       params: dict[str, Any]) -> SecurityGroupRow:
    """The caller's group a request names by `GroupId` or `GroupName` (InvalidGroup.NotFound)."""
    account = ctx.require_account()
    gid, name = params.get("GroupId"), params.get("GroupName")
    if gid:
        SECURITY_GROUP.check(gid)
        row = (await groups_by_ids(session, ctx.region, [gid])).get(gid)
        if row is None or row.account_id != account:
            raise group_not_found(gid)
        return row
    if name:
        found = await _by_name(session, account, ctx.region, name)
        if found is None:
            raise group_not_found(name)
        return found
    raise AwsError("The request must contain the parameter groupName or groupId",
                   code="MissingParameter")


def rule_key(r: SecurityGroupRuleRow) -> tuple[Any, ...]:
    return (r.protocol, r.from_port, r.to_port, r.cidr, r.peer_group_id)


async def resolve_peer(session: AsyncSession, ctx: RequestContext, group: SecurityGroupRow,
                       spec: RuleSpec) -> tuple[str | None, str | None]:
    if spec.peer is None:
        return None, None
    p = spec.peer
    owner = p.user_id or group.account_id
    if p.group_id:
        SECURITY_GROUP.check(p.group_id)
        row = (await groups_by_ids(session, group.region, [p.group_id])).get(p.group_id)
        if row is None or (p.user_id and row.account_id != p.user_id):
            raise group_not_found(p.group_id)
        return row.id, row.account_id
    name = p.group_name or ""
    found = await _by_name(session, owner, group.region, name) if owner == group.account_id \
        else (await session.execute(select(SecurityGroupRow).where(
            SecurityGroupRow.account_id == owner, SecurityGroupRow.region == group.region,
            SecurityGroupRow.name == name, SecurityGroupRow.vpc_id == ""))
        ).scalar_one_or_none()
    if found is None:
        elb_owner = await _elb_source_group(session, group, owner, name)
        if elb_owner is not None:
            return name, elb_owner
        raise group_not_found(name)
    return found.id, found.account_id


# (session, region, group name) -> the owning account of a service's source group
SourceGroupResolver = Callable[[AsyncSession, str, str], Awaitable[str | None]]
SOURCE_GROUPS: list[SourceGroupResolver] = []


async def _elb_source_group(session: AsyncSession, group: SecurityGroupRow, owner: str,
                            name: str) -> str | None:
    """The owner of ``name`` when it is a service's source security group of ``owner``
    usable by an EDGE group (a load balancer's, DescribeLoadBalancers'
    ``SourceSecurityGroup``; ELB registers the resolver and feeds the network view the
    group with the load balancer's addresses as members)."""
    if group.vpc_id:
        return None  # in a VPC a load balancer's source group is one of its own groups
    for resolve in SOURCE_GROUPS:
        found = await resolve(session, group.region, name)
        if found is not None:
            return found if found == owner else None
    return None


@dataclass(frozen=True)
class GroupDependents:
    """What keeps a group from being deleted: an instance in it, a network interface
    in it, the groups whose rules name it (other than itself)."""

    instance: str | None
    interface: str | None
    referrers: tuple[str, ...]


async def dependents_of(session: AsyncSession, rows: Iterable[SecurityGroupRow]
                        ) -> dict[str, GroupDependents]:
    """The dependents of each group in ``rows``, by group id (three reads for all)."""
    groups = {row.id: row for row in rows}
    if not groups:
        return {}
    users: dict[str, str] = {}
    for group_id, instance_id in await session.execute(select(
            InstanceGroupRow.group_id, InstanceGroupRow.instance_id).where(
            InstanceGroupRow.group_id.in_(list(groups)))):
        users.setdefault(group_id, instance_id)
    referrers: dict[str, list[str]] = {}
    for peer_id, group_id in await session.execute(select(
            SecurityGroupRuleRow.peer_group_id, SecurityGroupRuleRow.group_id).where(
            SecurityGroupRuleRow.peer_group_id.in_(list(groups)),
            SecurityGroupRuleRow.group_id != SecurityGroupRuleRow.peer_group_id)):
        referrers.setdefault(str(peer_id), []).append(group_id)
    return {gid: GroupDependents(users.get(gid), await _interface_using(session, row),
                                 tuple(dict.fromkeys(referrers.get(gid, []))))
            for gid, row in groups.items()}


def deletion_refusal(row: SecurityGroupRow, dependents: GroupDependents,
                     gone: Iterable[str] = ()) -> AwsError | None:
    """Why ``DeleteSecurityGroup`` refuses the group, in its order of checks; None when
    it may go. ``gone``: groups already deleted in the same batch, which no longer refer
    to it."""
    if row.name == DEFAULT_GROUP:
        return AwsError("cannot delete the default security group", code="CannotDelete")
    if dependents.instance is not None:
        return AwsError(f"resource {row.id} has a dependent object (instance "
                        f"{dependents.instance})", code="DependencyViolation")
    if dependents.interface is not None:
        return AwsError(f"resource {row.id} has a dependent object",
                        code="DependencyViolation")
    left = set(gone)
    referrer = next((r for r in dependents.referrers if r not in left), None)
    if referrer is not None:
        return AwsError(f"resource {row.id} has a dependent object (group {referrer})",
                        code="DependencyViolation")
    return None


async def _interface_using(session: AsyncSession, row: SecurityGroupRow) -> str | None:
    """A network interface of the group's VPC in the group (a load balancer's too)."""
    from cloudctl.services.ec2.vpc.models import NetworkInterfaceRow

    if not row.vpc_id:
        return None
    for eni_id, groups in await session.execute(select(
            NetworkInterfaceRow.eni_id, NetworkInterfaceRow.groups).where(
            NetworkInterfaceRow.vpc_id == row.vpc_id)):
        if row.id in (groups or []):
            return str(eni_id)
    return None


async def rules_of(session: AsyncSession, group_ids: list[str]
                   ) -> dict[str, list[SecurityGroupRuleRow]]:
    if not group_ids:
        return {}
    rows = (await session.execute(select(SecurityGroupRuleRow).where(
        SecurityGroupRuleRow.group_id.in_(group_ids)).order_by(
        SecurityGroupRuleRow.created_at, SecurityGroupRuleRow.id))).scalars()
    out: dict[str, list[SecurityGroupRuleRow]] = {}
    for r in rows:
        out.setdefault(r.group_id, []).append(r)
    return out


async def _names_of(session: AsyncSession, region: str,
                    rules: dict[str, list[SecurityGroupRuleRow]]) -> dict[str, str]:
    peers = {r.peer_group_id for rs in rules.values() for r in rs if r.peer_group_id}
    found = {gid: g.name for gid, g in (await groups_by_ids(session, region, peers)).items()}
    # a load balancer's source group: its id is its name
    return {**{p: p for p in peers if p and not p.startswith("sg-")}, **found}


async def _existing_groups(session: AsyncSession, account: str, region: str,
                           group_ids: list[str]) -> set[str]:
    found = await groups_by_ids(session, region, group_ids)
    return {g for g, row in found.items() if row.account_id == account}


def _group_out(g: SecurityGroupRow, rules: list[SecurityGroupRuleRow], names: dict[str, str],
               tags: list[dict[str, str]]) -> dict[str, Any]:
    out = {
        "GroupId": g.id, "GroupName": g.name, "Description": g.description,
        "OwnerId": g.account_id, "Tags": tags,
        "IpPermissions": _permissions([r for r in rules if not r.egress], names),
        "IpPermissionsEgress": _permissions([r for r in rules if r.egress], names),
    }
    if g.vpc_id:
        out["VpcId"] = g.vpc_id
    return out


def _perm_values(field: str, egress: bool) -> Any:
    key = "IpPermissionsEgress" if egress else "IpPermissions"

    def get(g: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for p in g[key]:
            if field == "cidr":
                out += [r["CidrIp"] for r in p["IpRanges"]]
            elif field == "protocol":
                out.append(p["IpProtocol"])
            elif field in ("from-port", "to-port"):
                v = p.get("FromPort" if field == "from-port" else "ToPort")
                out.append(str(-1 if v is None else v))
            elif field == "group-id":
                out += [u["GroupId"] for u in p["UserIdGroupPairs"]]
            elif field == "group-name":
                out += [u.get("GroupName", "") for u in p["UserIdGroupPairs"]]
            elif field == "user-id":
                out += [u["UserId"] for u in p["UserIdGroupPairs"]]
        return out

    return get


_GROUP_FILTERS: dict[str, Any] = {
    "group-id": lambda g: [g["GroupId"]],
    "group-name": lambda g: [g["GroupName"]],
    "description": lambda g: [g["Description"]],
    "owner-id": lambda g: [g["OwnerId"]],
    "vpc-id": lambda g: [g["VpcId"]] if "VpcId" in g else [],
    **{f"{pre}ip-permission.{f}": _perm_values(f, pre == "egress.")
       for pre in ("", "egress.")
       for f in ("cidr", "protocol", "from-port", "to-port", "group-id", "group-name",
                 "user-id")},
    **tags_mod.filter_extractors(lambda g: g["Tags"]),
}

__all__ = ["GroupRef", "SecurityGroupsProvider", "forget_instance", "instance_groups",
           "resolve_groups_for_launch", "resolve_peer", "rule_key", "rules_of",
           "set_instance_groups", "target_group"]
