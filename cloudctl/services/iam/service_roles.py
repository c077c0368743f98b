"""Service-linked roles: CreateServiceLinkedRole, DeleteServiceLinkedRole and its status.

A service-linked role lives at ``/aws-service-role/<service principal>/``, is named
``AWSServiceRoleFor<Service>[_<suffix>]`` and trusts only that service
(``sts:AssumeRole`` by the ``Service`` principal). Deletion is a task, as on AWS:
it fails (status FAILED, with the reason) while an instance profile still holds
the role; otherwise the role and its policies are deleted and the task SUCCEEDED.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy import delete, select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.iam.common import IamBase, no_such_entity, validation
from cloudctl.services.iam.federation_models import ServiceRoleDeletion
from cloudctl.services.iam.models import InlinePolicy, InstanceProfile, PolicyAttachment, Role
from cloudctl.services.iam.roles import get_role, role_out

SERVICE_PATH = "/aws-service-role/"
_SERVICE_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,100}\.amazonaws\.com(\.cn)?")
_SUFFIX_RE = re.compile(r"[\w+=,.@-]{1,64}")
KNOWN_NAMES = {
    "elasticloadbalancing": "ElasticLoadBalancing", "autoscaling": "AutoScaling",
    "ec2": "EC2", "cloudwatch": "CloudWatch", "cloudformation": "CloudFormation",
    "s3": "S3", "spot": "EC2Spot", "ecs": "ECS", "rds": "RDS", "elasticache": "ElastiCache",
}


def invalid_input(message: str) -> AwsError:
    return AwsError(message, code="InvalidInput", status=400)


def role_name_for(service: str, suffix: str | None) -> str:
    label = service.split(".", 1)[0]
    base = KNOWN_NAMES.get(label) or "".join(p[:1].upper() + p[1:] for p in label.split("-"))
    return f"AWSServiceRoleFor{base}" + (f"_{suffix}" if suffix else "")


class ServiceRolesProvider(IamBase):

    @operation("CreateServiceLinkedRole")
    async def create_service_linked_role(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        service = params.get("AWSServiceName")
        if not isinstance(service, str) or not _SERVICE_RE.fullmatch(service):
            raise invalid_input(f"Invalid service name {service}: it must be a service "
                                "principal such as elasticloadbalancing.amazonaws.com.")
        suffix = params.get("CustomSuffix")
        if suffix is not None and not _SUFFIX_RE.fullmatch(str(suffix)):
            raise validation("1 validation error detected: Value at 'customSuffix' failed to "
                             "satisfy constraint: Member must satisfy regular expression "
                             "pattern: [\\w+=,.@-]+")
        name = role_name_for(service, suffix)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": [service]},
            "Action": "sts:AssumeRole"}]})
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            taken = (await session.execute(select(Role.role_id).where(
                Role.account_id == account.account_id, Role.name_lower == name.lower()))
            ).first()
            if taken:
                raise invalid_input(f"Service role name {name} has been taken in this "
                                    "account, please try a different suffix.")
            role = Role(role_id=ids.role_id(), account_id=account.account_id, name=name,
                        name_lower=name.lower(), path=f"{SERVICE_PATH}{service}/",
                        trust_policy=trust, description=params.get("Description"),
                        max_session_duration=3600, tags_json="[]")
            session.add(role)
            await session.flush()
        return {"Role": role_out(role)}

    @operation("DeleteServiceLinkedRole")
    async def delete_service_linked_role(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            role = await get_role(session, account.account_id, params["RoleName"])
            if not role.path.startswith(SERVICE_PATH):
                raise validation(f"Role {role.name} is not a service-linked role.")
            service = role.path[len(SERVICE_PATH):].strip("/")
            task = (f"task{SERVICE_PATH}{service}/{role.name}/{uuid.uuid4()}")
            in_use = (await session.execute(select(InstanceProfile.name).where(
                InstanceProfile.role_id == role.role_id))).scalars().all()
            if in_use:
                reason = json.dumps({"Reason": "The role is in use by instance profiles.",
                                     "RoleUsageList": [{"Region": ctx.region or "",
                                                        "Resources": list(in_use)}]})
                session.add(ServiceRoleDeletion(task_id=task, account_id=account.account_id,
                                                status="FAILED", reason=reason))
            else:
                await session.execute(delete(InlinePolicy).where(
                    InlinePolicy.owner_id == role.role_id))
                await session.execute(delete(PolicyAttachment).where(
                    PolicyAttachment.owner_id == role.role_id))
                await session.delete(role)
                session.add(ServiceRoleDeletion(task_id=task, account_id=account.account_id,
                                                status="SUCCEEDED"))
        self.invalidate()
        return {"DeletionTaskId": task}

    @operation("GetServiceLinkedRoleDeletionStatus")
    async def get_deletion_status(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await session.get(ServiceRoleDeletion, params["DeletionTaskId"])
        if row is None or row.account_id != account.account_id:
            raise no_such_entity(f"Deletion task {params['DeletionTaskId']} not found.")
        out: dict[str, Any] = {"Status": row.status}
        if row.reason:
            out["Reason"] = json.loads(row.reason)
        return out
