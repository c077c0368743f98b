"""The input rules of policy documents: what IAM and S3 refuse when a document is stored.

``check_input(document, kind)`` applies AWS's grammar (IAM JSON policy element
reference) to a parsed document before it is compiled, and raises ``PolicyError``
with IAM's MalformedPolicyDocument message for the first fault:

- top level: only ``Version``, ``Id`` (a string) and ``Statement`` (an object or a
  non-empty list of objects), exact case; ``Version`` is ``2012-10-17`` or
  ``2008-10-17``, and identity policies must be ``2012-10-17`` (no default);
- statements: only the documented elements, exact case; ``Sid`` a string, unique in
  the document and, in IAM documents, alphanumeric; one of ``Action``/``NotAction``
  whose entries carry a vendor prefix (``vendor:name``, one colon, a vendor of
  letters, digits, ``-`` and ``.``); resources as ARNs (``arn:partition:service:
  region:account:resource``) or ``*``, without a region for IAM and S3 (except S3
  access points and jobs); identity policies need resources and no principal; trust
  policies need a principal and no resource; resource policies need a principal.

Evaluation never runs these rules: documents stored before them keep working as
they did (``document.compile_policy`` stays lenient).
"""

from __future__ import annotations

import re
from typing import Any

from cloudctl.services.iam.policy.errors import Part, PolicyError

SYNTAX = "Syntax errors in policy."
VERSIONS = ("2012-10-17", "2008-10-17")
_TOP = frozenset({"Version", "Id", "Statement"})
_ELEMENTS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                       "Principal", "NotPrincipal", "Condition"})
_SID = re.compile(r"[0-9A-Za-z]*")
_VENDOR = re.compile(r"[A-Za-z0-9.-]+")
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e",
                        "aws-iso-f", "aws-eusc", "*"})
_S3_REGIONAL = ("accesspoint/", "job/", "storage-lens/", "storage-lens-group/",
                "access-grants/", "async-request/")


def _fail(message: str, part: Part = "syntax") -> PolicyError:
    return PolicyError(message, part)


def _strings(value: Any, empty: str, part: Part) -> list[str]:
    """A string or a non-empty list of strings (``empty``: the message for ``[]``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if not value:
            raise _fail(empty, part)
        if all(isinstance(v, str) for v in value):
            return value
    raise _fail(SYNTAX)


def check_action(action: str) -> None:
    if action == "*":
        return
    vendor, colon, _ = action.partition(":")
    if not colon:
        raise _fail("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                    "action")
    if action.count(":") > 1:
        raise _fail("Actions/Condition can contain only one colon.", "action")
    if vendor != "*" and not _VENDOR.fullmatch(vendor):
        raise _fail(f"Vendor {vendor} is not valid", "action")


def check_resource(resource: str) -> None:
    if resource == "*":
        return
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise _fail(f'Resource {resource} must be in ARN format or "*".', "resource")
    _, partition, service, region, _, rest = parts
    if partition not in PARTITIONS:
        raise _fail(f'Partition "{partition}" is not valid for resource "{resource}".',
                    "resource")
    if not service:
        raise _fail("Resource vendor must be fully qualified and cannot contain regexes.",
                    "resource")
    if region and service == "iam":
        raise _fail(f"IAM resource {resource} cannot contain region information.", "resource")
    if region and service == "s3" and not rest.startswith(_S3_REGIONAL):
        raise _fail(f"Resource {resource} can not contain region information.", "resource")


def _statement(raw: Any, kind: str, sids: set[str]) -> None:
    if not isinstance(raw, dict) or set(raw) - _ELEMENTS:
        raise _fail(SYNTAX)
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise _fail(SYNTAX)
        if kind != "resource" and not _SID.fullmatch(sid):
            raise _fail("Statement IDs (SID) must be alpha-numeric. Check that your input "
                        "satisfies the regular expression [0-9A-Za-z]*")
        if sid and sid in sids:
            raise _fail("Statement IDs (SID) in a single policy must be unique.")
        sids.add(sid)
    if "Action" in raw and "NotAction" in raw or "Resource" in raw and "NotResource" in raw \
            or "Principal" in raw and "NotPrincipal" in raw:
        raise _fail(SYNTAX)
    if not isinstance(raw.get("Effect"), str):
        raise _fail(SYNTAX)
    actions = raw.get("Action", raw.get("NotAction"))
    if actions is None:
        raise _fail("Policy statement must contain actions.", "action")
    for action in _strings(actions, "Policy statement must contain actions.", "action"):
        check_action(action)
    resources = raw.get("Resource", raw.get("NotResource"))
    if resources is not None:
        if kind == "trust":
            raise _fail("Has prohibited field Resource.", "resource")
        for resource in _strings(resources, "Policy statement must contain resources.",
                                 "resource"):
            check_resource(resource)
    elif kind in ("identity", "resource"):
        raise _fail("Policy statement must contain resources.", "resource")
    condition = raw.get("Condition")
    if condition is not None and not isinstance(condition, dict):
        raise _fail(SYNTAX)


def check_input(document: Any, kind: str) -> None:
    """Raise ``PolicyError`` unless ``document`` (parsed JSON) is a valid ``kind`` policy
    (``identity``, ``trust`` or ``resource``) as AWS checks it on input."""
    if not isinstance(document, dict) or set(document) - _TOP:
        raise _fail(SYNTAX)
    version = document.get("Version")
    if version is not None and version not in VERSIONS:  # read with the legacy parser
        raise _fail("The policy failed legacy parsing", "version")
    if "Id" in document and not isinstance(document["Id"], str):
        raise _fail(SYNTAX)
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise _fail(SYNTAX)
    if kind == "identity" and version != "2012-10-17":
        raise _fail("Policy document must be version 2012-10-17 or greater.", "version")
    sids: set[str] = set()
    for statement in statements:
        _statement(statement, kind, sids)
