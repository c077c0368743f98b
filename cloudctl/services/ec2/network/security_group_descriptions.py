"""UpdateSecurityGroupRuleDescriptions{Ingress,Egress}: change only a rule's description.

A rule is named either through `IpPermissions` (protocol, ports and one peer: a
CIDR or a group pair, matched exactly as RevokeSecurityGroup* matches them; the
new description is the one given with the peer, none removes it) or through
`SecurityGroupRuleDescriptions` (rule id + description). A rule the group does
not hold in that direction is `InvalidPermission.NotFound` (by permissions) or
`InvalidSecurityGroupRuleId.NotFound` (by id), as EC2 answers. Nothing changes
unless every named rule exists. Descriptions do not take part in packet
filtering, so the network view is left alone.
"""

from __future__ import annotations

import re
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services.ec2.network.security_groups import (
    resolve_peer,
    rule_key,
    rules_of,
    target_group,
)
from cloudctl.services.network.models import SecurityGroupRuleRow
from cloudctl.services.network.rules import describe_rule, invalid, parse_permissions

# EC2's documented alphabet for rule descriptions, up to 255 characters.
_DESCRIPTION_RE = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}\Z")


def _description(value: Any) -> str:
    text = "" if value is None else str(value)
    if not _DESCRIPTION_RE.match(text):
        raise invalid(f"Invalid rule description '{text[:300]}': up to 255 characters of "
                      "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*")
    return text


class SecurityGroupDescriptionsProvider(Provider):
    service = "ec2"

    @operation("UpdateSecurityGroupRuleDescriptionsIngress")
    async def update_ingress(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._update(ctx, params, egress=False)

    @operation("UpdateSecurityGroupRuleDescriptionsEgress")
    async def update_egress(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        return await self._update(ctx, params, egress=True)

    async def _update(self, ctx: RequestContext, params: dict[str, Any], egress: bool) -> Result:
        by_id = list(params.get("SecurityGroupRuleDescriptions") or [])
        has_perms = bool(params.get("IpPermissions"))
        if by_id and has_perms:
            raise AwsError("The parameter IpPermissions cannot be used with the parameter "
                           "SecurityGroupRuleDescriptions",
                           code="InvalidParameterCombination")
        if not by_id and not has_perms:
            raise AwsError("The request must contain the parameter IpPermissions or "
                           "SecurityGroupRuleDescriptions", code="MissingParameter")
        specs = parse_permissions({"IpPermissions": params["IpPermissions"]}, egress) \
            if has_perms else []
        async with self.cloud.sessions() as session, session.begin():
            group = await target_group(session, ctx, params)
            existing = [r for r in (await rules_of(session, [group.id])).get(group.id, [])
                        if r.egress == egress]
            rows = {r.id: r for r in existing}
            keyed = {rule_key(r): r for r in existing}
            changes: list[tuple[SecurityGroupRuleRow, str]] = []
            for item in by_id:
                rid = str(item.get("SecurityGroupRuleId") or "")
                if not rid:
                    raise AwsError("The request must contain the parameter "
                                   "SecurityGroupRuleId", code="MissingParameter")
                if rid not in rows:
                    raise AwsError(f"The security group rule ID '{rid}' does not exist",
                                   code="InvalidSecurityGroupRuleId.NotFound")
                changes.append((rows[rid], _description(item.get("Description"))))
            for spec in specs:
                peer_id, peer_acc = await resolve_peer(session, ctx, group, spec)
                probe = SecurityGroupRuleRow(protocol=spec.protocol, from_port=spec.from_port,
                                             to_port=spec.to_port, cidr=spec.cidr,
                                             peer_group_id=peer_id, peer_account=peer_acc)
                found = keyed.get(rule_key(probe))
                if found is None:
                    raise AwsError(
                        "The specified rule does not exist in this security group: "
                        + describe_rule(spec.protocol, spec.from_port, spec.to_port,
                                        spec.cidr or f"{peer_id}"),
                        code="InvalidPermission.NotFound")
                changes.append((found, _description(spec.description)))
            for row, text in changes:
                row.description = text
        return {"Return": True}


__all__ = ["SecurityGroupDescriptionsProvider"]
