"""EC2 launch templates: Create/Describe/Modify/DeleteLaunchTemplate(s), their versions
(``$Latest``, ``$Default`` or a number; a new version may start from a source version),
and ``launch_params``: RunInstances' members from a template version overlaid with the
request's own (``RunInstances --launch-template``)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.compute.launch_template_models import (
    LaunchTemplate,
    LaunchTemplateVersion,
)
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.paging import paginate

NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
MAX_VERSIONS = 10000
# LaunchTemplateData members that RunInstances takes under the same name
RUN_MEMBERS = ("ImageId", "InstanceType", "KeyName", "SecurityGroupIds", "SecurityGroups",
               "UserData", "Placement", "IamInstanceProfile", "BlockDeviceMappings",
               "KernelId", "RamdiskId", "EbsOptimized", "MetadataOptions", "Monitoring",
               "InstanceInitiatedShutdownBehavior", "DisableApiTermination",
               "DisableApiStop", "NetworkInterfaces", "PrivateIpAddress", "CreditSpecification",
               "CpuOptions", "HibernationOptions", "PrivateDnsNameOptions")


def _not_found(by_name: bool) -> AwsError:
    if by_name:
        return AwsError("At least one of the launch templates specified in the request does "
                        "not exist.", code="InvalidLaunchTemplateName.NotFoundException")
    return AwsError("At least one of the launch templates specified in the request does not "
                    "exist.", code="InvalidLaunchTemplateId.NotFound")


async def find(session: AsyncSession, account: str, region: str, params: dict[str, Any],
               ) -> LaunchTemplate:
    template_id, name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
    if bool(template_id) == bool(name):
        raise AwsError("The request must contain exactly one of LaunchTemplateId or "
                       "LaunchTemplateName", code="InvalidParameterCombination"
                       if template_id else "MissingParameter")
    query = select(LaunchTemplate).where(LaunchTemplate.account_id == account,
                                         LaunchTemplate.region == region)
    if template_id:
        query = query.where(LaunchTemplate.template_id == str(template_id))
    else:
        query = query.where(LaunchTemplate.name == str(name))
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise _not_found(bool(name))
    return row


def version_number(template: LaunchTemplate, version: Any) -> int:
    text = str(version or "$Default")
    if text == "$Latest":
        return template.latest_version
    if text == "$Default":
        return template.default_version
    if not text.isdigit():
        raise AwsError(f"The specified launch template version {text} is not valid.",
                       code="InvalidLaunchTemplateId.VersionNotFound")
    return int(text)


def _template_view(row: LaunchTemplate, tag_list: list[dict[str, str]]) -> dict[str, Any]:
    return {"LaunchTemplateId": row.template_id, "LaunchTemplateName": row.name,
            "CreateTime": row.created_at, "CreatedBy": row.created_by,
            "DefaultVersionNumber": row.default_version,
            "LatestVersionNumber": row.latest_version, "Tags": tag_list}


def _version_view(template: LaunchTemplate, row: LaunchTemplateVersion) -> dict[str, Any]:
    return {"LaunchTemplateId": template.template_id, "LaunchTemplateName": template.name,
            "VersionNumber": row.version, "VersionDescription": row.description,
            "CreateTime": row.created_at, "CreatedBy": row.created_by,
            "DefaultVersion": row.version == template.default_version,
            "LaunchTemplateData": json.loads(row.data)}


def _data(params: dict[str, Any]) -> dict[str, Any]:
    data = params.get("LaunchTemplateData")
    if data is None:
        raise AwsError("The request must contain the parameter LaunchTemplateData",
                       code="MissingParameter")
    return dict(data)


async def launch_params(cloud: Any, ctx: RequestContext, params: dict[str, Any]
                        ) -> dict[str, Any]:
    """RunInstances' members with its ``LaunchTemplate`` applied (the request wins)."""
    spec = params.get("LaunchTemplate")
    if not spec:
        return params
    account = ctx.require_account()
    async with cloud.sessions() as session:
        template = await find(session, account, ctx.region, spec)
        number = version_number(template, spec.get("Version"))
        row = await session.get(LaunchTemplateVersion, (template.template_id, number))
    if row is None:
        raise AwsError(f"The specified launch template, with template ID "
                       f"{template.template_id}, does not have the requested version.",
                       code="InvalidLaunchTemplateId.VersionNotFound")
    data = json.loads(row.data)
    merged: dict[str, Any] = {k: data[k] for k in RUN_MEMBERS if k in data}
    if "IamInstanceProfile" in merged and not merged["IamInstanceProfile"]:
        merged.pop("IamInstanceProfile")
    specs = list(data.get("TagSpecifications") or [])
    merged.update({k: v for k, v in params.items() if k != "LaunchTemplate"})
    if specs:
        merged["TagSpecifications"] = specs + list(params.get("TagSpecifications") or [])
    return merged


