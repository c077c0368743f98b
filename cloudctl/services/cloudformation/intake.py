"""What a CreateStack/UpdateStack/CreateChangeSet/ValidateTemplate call hands in, made
ready: the template body (``TemplateBody``, or ``TemplateURL`` read from the cloud's S3
as the caller), its transforms applied (``AWS::Include``, ``AWS::LanguageExtensions``),
checked, the capabilities it needs, the parameter values (AWS-specific types looked
up in the cloud as the caller).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from cloudctl.errors import AwsError, ValidationError
from cloudctl.server.internal import Caller
from cloudctl.services.cloudformation import intrinsics, parameters, processing, template
from cloudctl.services.cloudformation.errors import format_error, template_error
from cloudctl.services.cloudformation.intrinsics import Placeholder
from cloudctl.services.ec2 import api as ec2
from cloudctl.services.s3 import api as s3

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.context import RequestContext

MAX_BODY = 51200
MAX_URL_BODY = 1024 * 1024
TRANSFORMS = ("AWS::Include", "AWS::LanguageExtensions")
IMMUTABLE = (str, int, float, bytes, type(None))  # bool is an int
NAMED_IAM = {"AWS::IAM::User": "UserName", "AWS::IAM::Role": "RoleName",
             "AWS::IAM::Group": "GroupName", "AWS::IAM::InstanceProfile": "InstanceProfileName",
             "AWS::IAM::ManagedPolicy": "ManagedPolicyName"}


@dataclass
class Intake:
    body: str
    original: dict[str, Any]
    processed: dict[str, Any]


def caller_of(ctx: RequestContext) -> Caller:
    assert ctx.credential is not None
    return Caller(credential=ctx.credential, region=ctx.region)


async def from_url(cloud: Cloud, caller: Caller, url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        bucket, key = parsed.netloc, parsed.path.lstrip("/")
    elif parsed.scheme in ("http", "https"):
        host = parsed.hostname or ""
        path = unquote(parsed.path).lstrip("/")
        if path.startswith("services/objectstorage/"):
            path = path[len("services/objectstorage/"):]
        if ".s3" in host and not host.startswith("s3"):
            bucket, key = host.split(".s3", 1)[0], path
        else:
            bucket, _, key = path.partition("/")
    else:
        raise ValidationError("TemplateURL must be a supported URL.")
    if not bucket or not key:
        raise ValidationError("TemplateURL must be a supported URL.")
    try:
        data = await s3.get_object(cloud, caller, bucket, key, MAX_URL_BODY + 1)
    except AwsError:
        raise ValidationError(f"S3 error: Access Denied or the object does not exist: "
                              f"{url}") from None
    if len(data) > MAX_URL_BODY:
        raise ValidationError("Template may not exceed 1048576 bytes in size.")
    return data.decode("utf-8", "replace")


async def body_of(cloud: Cloud, ctx: RequestContext, params: dict[str, Any],
                  previous: str | None = None) -> str:
    body, url = params.get("TemplateBody"), params.get("TemplateURL")
    use_previous = params.get("UsePreviousTemplate")
    given = [x for x in (body, url) if x is not None]
    if use_previous:
        if given:
            raise ValidationError("You cannot specify both usePreviousTemplate and Template "
                                  "Body/Template Url")
        if previous is None:
            raise ValidationError("UsePreviousTemplate needs an existing stack")
        return previous
    if len(given) > 1:
        raise ValidationError("Specify exactly one of TemplateBody or TemplateUrl.")
    if not given:
        raise ValidationError("Either Template URL or Template Body must be specified.")
    if body is not None:
        if len(body.encode()) > MAX_BODY:
            raise ValidationError(f"1 validation error detected: Value '...' at "
                                  f"'templateBody' failed to satisfy constraint: Member must "
                                  f"have length less than or equal to {MAX_BODY}")
        return str(body)
    return await from_url(cloud, caller_of(ctx), str(url))


def declared_transforms(tmpl: dict[str, Any]) -> list[str]:
    value = tmpl.get("Transform") or []
    return [value] if isinstance(value, str) else list(value)


async def load(cloud: Cloud, ctx: RequestContext, body: str) -> Intake:
    return await load_as(cloud, caller_of(ctx), body)


async def load_as(cloud: Cloud, caller: Caller, body: str) -> Intake:
    """The template read as ``caller`` (its ``AWS::Include`` snippets: a nested stack's
    template is read as its parent stack's principal)."""
    try:
        return await _load(cloud, caller, body)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError, RecursionError):
        # a structure no check above foresaw (a number where a name goes...): the
        # template's fault, answered as CloudFormation does
        raise format_error("unsupported structure.") from None


