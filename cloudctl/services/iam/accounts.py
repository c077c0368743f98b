"""Accounts (Eucalyptus extensions), account alias, summary and password policy.

CreateAccount/DeleteAccount/ListAccounts are for the cloud administrator only
(the ``eucalyptus`` account's admin); every account gets a 12-digit id, a root
identity and an ``admin`` user, and its name is also its alias.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import delete, func, select

from cloudctl.errors import AccessDenied
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.iam.bootstrap import ensure_account, find_account
from cloudctl.services.iam.common import (
    IamBase,
    already_exists,
    delete_conflict,
    is_cloud_admin,
    no_such_entity,
    validation,
)
from cloudctl.services.iam.credentials import bump_epoch
from cloudctl.services.iam.models import (
    AccessKey,
    Account,
    AccountSettings,
    Group,
    InlinePolicy,
    InstanceProfile,
    ManagedPolicy,
    PolicyAttachment,
    Role,
    ServerCertificate,
    SigningCertificate,
    User,
)
from cloudctl.services.iam.storedkeys import CLOUD_ADMIN_ACCOUNT

ALIAS_RE = re.compile(r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?\Z")
ACCOUNT_RE = re.compile(r"^[a-z0-9][a-z0-9.@_-]{0,62}\Z")
_PASSWORD_DEFAULTS = {"MinimumPasswordLength": 6, "RequireSymbols": False,
                      "RequireNumbers": False, "RequireUppercaseCharacters": False,
                      "RequireLowercaseCharacters": False, "AllowUsersToChangePassword": False,
                      "ExpirePasswords": False, "HardExpiry": False}


def _require_cloud_admin(ctx: RequestContext) -> None:
    if not is_cloud_admin(ctx):
        raise AccessDenied("Only the cloud administrator may manage accounts.")


class AccountsProvider(IamBase):

    @operation("CreateAccount")
    async def create_account(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        _require_cloud_admin(ctx)
        name = params["AccountName"]
        if not ACCOUNT_RE.match(name) or name.startswith("(eucalyptus)"):
            raise validation(f"Invalid account name: {name}")
        async with self.cloud.sessions() as session, session.begin():
            if await find_account(session, name) is not None or (await session.execute(
                    select(AccountSettings).where(AccountSettings.alias == name))).first():
                raise already_exists(f"Account {name} already exists.")
            account = await ensure_account(session, name, params.get("Email"))
            session.add(AccountSettings(account_id=account.account_id, alias=name))
        return {"Account": {"AccountName": account.name, "AccountId": account.account_id}}

    @operation("ListAccounts")
    async def list_accounts(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        _require_cloud_admin(ctx)
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(Account).order_by(Account.name))).scalars().all()
        return {"Accounts": [{"AccountName": a.name, "AccountId": a.account_id} for a in rows]}

    @operation("DeleteAccount")
    async def delete_account(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        _require_cloud_admin(ctx)
        name = params["AccountName"]
        if name == CLOUD_ADMIN_ACCOUNT:
            raise delete_conflict("The cloud administrator's account cannot be deleted.")
        async with self.cloud.sessions() as session, session.begin():
            account = await find_account(session, name)
            if account is None:
                raise no_such_entity(f"The account with name {name} cannot be found.")
            aid = account.account_id
            if not params.get("Recursive"):
                users = (await session.execute(select(func.count()).select_from(User).where(
                    User.account_id == aid, User.is_admin.is_(False)))).scalar_one()
                others = 0
                owned: tuple[Any, ...] = (Group, Role, InstanceProfile, ManagedPolicy,
                                          ServerCertificate)
                for table in owned:
                    others += (await session.execute(select(func.count()).select_from(table)
                                                     .where(table.account_id == aid))).scalar_one()
                if users or others:
                    raise delete_conflict("Cannot delete account: it still has resources. "
                                          "Use Recursive to delete them too.")
            everything: tuple[Any, ...] = (PolicyAttachment, InlinePolicy, AccessKey, SigningCertificate,
                          InstanceProfile, ServerCertificate, ManagedPolicy, Role, Group, User,
                          AccountSettings)
            for table in everything:
                await session.execute(delete(table).where(table.account_id == aid))
            await session.delete(account)
            await bump_epoch(session)
        self.invalidate()
        return {}

    async def _settings(self, session: Any, account_id: str) -> AccountSettings:
        row = await session.get(AccountSettings, account_id)
        if row is None:
            row = AccountSettings(account_id=account_id)
            session.add(row)
        return row  # type: ignore[no-any-return]

    @operation("CreateAccountAlias")
    async def create_account_alias(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        alias = params["AccountAlias"]
        if not ALIAS_RE.match(alias) or len(alias) < 3:
            raise validation(f"Invalid account alias: {alias}")
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            taken = (await session.execute(select(AccountSettings).where(
                AccountSettings.alias == alias))).scalar_one_or_none()
            if taken is not None and taken.account_id != account.account_id:
                raise already_exists(f"The account alias {alias} already exists.")
            settings = await self._settings(session, account.account_id)
            settings.alias = alias
        return {}

    @operation("DeleteAccountAlias")
    async def delete_account_alias(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            settings = await session.get(AccountSettings, account.account_id)
            if settings is None or settings.alias != params["AccountAlias"]:
                raise no_such_entity(f"The account alias {params['AccountAlias']} cannot be found.")
            settings.alias = None
        return {}

    @operation("ListAccountAliases")
    async def list_account_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            settings = await session.get(AccountSettings, account.account_id)
        aliases = [settings.alias] if settings is not None and settings.alias else []
        return {"AccountAliases": aliases, "IsTruncated": False}

    @operation("GetAccountSummary")
    async def get_account_summary(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            aid = account.account_id

            async def count(table: Any, *where: Any) -> int:
                return int((await session.execute(select(func.count()).select_from(table).where(
                    table.account_id == aid, *where))).scalar_one())

            summary = {
                "Users": await count(User), "Groups": await count(Group),
                "Roles": await count(Role), "InstanceProfiles": await count(InstanceProfile),
                "Policies": await count(ManagedPolicy),
                "ServerCertificates": await count(ServerCertificate),
                "AccountAccessKeysPresent": await count(AccessKey, AccessKey.user_id.is_(None)),
                "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10,
                "AttachedPoliciesPerRoleQuota": 10, "UsersQuota": 5000, "GroupsQuota": 300,
                "RolesQuota": 1000, "PoliciesQuota": 1500, "InstanceProfilesQuota": 1000,
                "ServerCertificatesQuota": 20, "AccessKeysPerUserQuota":
                    int(self.cloud.properties.get("authentication.access_keys_limit")),
                "GroupsPerUserQuota": 10, "SigningCertificatesPerUserQuota": 2,
                "UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120,
                "RolePolicySizeQuota": 10240, "PolicySizeQuota": 6144,
                "VersionsPerPolicyQuota": 5, "PolicyVersionsInUse": 0,
                "AccountMFAEnabled": 0, "MFADevices": 0, "MFADevicesInUse": 0,
                "AccountSigningCertificatesPresent": 0, "GlobalEndpointTokenVersion": 1,
            }
        return {"SummaryMap": summary}

    @operation("UpdateAccountPasswordPolicy")
    async def update_password_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        policy = dict(_PASSWORD_DEFAULTS)
        for key in list(_PASSWORD_DEFAULTS) + ["MaxPasswordAge", "PasswordReusePrevention"]:
            if params.get(key) is not None:
                policy[key] = params[key]
        if policy.get("MaxPasswordAge"):
            policy["ExpirePasswords"] = True
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            settings = await self._settings(session, account.account_id)
            settings.password_policy = json.dumps(policy)
        return {}

    @operation("GetAccountPasswordPolicy")
    async def get_password_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            settings = await session.get(AccountSettings, account.account_id)
        if settings is None or not settings.password_policy:
            raise no_such_entity(f"The Password Policy with domain name {account.account_id} "
                                 "cannot be found.")
        return {"PasswordPolicy": json.loads(settings.password_policy)}

    @operation("DeleteAccountPasswordPolicy")
    async def delete_password_policy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            settings = await session.get(AccountSettings, account.account_id)
            if settings is None or not settings.password_policy:
                raise no_such_entity("The account policy with name PasswordPolicy cannot be found.")
            settings.password_policy = None
        return {}
