"""IAM resource types: User, Group, Role, Policy, ManagedPolicy, InstanceProfile,
AccessKey, UserToGroupAddition, over ``cloudctl.services.iam.api``.

Inline ``Policies`` and ``ManagedPolicyArns`` of users, groups and roles are applied
and updated in place (the difference is put, attached, deleted or detached).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.resources.base import (
    Act,
    Outcome,
    ResourceType,
    as_json,
    resumed_exists,
)
from cloudctl.services.iam import api as iam

EXISTS = "EntityAlreadyExists"


async def _attachments(act: Act, kind: str, name: str, old: dict[str, Any],
                       new: dict[str, Any]) -> None:
    """Put/delete inline policies and attach/detach managed ones of a user, group or
    role (``kind``) from ``old`` properties to ``new``."""
    key = f"{kind}Name"
    old_inline = {p["PolicyName"]: p for p in old.get("Policies") or []}
    new_inline = {p["PolicyName"]: p for p in new.get("Policies") or []}
    for policy_name in old_inline.keys() - new_inline.keys():
        await iam.iam_delete(act.cloud, act.caller, f"Delete{kind}Policy",
                             {key: name, "PolicyName": policy_name})
    for policy_name, policy in new_inline.items():
        if old_inline.get(policy_name) != policy:
            await iam.iam_call(act.cloud, act.caller, f"Put{kind}Policy", {
                key: name, "PolicyName": policy_name,
                "PolicyDocument": as_json(policy["PolicyDocument"])})
    old_arns = set(old.get("ManagedPolicyArns") or [])
    new_arns = set(new.get("ManagedPolicyArns") or [])
    for arn in old_arns - new_arns:
        await iam.iam_delete(act.cloud, act.caller, f"Detach{kind}Policy",
                             {key: name, "PolicyArn": arn})
    for arn in sorted(new_arns - old_arns):
        await iam.iam_call(act.cloud, act.caller, f"Attach{kind}Policy",
                           {key: name, "PolicyArn": arn})


class User(ResourceType):
    type_name = "AWS::IAM::User"
    updatable = frozenset({"Policies", "ManagedPolicyArns", "Groups", "Tags"})
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("UserName") or act.physical_name(64)
        try:
            user = await iam.create_user(
                act.cloud, act.caller, name, path=props.get("Path"),
                boundary=props.get("PermissionsBoundary"), tags=props.get("Tags"))
        except AwsError as error:
            found = await iam.get_user(act.cloud, act.caller, name) \
                if resumed_exists(act, error, EXISTS) else None
            if found is None:
                raise
            user = found
        await self.update(act, name, {}, props, {})
        if props.get("LoginProfile"):
            profile = props["LoginProfile"]
            try:
                await iam.iam_call(act.cloud, act.caller, "CreateLoginProfile", {
                    "UserName": name, "Password": profile["Password"],
                    "PasswordResetRequired": profile.get("PasswordResetRequired")})
            except AwsError as error:
                if not resumed_exists(act, error, EXISTS):
                    raise
        return Outcome(name, {"Arn": user["Arn"]})

    async def create_many(self, acts: Sequence[Act], props: Sequence[dict[str, Any]]
                          ) -> list[Outcome | BaseException]:
        """Users on their first attempt, without tags, boundary or login profile, in one
        ``CreateUser`` transaction of IAM (``iam.create_users``), each then given its
        policies and groups as ``create`` does; the others as ``create``."""
        together = [i for i, (act, p) in enumerate(zip(acts, props, strict=True))
                    if not act.resumed and not p.get("Tags") and
                    not p.get("PermissionsBoundary") and not p.get("LoginProfile")]
        if len(together) < 2:
            return await super().create_many(acts, props)
        names = [props[i].get("UserName") or acts[i].physical_name(64) for i in together]
        made = await iam.create_users(acts[0].cloud, acts[0].caller, names,
                                      paths=[props[i].get("Path") for i in together])
        out: list[Outcome | BaseException | None] = [None] * len(acts)
        rest = [i for i in range(len(acts)) if i not in set(together)]
        for i, result in zip(rest, await super().create_many(
                [acts[i] for i in rest], [props[i] for i in rest]), strict=True):
            out[i] = result

        async def attached(i: int, name: str, user: dict[str, Any] | AwsError
                           ) -> Outcome | BaseException:
            if isinstance(user, AwsError):
                return user
            try:
                await self.update(acts[i], name, {}, props[i], {})
            except AwsError as error:
                return error
            return Outcome(name, {"Arn": user["Arn"]})

        for i, outcome in zip(together, await asyncio.gather(*(
                attached(i, name, user) for i, name, user in
                zip(together, names, made, strict=True))), strict=True):
            out[i] = outcome
        return [o for o in out if o is not None]

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await _attachments(act, "User", physical_id, old, new)
        old_groups, new_groups = set(old.get("Groups") or []), set(new.get("Groups") or [])
        for group in old_groups - new_groups:
            await iam.iam_delete(act.cloud, act.caller, "RemoveUserFromGroup",
                                 {"GroupName": group, "UserName": physical_id})
        for group in sorted(new_groups - old_groups):
            await iam.iam_call(act.cloud, act.caller, "AddUserToGroup",
                               {"GroupName": group, "UserName": physical_id})
        if old and old.get("Tags") != new.get("Tags") and new.get("Tags"):
            await iam.iam_call(act.cloud, act.caller, "TagUser",
                               {"UserName": physical_id, "Tags": new["Tags"]})
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await self._detach(act, physical_id, props)
        await iam.iam_delete(act.cloud, act.caller, "DeleteUser", {"UserName": physical_id})

    async def delete_many(self, acts: Sequence[Act], physical_ids: Sequence[str],
                          props: Sequence[dict[str, Any]],
                          attributes: Sequence[dict[str, Any]]) -> list[BaseException | None]:
        """Each user rid of what the stack attached to it (its own calls, only for what
        its properties set), then those users in one ``DeleteUser`` transaction of IAM
        (``iam.delete_users``), each failing as ``delete`` would (DeleteConflict...)."""
        if len(acts) < 2:
            return await super().delete_many(acts, physical_ids, props, attributes)

        async def detached(act: Act, physical_id: str, p: dict[str, Any]
                           ) -> BaseException | None:
            try:
                await self._detach(act, physical_id, p)
            except Exception as error:  # that user's deletion fails with it, as ``delete``
                return error
            return None

        out = list(await asyncio.gather(*(detached(act, physical_id, p) for act, physical_id, p
                                          in zip(acts, physical_ids, props, strict=True))))
        ready = [i for i, o in enumerate(out) if o is None]
        done = await iam.delete_users(acts[0].cloud, acts[0].caller,
                                      [physical_ids[i] for i in ready])
        for i, error in zip(ready, done, strict=True):
            out[i] = error
        return out

    async def _detach(self, act: Act, physical_id: str, props: dict[str, Any]) -> None:
        """What the stack attached goes first (a user with attachments cannot be
        deleted); each step treats "already gone" as done."""
        await _attachments(act, "User", physical_id, props, {})
        for group in props.get("Groups") or []:
            await iam.iam_delete(act.cloud, act.caller, "RemoveUserFromGroup",
                                 {"GroupName": group, "UserName": physical_id})
        if props.get("LoginProfile"):
            await iam.iam_delete(act.cloud, act.caller, "DeleteLoginProfile",
                                 {"UserName": physical_id})


class Group(ResourceType):
    type_name = "AWS::IAM::Group"
    updatable = frozenset({"Policies", "ManagedPolicyArns"})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("GroupName") or act.physical_name(128)
        try:
            group = await iam.create_group(act.cloud, act.caller, name, props.get("Path"))
        except AwsError as error:
            if not resumed_exists(act, error, EXISTS):
                raise
            group = (await iam.iam_call(act.cloud, act.caller, "GetGroup",
                                        {"GroupName": name}))["Group"]
        await _attachments(act, "Group", name, {}, props)
        return Outcome(name, {"Arn": group["Arn"]})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await _attachments(act, "Group", physical_id, old, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await _attachments(act, "Group", physical_id, props, {})
        await iam.iam_delete(act.cloud, act.caller, "DeleteGroup", {"GroupName": physical_id})


class Role(ResourceType):
    type_name = "AWS::IAM::Role"
    updatable = frozenset({"Policies", "ManagedPolicyArns", "AssumeRolePolicyDocument",
                           "Description", "MaxSessionDuration", "Tags"})
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("RoleName") or act.physical_name(64)
        try:
            role = await iam.create_role(
                act.cloud, act.caller, name, as_json(props["AssumeRolePolicyDocument"]),
                path=props.get("Path"), description=props.get("Description"),
                max_session=props.get("MaxSessionDuration"),
                boundary=props.get("PermissionsBoundary"), tags=props.get("Tags"))
        except AwsError as error:
            if not resumed_exists(act, error, EXISTS):
                raise
            role = (await iam.iam_call(act.cloud, act.caller, "GetRole",
                                       {"RoleName": name}))["Role"]
        await _attachments(act, "Role", name, {}, props)
        return Outcome(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        if old.get("AssumeRolePolicyDocument") != new.get("AssumeRolePolicyDocument"):
            await iam.iam_call(act.cloud, act.caller, "UpdateAssumeRolePolicy", {
                "RoleName": physical_id,
                "PolicyDocument": as_json(new["AssumeRolePolicyDocument"])})
        if (old.get("Description"), old.get("MaxSessionDuration")) != \
                (new.get("Description"), new.get("MaxSessionDuration")):
            await iam.iam_call(act.cloud, act.caller, "UpdateRole", {
                "RoleName": physical_id, "Description": new.get("Description", ""),
                "MaxSessionDuration": new.get("MaxSessionDuration")})
        if old.get("Tags") != new.get("Tags") and new.get("Tags"):
            await iam.iam_call(act.cloud, act.caller, "TagRole",
                               {"RoleName": physical_id, "Tags": new["Tags"]})
        await _attachments(act, "Role", physical_id, old, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await _attachments(act, "Role", physical_id, props, {})
        await iam.iam_delete(act.cloud, act.caller, "DeleteRole", {"RoleName": physical_id})


_TARGETS = (("Users", "User"), ("Groups", "Group"), ("Roles", "Role"))


class Policy(ResourceType):
    """An inline policy put on each of its users, groups and roles."""

    type_name = "AWS::IAM::Policy"
    updatable = frozenset({"PolicyDocument", "PolicyName", "Users", "Groups", "Roles"})

    async def _put(self, act: Act, props: dict[str, Any]) -> None:
        for key, kind in _TARGETS:
            for name in props.get(key) or []:
                await iam.iam_call(act.cloud, act.caller, f"Put{kind}Policy", {
                    f"{kind}Name": name, "PolicyName": props["PolicyName"],
                    "PolicyDocument": as_json(props["PolicyDocument"])})

    async def _remove(self, act: Act, props: dict[str, Any], keep: dict[str, Any]) -> None:
        for key, kind in _TARGETS:
            kept = set(keep.get(key) or []) if keep.get("PolicyName") == \
                props.get("PolicyName") else set()
            for name in set(props.get(key) or []) - kept:
                await iam.iam_delete(act.cloud, act.caller, f"Delete{kind}Policy",
                                     {f"{kind}Name": name, "PolicyName": props["PolicyName"]})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        if not any(props.get(key) for key, _ in _TARGETS):
            raise ResourceFailure("At least one of [Groups,Roles,Users] must be non-empty.")
        await self._put(act, props)
        return Outcome(act.physical_name(128))

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._remove(act, old, new)
        await self._put(act, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await self._remove(act, props, {})


class ManagedPolicy(ResourceType):
    type_name = "AWS::IAM::ManagedPolicy"
    updatable = frozenset({"PolicyDocument", "Users", "Groups", "Roles"})

    async def _attach(self, act: Act, arn: str, old: dict[str, Any],
                      new: dict[str, Any]) -> None:
        for key, kind in _TARGETS:
            before, after = set(old.get(key) or []), set(new.get(key) or [])
            for name in before - after:
                await iam.iam_delete(act.cloud, act.caller, f"Detach{kind}Policy",
                                     {f"{kind}Name": name, "PolicyArn": arn})
            for name in sorted(after - before):
                await iam.iam_call(act.cloud, act.caller, f"Attach{kind}Policy",
                                   {f"{kind}Name": name, "PolicyArn": arn})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("ManagedPolicyName") or act.physical_name(128)
        path = props.get("Path") or "/"
        try:
            policy = await iam.create_policy(act.cloud, act.caller, name,
                                             as_json(props["PolicyDocument"]), path=path,
                                             description=props.get("Description"))
        except AwsError as error:
            if not resumed_exists(act, error, EXISTS):
                raise
            arn = f"arn:aws:iam::{act.account_id}:policy{path}{name}"
            policy = (await iam.iam_call(act.cloud, act.caller, "GetPolicy",
                                         {"PolicyArn": arn}))["Policy"]
        await self._attach(act, policy["Arn"], {}, props)
        return Outcome(policy["Arn"], {"PolicyArn": policy["Arn"],
                                       "PolicyId": policy["PolicyId"],
                                       "DefaultVersionId": policy.get("DefaultVersionId", "v1"),
                                       "IsAttachable": True})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        if old.get("PolicyDocument") != new.get("PolicyDocument"):
            versions = (await iam.iam_call(act.cloud, act.caller, "ListPolicyVersions",
                                           {"PolicyArn": physical_id}))["Versions"]
            stale = [v for v in versions if not v["IsDefaultVersion"]]
            if len(versions) >= 5 and stale:
                oldest = min(stale, key=lambda v: v["CreateDate"])
                await iam.iam_call(act.cloud, act.caller, "DeletePolicyVersion", {
                    "PolicyArn": physical_id, "VersionId": oldest["VersionId"]})
            made = await iam.iam_call(act.cloud, act.caller, "CreatePolicyVersion", {
                "PolicyArn": physical_id, "PolicyDocument": as_json(new["PolicyDocument"]),
                "SetAsDefault": True})
            attributes = dict(attributes, DefaultVersionId=made["PolicyVersion"]["VersionId"])
        await self._attach(act, physical_id, old, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await self._attach(act, physical_id, props, {})
        try:
            versions = (await iam.iam_call(act.cloud, act.caller, "ListPolicyVersions",
                                           {"PolicyArn": physical_id}))["Versions"]
        except AwsError as error:
            if error.code == "NoSuchEntity":
                return
            raise
        for version in versions:
            if not version["IsDefaultVersion"]:
                await iam.iam_delete(act.cloud, act.caller, "DeletePolicyVersion", {
                    "PolicyArn": physical_id, "VersionId": version["VersionId"]})
        await iam.iam_delete(act.cloud, act.caller, "DeletePolicy", {"PolicyArn": physical_id})


class InstanceProfile(ResourceType):
    type_name = "AWS::IAM::InstanceProfile"
    updatable = frozenset({"Roles"})

    async def _roles(self, act: Act, name: str, old: list[str], new: list[str]) -> None:
        for role in set(old) - set(new):
            await iam.iam_delete(act.cloud, act.caller, "RemoveRoleFromInstanceProfile",
                                 {"InstanceProfileName": name, "RoleName": role})
        for role in [r for r in new if r not in old]:
            try:
                await iam.iam_call(act.cloud, act.caller, "AddRoleToInstanceProfile",
                                   {"InstanceProfileName": name, "RoleName": role})
            except AwsError as error:
                if error.code != "LimitExceeded" or not act.resumed:
                    raise

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("InstanceProfileName") or act.physical_name(128)
        try:
            profile = await iam.create_instance_profile(act.cloud, act.caller, name,
                                                        props.get("Path"))
        except AwsError as error:
            if not resumed_exists(act, error, EXISTS):
                raise
            profile = (await iam.iam_call(act.cloud, act.caller, "GetInstanceProfile",
                                          {"InstanceProfileName": name}))["InstanceProfile"]
        await self._roles(act, name, [], list(props.get("Roles") or []))
        return Outcome(name, {"Arn": profile["Arn"]})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._roles(act, physical_id, list(old.get("Roles") or []),
                          list(new.get("Roles") or []))
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await self._roles(act, physical_id, list(props.get("Roles") or []), [])
        await iam.iam_delete(act.cloud, act.caller, "DeleteInstanceProfile",
                             {"InstanceProfileName": physical_id})


class AccessKey(ResourceType):
    type_name = "AWS::IAM::AccessKey"
    updatable = frozenset({"Status"})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        key = await iam.create_access_key(act.cloud, act.caller, props["UserName"])
        if props.get("Status") == "Inactive":
            await iam.iam_call(act.cloud, act.caller, "UpdateAccessKey", {
                "UserName": props["UserName"], "AccessKeyId": key["AccessKeyId"],
                "Status": "Inactive"})
        return Outcome(key["AccessKeyId"], {"SecretAccessKey": key["SecretAccessKey"]})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await iam.iam_call(act.cloud, act.caller, "UpdateAccessKey", {
            "UserName": new["UserName"], "AccessKeyId": physical_id,
            "Status": new.get("Status") or "Active"})
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await iam.iam_delete(act.cloud, act.caller, "DeleteAccessKey",
                             {"UserName": props["UserName"], "AccessKeyId": physical_id})


class UserToGroupAddition(ResourceType):
    type_name = "AWS::IAM::UserToGroupAddition"
    updatable = frozenset({"Users"})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        for user in props["Users"]:
            await iam.iam_call(act.cloud, act.caller, "AddUserToGroup",
                               {"GroupName": props["GroupName"], "UserName": user})
        return Outcome(act.physical_name(128))

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        for user in set(old.get("Users") or []) - set(new["Users"]):
            await iam.iam_delete(act.cloud, act.caller, "RemoveUserFromGroup",
                                 {"GroupName": old["GroupName"], "UserName": user})
        await self.create(act, new)
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        for user in props.get("Users") or []:
            await iam.iam_delete(act.cloud, act.caller, "RemoveUserFromGroup",
                                 {"GroupName": props["GroupName"], "UserName": user})


TYPES: tuple[type[ResourceType], ...] = (User, Group, Role, Policy, ManagedPolicy,
                                         InstanceProfile, AccessKey, UserToGroupAddition)