async def _load(cloud: Cloud, caller: Caller, body: str) -> Intake:
    original = template.parse(body)
    transforms = declared_transforms(original)
    for name in transforms:
        if name not in TRANSFORMS:
            raise template_error(f"Transform {name} is not supported by this cloud "
                                 f"(macros and AWS::Serverless need Lambda)")
    processed = await _includes(cloud, caller, copy.deepcopy(original)) \
        if _transforms_in(original) else _copy(original)
    if "AWS::LanguageExtensions" in transforms:
        processed = _for_each(processed)
    processed.pop("Transform", None)
    processing.check(processed)
    return Intake(body, original, processed)


def _transforms_in(value: Any) -> bool:
    """Whether a ``Fn::Transform`` or a ``Transform`` key is anywhere in ``value`` (else
    ``_includes`` would include nothing)."""
    return intrinsics.mentions(value, "Fn::Transform", "Transform")


def _copy(value: Any) -> Any:
    """A deep copy of parsed template data, as ``copy.deepcopy`` then ``_includes`` gave
    it (a YAML alias's value copied at each use), ~4x faster on a JSON template."""
    if isinstance(value, dict):
        return {key: item if isinstance(item, IMMUTABLE) else _copy(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [item if isinstance(item, IMMUTABLE) else _copy(item) for item in value]
    return value if isinstance(value, IMMUTABLE) else copy.deepcopy(value)


async def _includes(cloud: Cloud, caller: Caller, value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "Fn::Transform" in value:
            spec = value["Fn::Transform"]
            if isinstance(spec, dict) and spec.get("Name") == "AWS::Include":
                location = (spec.get("Parameters") or {}).get("Location")
                if not isinstance(location, str):
                    raise template_error("AWS::Include needs a Location parameter")
                return await _includes(cloud, caller, template.parse(
                    await from_url(cloud, caller, location)))
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "Transform" and isinstance(item, dict) and \
                    item.get("Name") == "AWS::Include":
                included = await _includes(cloud, caller, {"Fn::Transform": item})
                if isinstance(included, dict):
                    out.update(included)
                continue
            out[key] = await _includes(cloud, caller, item)
        return out
    if isinstance(value, list):
        return [await _includes(cloud, caller, item) for item in value]
    return value


def _replace(value: Any, name: str, item: str) -> Any:
    if isinstance(value, str):
        return value.replace("${" + name + "}", item).replace("&{" + name + "}", item)
    if isinstance(value, dict):
        if value == {"Ref": name}:
            return item
        return {_replace(k, name, item): _replace(v, name, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, name, item) for v in value]
    return value


def _expand(section: dict[str, Any], parameters_: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in section.items():
        if not key.startswith("Fn::ForEach::"):
            out[key] = value
            continue
        if not isinstance(value, list) or len(value) != 3:
            raise template_error(f"{key} requires an identifier, a collection and an "
                                 f"output template")
        identifier, collection, body = value
        if isinstance(collection, dict) and "Ref" in collection:
            default = (parameters_.get(collection["Ref"]) or {}).get("Default", "")
            collection = default if isinstance(default, list) else \
                [s.strip() for s in str(default).split(",") if s.strip()]
        if not isinstance(collection, list):
            raise template_error(f"{key}: the collection must be a list")
        for item in collection:
            expanded = _expand(_replace(body, identifier, str(item)), parameters_)
            out.update(expanded)
    return out


def _for_each(tmpl: dict[str, Any]) -> dict[str, Any]:
    """``Fn::ForEach`` in Resources, Outputs and Conditions (AWS::LanguageExtensions)."""
    declared = tmpl.get("Parameters") or {}
    for section in ("Resources", "Outputs", "Conditions"):
        if isinstance(tmpl.get(section), dict):
            tmpl[section] = _expand(tmpl[section], declared)
    return tmpl


def required_capabilities(intake: Intake) -> tuple[list[str], str]:
    needed: list[str] = []
    reason = ""
    for resource in intake.processed["Resources"].values():
        kind = resource.get("Type", "")
        if not kind.startswith("AWS::IAM::"):
            continue
        if NAMED_IAM.get(kind) in (resource.get("Properties") or {}):
            needed = ["CAPABILITY_NAMED_IAM"]
            reason = f"The following resource(s) require capabilities: [{kind}]"
            break
        if not needed:
            needed = ["CAPABILITY_IAM"]
            reason = f"The following resource(s) require capabilities: [{kind}]"
    if declared_transforms(intake.original):
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed, reason


def check_capabilities(intake: Intake, given: list[str]) -> None:
    needed, _ = required_capabilities(intake)
    if "CAPABILITY_NAMED_IAM" in needed and "CAPABILITY_NAMED_IAM" not in given:
        raise AwsError("Requires capabilities : [CAPABILITY_NAMED_IAM]",
                       code="InsufficientCapabilitiesException")
    if "CAPABILITY_IAM" in needed and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(given):
        raise AwsError("Requires capabilities : [CAPABILITY_IAM]",
                       code="InsufficientCapabilitiesException")
    if "CAPABILITY_AUTO_EXPAND" in needed and "CAPABILITY_AUTO_EXPAND" not in given:
        raise AwsError("Requires capabilities : [CAPABILITY_AUTO_EXPAND]",
                       code="InsufficientCapabilitiesException")


def given_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The call's ``Parameters`` as name -> value (None: use the previous value)."""
    out: dict[str, Any] = {}
    for entry in params.get("Parameters") or []:
        key = entry.get("ParameterKey")
        if key is None:
            continue
        out[key] = None if entry.get("UsePreviousValue") else entry.get("ParameterValue", "")
    return out


async def parameter_values(cloud: Cloud, ctx: RequestContext, intake: Intake,
                           params: dict[str, Any],
                           previous: dict[str, Any] | None = None) -> dict[str, Any]:
    return await parameter_values_as(cloud, caller_of(ctx), intake, params, previous)


async def parameter_values_as(cloud: Cloud, caller: Caller, intake: Intake,
                              params: dict[str, Any],
                              previous: dict[str, Any] | None = None) -> dict[str, Any]:
    declared = intake.processed.get("Parameters") or {}
    values = parameters.resolve(declared, given_parameters(params), previous)
    _dry_run(cloud, caller, intake, values)
    for name, spec in declared.items():
        kind = parameters.element_type(spec["Type"])
        if kind not in parameters.AWS_TYPES:
            continue
        wanted = values[name] if isinstance(values[name], list) else [values[name]]
        wanted = [w for w in wanted if w]
        if not wanted:
            continue
        try:
            found = await ec2.existing_ids(cloud, caller, kind, wanted)
        except AwsError as error:
            if error.code == "NotImplemented":
                continue  # a service this cloud does not run yet cannot be asked
            raise
        for value in wanted:
            if value not in found:
                raise ValidationError(f"Parameter validation failed: parameter value "
                                      f"{value} for parameter name {name} does not exist")
    return values


def _dry_run(cloud: Cloud, caller: Caller, intake: Intake,
             values: dict[str, Any]) -> None:
    """Evaluate the conditions, every kept resource's properties and the outputs with
    these values (resources and imports stand in as placeholders), so a malformed
    function is the call's ValidationError rather than a failed resource later."""
    pseudo: dict[str, Any] = {name: "" for name in processing.PSEUDO}
    pseudo.update({"AWS::Region": caller.region,
                   "AWS::AccountId": caller.credential.account_id or "",
                   "AWS::NotificationARNs": []})
    try:
        plan = processing.Plan(intake.processed, values, pseudo,
                               zones=list(cloud.region_zones.get(caller.region, [])))
        plan.scope.ref = lambda name: Placeholder(f"{name}-placeholder")
        plan.scope.get_att = lambda name, attribute: Placeholder(
            f"{name}.{attribute}-placeholder")
        plan.scope.imports = lambda name: Placeholder(f"{name}-placeholder")
        for name in plan.kept:
            plan.properties(name)
            plan.deletion_policy(name)
        plan.outputs()
    except (AttributeError, TypeError, KeyError, ValueError, IndexError):
        raise format_error("unsupported structure.") from None


def template_json(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2)