class LaunchTemplatesProvider(Provider):
    service = "ec2"

    @operation("CreateLaunchTemplate")
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name = str(params.get("LaunchTemplateName") or "")
        if not NAME.match(name):
            raise AwsError("A launch template name must be between 3 and 128 characters, and "
                           "may contain letters, numbers, and the following characters: - ( ) "
                           ". / _.'", code="InvalidLaunchTemplateName.MalformedException")
        data = _data(params)
        tags.check_tag_specifications(params.get("TagSpecifications"), ["launch-template"])
        who = ctx.credential.principal_arn if ctx.credential else ""
        async with self.cloud.sessions() as session, session.begin():
            taken = (await session.execute(select(LaunchTemplate.template_id).where(
                LaunchTemplate.account_id == account, LaunchTemplate.region == ctx.region,
                LaunchTemplate.name == name))).first()
            if taken:
                raise AwsError("Launch template name already in use.",
                               code="InvalidLaunchTemplateName.AlreadyExistsException")
            row = LaunchTemplate(template_id=ids.resource_id("lt"), account_id=account,
                                 region=ctx.region, name=name, default_version=1,
                                 latest_version=1, created_by=who)
            session.add(row)
            await session.flush()
            session.add(LaunchTemplateVersion(
                template_id=row.template_id, version=1, created_by=who,
                description=str(params.get("VersionDescription") or ""),
                data=json.dumps(data, default=str)))
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "launch-template", [row.template_id],
                                                params.get("TagSpecifications"))
            await session.flush()
            found = await tags.tags_for(session, account, ctx.region, [row.template_id])
            return {"LaunchTemplate": _template_view(row, found.get(row.template_id, []))}

    @operation("CreateLaunchTemplateVersion")
    async def create_version(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        data = _data(params)
        who = ctx.credential.principal_arn if ctx.credential else ""
        async with self.cloud.sessions() as session, session.begin():
            template = await find(session, account, ctx.region, params)
            if params.get("SourceVersion") is not None:
                number = version_number(template, params["SourceVersion"])
                source = await session.get(LaunchTemplateVersion,
                                           (template.template_id, number))
                if source is None:
                    raise AwsError(f"The source version {params['SourceVersion']} does not "
                                   "exist.", code="InvalidLaunchTemplateId.VersionNotFound")
                data = dict(json.loads(source.data), **data)
            if template.latest_version >= MAX_VERSIONS:
                raise AwsError("The launch template has the maximum number of versions.",
                               code="VersionLimitExceeded")
            template.latest_version += 1
            row = LaunchTemplateVersion(
                template_id=template.template_id, version=template.latest_version,
                created_by=who, description=str(params.get("VersionDescription") or ""),
                data=json.dumps(data, default=str))
            session.add(row)
            await session.flush()
            return {"LaunchTemplateVersion": _version_view(template, row)}

    @operation("ModifyLaunchTemplate")
    async def modify(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            template = await find(session, account, ctx.region, params)
            if params.get("DefaultVersion") is not None:
                number = version_number(template, params["DefaultVersion"])
                if await session.get(LaunchTemplateVersion,
                                     (template.template_id, number)) is None:
                    raise AwsError(f"The specified launch template version "
                                   f"{params['DefaultVersion']} does not exist.",
                                   code="InvalidLaunchTemplateId.VersionNotFound")
                template.default_version = number
            found = await tags.tags_for(session, account, ctx.region, [template.template_id])
            return {"LaunchTemplate": _template_view(
                template, found.get(template.template_id, []))}

    @operation("DescribeLaunchTemplates")
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        wanted_ids = [str(i) for i in params.get("LaunchTemplateIds") or []]
        wanted_names = [str(n) for n in params.get("LaunchTemplateNames") or []]
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(LaunchTemplate).where(
                LaunchTemplate.account_id == account, LaunchTemplate.region == ctx.region)
                .order_by(LaunchTemplate.template_id))).scalars())
            all_tags = await tags.tags_for(session, account, ctx.region,
                                           [r.template_id for r in rows])
        if wanted_ids:
            rows = [r for r in rows if r.template_id in wanted_ids]
            if len(rows) != len(set(wanted_ids)):
                raise _not_found(False)
        if wanted_names:
            rows = [r for r in rows if r.name in wanted_names]
            if len(rows) != len(set(wanted_names)):
                raise _not_found(True)
        extract = {"launch-template-name": lambda r: [r.name],
                   "create-time": lambda r: [r.created_at.isoformat()]}
        extract.update(tags.filter_extractors(lambda r: all_tags.get(r.template_id, [])))
        rows = apply_filters(rows, params.get("Filters"), extract)
        chunk, token = paginate("DescribeLaunchTemplates", params, rows,
                                lambda r: r.template_id)
        out: dict[str, Any] = {"LaunchTemplates": [
            _template_view(r, all_tags.get(r.template_id, [])) for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("DescribeLaunchTemplateVersions")
    async def describe_versions(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            template = await find(session, account, ctx.region, params)
            rows = list((await session.execute(select(LaunchTemplateVersion).where(
                LaunchTemplateVersion.template_id == template.template_id).order_by(
                LaunchTemplateVersion.version))).scalars())
        versions = params.get("Versions") or []
        if versions:
            numbers = {version_number(template, v) for v in versions}
            rows = [r for r in rows if r.version in numbers]
            if len(rows) != len(numbers):
                raise AwsError("One or more of the specified launch template versions does "
                               "not exist.", code="InvalidLaunchTemplateId.VersionNotFound")
        if params.get("MinVersion"):
            rows = [r for r in rows if r.version >= version_number(template,
                                                                    params["MinVersion"])]
        if params.get("MaxVersion"):
            rows = [r for r in rows if r.version <= version_number(template,
                                                                    params["MaxVersion"])]
        rows = apply_filters(rows, params.get("Filters"), {
            "is-default-version": lambda r: [str(r.version == template.default_version)
                                             .lower()],
            "image-id": lambda r: [str(json.loads(r.data).get("ImageId", ""))],
            "instance-type": lambda r: [str(json.loads(r.data).get("InstanceType", ""))]})
        chunk, token = paginate("DescribeLaunchTemplateVersions", params, rows,
                                lambda r: r.version)
        out: dict[str, Any] = {"LaunchTemplateVersions": [_version_view(template, r)
                                                          for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    @operation("DeleteLaunchTemplate")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        async with self.cloud.sessions() as session, session.begin():
            template = await find(session, account, ctx.region, params)
            view = _template_view(template, [])
            await session.execute(delete(LaunchTemplateVersion).where(
                LaunchTemplateVersion.template_id == template.template_id))
            await tags.delete_resource_tags(session, account, ctx.region,
                                            [template.template_id])
            await session.delete(template)
        return {"LaunchTemplate": view}

    @operation("DeleteLaunchTemplateVersions")
    async def delete_versions(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        async with self.cloud.sessions() as session, session.begin():
            template = await find(session, account, ctx.region, params)
            for version in params.get("Versions") or []:
                base = {"LaunchTemplateId": template.template_id,
                        "LaunchTemplateName": template.name}
                text = str(version)
                row = await session.get(LaunchTemplateVersion, (
                    template.template_id, int(text))) if text.isdigit() else None
                if row is None:
                    failed.append(dict(base, VersionNumber=int(text) if text.isdigit() else 0,
                                       ResponseError={
                                           "Code": "launchTemplateVersionDoesNotExist",
                                           "Message": "The specified launch template version "
                                                      "does not exist."}))
                elif row.version == template.default_version:
                    failed.append(dict(base, VersionNumber=row.version, ResponseError={
                        "Code": "unexpectedError",
                        "Message": "Cannot delete the default version of a launch "
                                   "template; delete the launch template instead."}))
                else:
                    await session.delete(row)
                    done.append(dict(base, VersionNumber=row.version))
        return {"SuccessfullyDeletedLaunchTemplateVersions": done,
                "UnsuccessfullyDeletedLaunchTemplateVersions": failed}
