"""Access control lists: canned ACLs, grant headers, explicit policies, and checks.

An ACL is stored as the plain data of S3's ``AccessControlPolicy`` (``Owner`` and
``Grants``), e-mail grantees resolved to canonical ids when stored, as AWS does.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.s3 import identity
from cloudctl.services.s3.errors import invalid_argument, s3_error
from cloudctl.services.s3.identity import Owner

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")
CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write",
          "aws-exec-read")
GRANT_HEADERS = {
    "GrantFullControl": "FULL_CONTROL",
    "GrantRead": "READ",
    "GrantWrite": "WRITE",
    "GrantReadACP": "READ_ACP",
    "GrantWriteACP": "WRITE_ACP",
}
_GRANTEE_RE = re.compile(r'\s*(id|emailAddress|uri)\s*=\s*"?([^",]*)"?\s*(?:,|$)')

Acl = dict[str, Any]


def _user(owner: Owner, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "CanonicalUser", "ID": owner.canonical_id,
                        "DisplayName": owner.display_name}, "Permission": permission}


def _group(uri: str, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def canned(name: str, owner: Owner, bucket_owner: Owner | None = None) -> Acl:
    """The ACL of a canned ACL name for a resource owned by ``owner``."""
    if name not in CANNED:
        raise invalid_argument(f"Invalid canned ACL {name}", "x-amz-acl", name)
    grants = [_user(owner, "FULL_CONTROL")]
    if name == "public-read":
        grants.append(_group(ALL_USERS, "READ"))
    elif name == "public-read-write":
        grants += [_group(ALL_USERS, "READ"), _group(ALL_USERS, "WRITE")]
    elif name in ("authenticated-read", "aws-exec-read"):
        grants.append(_group(AUTHENTICATED_USERS, "READ"))
    elif name == "log-delivery-write":
        grants += [_group(LOG_DELIVERY, "WRITE"), _group(LOG_DELIVERY, "READ_ACP")]
    elif name in ("bucket-owner-read", "bucket-owner-full-control") and bucket_owner:
        if bucket_owner.canonical_id != owner.canonical_id:
            perm = "READ" if name == "bucket-owner-read" else "FULL_CONTROL"
            grants.append(_user(bucket_owner, perm))
    return {"Owner": {"ID": owner.canonical_id, "DisplayName": owner.display_name},
            "Grants": grants}


async def _resolve_grantee(session: AsyncSession, grantee: dict[str, Any]) -> dict[str, Any]:
    kind = grantee.get("Type")
    if kind == "Group" or grantee.get("URI"):
        return {"Type": "Group", "URI": grantee.get("URI", "")}
    if kind == "AmazonCustomerByEmail" or grantee.get("EmailAddress"):
        found = await identity.by_email(session, str(grantee.get("EmailAddress", "")))
        if found is None:
            raise s3_error("UnresolvableGrantByEmailAddress", "The e-mail address you provided "
                           "does not match any account on record.")
        return {"Type": "CanonicalUser", "ID": found.canonical_id,
                "DisplayName": found.display_name}
    found = await identity.by_canonical_id(session, str(grantee.get("ID", "")))
    if found is None:
        raise invalid_argument("Invalid id", "CanonicalUser/ID", str(grantee.get("ID", "")))
    return {"Type": "CanonicalUser", "ID": found.canonical_id, "DisplayName": found.display_name}


def grants_requested(params: dict[str, Any]) -> bool:
    """Whether the request carries grant headers or an ACL document (which may name
    grantees to look up); a canned ACL or none needs no lookup."""
    return bool(params.get("AccessControlPolicy")) or any(params.get(n) for n in GRANT_HEADERS)


async def from_request(session: AsyncSession, params: dict[str, Any], owner: Owner,
                       bucket_owner: Owner | None = None) -> Acl | None:
    """The ACL a request asks for (canned, grant headers or body), None when none."""
    headers = [(name, perm) for name, perm in GRANT_HEADERS.items() if params.get(name)]
    canned_name = params.get("ACL")
    policy = params.get("AccessControlPolicy")
    if canned_name and (headers or policy):
        raise invalid_argument("Specifying both Canned ACLs and Header Grants is not allowed")
    if canned_name:
        return canned(str(canned_name), owner, bucket_owner)
    if headers:
        grants = []
        for name, perm in headers:
            for kind, value in _GRANTEE_RE.findall(str(params[name])):
                key = {"id": "ID", "emailAddress": "EmailAddress", "uri": "URI"}[kind]
                grantee = await _resolve_grantee(session, {key: value})
                grants.append({"Grantee": grantee, "Permission": perm})
        return {"Owner": {"ID": owner.canonical_id, "DisplayName": owner.display_name},
                "Grants": _unique(grants)}
    if policy:
        grants = []
        for grant in policy.get("Grants") or []:
            perm = grant.get("Permission")
            if perm not in PERMISSIONS:
                raise s3_error("MalformedACLError", "The XML you provided was not well-formed "
                               "or did not validate against our published schema")
            grants.append({"Grantee": await _resolve_grantee(session, grant.get("Grantee") or {}),
                           "Permission": perm})
        return {"Owner": {"ID": owner.canonical_id, "DisplayName": owner.display_name},
                "Grants": _unique(grants)}
    return None


def _unique(grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Grants once each: a grantee named by id and by e-mail resolves to one user."""
    seen: set[str] = set()
    out = []
    for grant in grants:
        grantee = grant["Grantee"]
        mark = f"{grantee.get('ID') or grantee.get('URI')}/{grant['Permission']}"
        if mark not in seen:
            seen.add(mark)
            out.append(grant)
    return out


def dump(acl: Acl) -> str:
    return json.dumps(acl, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def private_text(owner: Owner) -> str:
    """The stored form of the default (``private``) ACL of ``owner``'s objects: every
    PUT without an ACL stores it, so it is made once per owner."""
    return dump(canned("private", owner))


def load(text: str | None) -> Acl:
    return json.loads(text) if text else {"Grants": []}


def grants(acl: Acl, canonical_id: str | None, authenticated: bool, permission: str) -> bool:
    """Whether the ACL gives ``permission`` to the caller (None: anonymous)."""
    for grant in acl.get("Grants") or []:
        perm = grant.get("Permission")
        if perm != permission and perm != "FULL_CONTROL":
            continue
        grantee = grant.get("Grantee") or {}
        uri = grantee.get("URI")
        if uri == ALL_USERS or (uri == AUTHENTICATED_USERS and authenticated):
            return True
        if canonical_id is not None and grantee.get("ID") == canonical_id:
            return True
    return False
