"""Credentials of instance profiles, for the metadata service (``iam/security-credentials``).

Owns the contract of ``docs/COMPUTE.md``: ``instance_profile_credentials(cloud,
account_id, profile_arn, instance_id)`` returns ``(role_name, credentials,
instance_profile_id)`` or None when the profile does not exist (any more), holds no
role, or the role's trust policy does not let ``ec2.amazonaws.com`` assume it.

The credentials are STS role sessions issued by the STS machinery
(``StsProvider._issue``: an ``sts_sessions`` row, sealed secret and token, the
``tokens.max_lifetime_seconds`` cap) as
``arn:aws:sts::<account>:assumed-role/<role>/<instance id>``, so requests signed with
them carry exactly the role's permissions. They live ``LIFETIME_SECONDS`` (6 hours,
as EC2's do) and are cached per instance and role in this process (the metadata
server runs in worker 0 only), replaced once two thirds of their life has passed,
so a client always gets credentials with at least a third of their life left.
Profile and role are looked up on every call: removing the role from the profile
ends the serving at once.

``resolve_instance_profile(cloud, account_id, spec)`` turns RunInstances'
``IamInstanceProfile`` (Arn or Name) into ``{"Arn", "Id", "Name"}`` of the existing
profile, or None when there is no such profile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.services.iam.common import arn as iam_arn
from cloudctl.services.iam.models import InstanceProfile, Role
from cloudctl.services.iam.policy import AuthzRequest, evaluate

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

LIFETIME_SECONDS = 6 * 3600
EC2_SERVICE = "ec2.amazonaws.com"
Credentials = dict[str, str]


@dataclass
class _Cached:
    role_id: str
    credentials: Credentials
    issued: datetime
    expires: datetime

    def fresh(self, now: datetime) -> bool:
        return now < self.issued + (self.expires - self.issued) * 2 / 3


_cache: dict[tuple[str, str], _Cached] = {}
_locks: dict[tuple[str, str], asyncio.Lock] = {}


def _profile_name(profile_arn: str) -> str:
    return profile_arn.rsplit("/", 1)[-1]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trusts_ec2(role: Role, role_arn: str) -> bool:
    request = AuthzRequest(action="sts:AssumeRole", resources=[role_arn],
                           principal_arn=EC2_SERVICE, principal_type="service",
                           principal_ids=(f"service:{EC2_SERVICE}",))
    try:
        return evaluate(request, None, role.trust_policy, resource_account=None).allowed
    except Exception:  # a trust policy the engine cannot read trusts nobody
        return False


async def _lookup(cloud: Cloud, account_id: str, profile_arn: str
                  ) -> tuple[InstanceProfile, Role] | None:
    async with cloud.sessions() as session:
        profile = (await session.execute(select(InstanceProfile).where(
            InstanceProfile.account_id == account_id,
            InstanceProfile.name_lower == _profile_name(profile_arn).lower()))
        ).scalar_one_or_none()
        if profile is None or profile.role_id is None:
            return None
        role = await session.get(Role, profile.role_id)
    if role is None:
        return None
    return profile, role


async def _issue(cloud: Cloud, role: Role, instance_id: str) -> _Cached:
    from cloudctl.services.sts.provider import StsProvider

    role_arn = iam_arn(role.account_id, "role", role.path, role.name)
    assumed_arn = f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{instance_id}"
    attributes: dict[str, Any] = {
        "role_id": role.role_id, "role_arn": role_arn, "role_session_name": instance_id,
        "session_tags": {}, "source_identity": None, "ec2_instance_id": instance_id}
    issued = datetime.now(UTC).replace(microsecond=0)
    creds = await StsProvider(cloud)._issue(
        role.account_id, "assumed-role", assumed_arn, f"{role.role_id}:{instance_id}",
        role.role_id, LIFETIME_SECONDS, None, attributes)
    expires: datetime = creds["Expiration"]
    return _Cached(role_id=role.role_id, issued=issued, expires=expires, credentials={
        "Code": "Success", "LastUpdated": _iso(issued), "Type": "AWS-HMAC",
        "AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
        "Token": creds["SessionToken"], "Expiration": _iso(expires)})


async def instance_profile_credentials(cloud: Cloud, account_id: str, profile_arn: str,
                                       instance_id: str
                                       ) -> tuple[str, Credentials, str] | None:
    """(role name, credentials, instance profile id) for ``instance_id``, or None."""
    found = await _lookup(cloud, account_id, profile_arn)
    if found is None:
        return None
    profile, role = found
    role_arn = iam_arn(role.account_id, "role", role.path, role.name)
    if not _trusts_ec2(role, role_arn):
        return None
    key = (instance_id, role.role_id)
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _cache.get(key)
        if cached is None or not cached.fresh(datetime.now(UTC)):
            for other in [k for k in _cache if k[0] == instance_id and k != key]:
                _cache.pop(other, None)
            cached = await _issue(cloud, role, instance_id)
            _cache[key] = cached
    return role.name, dict(cached.credentials), profile.profile_id


def forget(instance_id: str) -> None:
    """Drop the cached credentials of an instance (they stay valid until they expire)."""
    for key in [k for k in _cache if k[0] == instance_id]:
        _cache.pop(key, None)
        _locks.pop(key, None)


async def resolve_instance_profile(cloud: Cloud, account_id: str,
                                   spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"Arn", "Id", "Name"}`` of the profile RunInstances names (Arn or Name)."""
    if not spec:
        return None
    name = spec.get("Name") or _profile_name(str(spec.get("Arn") or ""))
    async with cloud.sessions() as session:
        row = (await session.execute(select(InstanceProfile).where(
            InstanceProfile.account_id == account_id,
            InstanceProfile.name_lower == str(name).lower()))).scalar_one_or_none()
    if row is None:
        return None
    return {"Arn": iam_arn(account_id, "instance-profile", row.path, row.name),
            "Id": row.profile_id, "Name": row.name}

