"""Identity providers of an account: OpenID Connect and SAML 2.0.

OIDC: the issuer URL (``https://``; ``http://`` only for a loopback host, or any host
when ``iam.oidc.allow_http_issuers`` is set: the cloud fetches the issuer's keys
from that URL), its client ids (audiences) and thumbprints. SAML: the IdP's
metadata document, whose signing certificate verifies assertions. ARNs are AWS's
(``oidc-provider/<host/path>``, ``saml-provider/<name>``). STS reads both through
``find_oidc`` / ``find_saml``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.iam.common import (
    IamBase,
    already_exists,
    drop_tags,
    limit_exceeded,
    merge_tags,
    no_such_entity,
    tags_out,
    validation,
)
from cloudctl.services.iam.federation_models import OidcProvider, SamlProvider
from cloudctl.services.iam.saml_metadata import MetadataError, parse_metadata

ALLOW_HTTP = registry.define(PropertyDef(
    "iam.oidc.allow_http_issuers", PropertyType.BOOLEAN, "false",
    "Allow OpenID Connect providers whose URL is http:// on any host (default: only on a "
    "loopback address). Their signing keys are then fetched without TLS.",
))
_THUMBPRINT_RE = re.compile(r"[0-9A-Fa-f]{40}")
_SAML_NAME_RE = re.compile(r"[\w._-]{1,128}")


def invalid_input(message: str) -> Any:
    from cloudctl.errors import AwsError

    return AwsError(message, code="InvalidInput", status=400)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def oidc_name(url: str) -> str:
    """``host[:port]/path`` of an issuer URL, as IAM names the provider."""
    parts = urlsplit(url)
    return (parts.netloc + parts.path).rstrip("/")


def check_oidc_url(url: Any, allow_http: bool) -> str:
    if not isinstance(url, str) or not 1 <= len(url) <= 255:
        raise validation("1 validation error detected: Value at 'url' failed to satisfy "
                         "constraint: Member must have length between 1 and 255")
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    loopback_http = parts.scheme == "http" and (allow_http or is_loopback(parts.hostname or ""))
    if not (secure or loopback_http) or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise invalid_input("Invalid OpenID Connect provider URL: it must begin with "
                            "https:// and name a host, without query or fragment.")
    return url.rstrip("/")


def _check_client_id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise validation("1 validation error detected: Value at 'clientID' failed to satisfy "
                         "constraint: Member must have length between 1 and 255")
    return value


def _check_thumbprints(values: Any) -> list[str]:
    values = list(values or [])
    if len(values) > 5:
        raise limit_exceeded("Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: 5")
    for value in values:
        if not isinstance(value, str) or not _THUMBPRINT_RE.fullmatch(value):
            raise validation("1 validation error detected: Value at 'thumbprintList' failed "
                             "to satisfy constraint: Member must have length 40")
    return [v.lower() for v in values]


async def find_oidc(session: AsyncSession, arn: str) -> OidcProvider | None:
    return await session.get(OidcProvider, arn)


async def find_saml(session: AsyncSession, arn: str) -> SamlProvider | None:
    return await session.get(SamlProvider, arn)


def _metadata(document: Any) -> datetime | None:
    if not isinstance(document, str) or not 1000 <= len(document) <= 10000000:
        raise validation("1 validation error detected: Value at 'SAMLMetadataDocument' failed "
                         "to satisfy constraint: Member must have length between 1000 and "
                         "10000000")
    try:
        return parse_metadata(document).valid_until
    except MetadataError as exc:
        raise invalid_input(f"Could not parse metadata: {exc}") from None


class IdentityProvidersProvider(IamBase):

    # OpenID Connect

    async def _oidc(self, ctx: RequestContext, params: dict[str, Any],
                    session: AsyncSession) -> OidcProvider:
        account = await self.target_account(ctx, params, session)
        arn = params["OpenIDConnectProviderArn"]
        row = await find_oidc(session, arn)
        if row is None or row.account_id != account.account_id:
            raise no_such_entity(f"OpenIDConnect Provider not found for arn {arn}")
        return row

    @operation("CreateOpenIDConnectProvider")
    async def create_oidc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        url = check_oidc_url(params.get("Url"), bool(self.cloud.properties.get(ALLOW_HTTP)))
        clients = [_check_client_id(c) for c in params.get("ClientIDList") or []]
        if len(clients) > 100:
            raise limit_exceeded("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: "
                                 "100")
        thumbprints = _check_thumbprints(params.get("ThumbprintList"))
        tags = merge_tags("[]", params.get("Tags") or [])
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            arn = f"arn:aws:iam::{account.account_id}:oidc-provider/{oidc_name(url)}"
            if await find_oidc(session, arn) is not None:
                raise already_exists(f"Provider with url {url} already exists.")
            session.add(OidcProvider(arn=arn, account_id=account.account_id, url=url,
                                     client_ids_json=json.dumps(list(dict.fromkeys(clients))),
                                     thumbprints_json=json.dumps(thumbprints), tags_json=tags))
        out: dict[str, Any] = {"OpenIDConnectProviderArn": arn}
        if tags_out(tags):
            out["Tags"] = tags_out(tags)
        return out

    @operation("GetOpenIDConnectProvider")
    async def get_oidc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            row = await self._oidc(ctx, params, session)
        return {"Url": oidc_name(row.url), "ClientIDList": json.loads(row.client_ids_json),
                "ThumbprintList": json.loads(row.thumbprints_json),
                "CreateDate": row.created_at, "Tags": tags_out(row.tags_json)}

    @operation("ListOpenIDConnectProviders")
    async def list_oidc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            arns = (await session.execute(select(OidcProvider.arn).where(
                OidcProvider.account_id == account.account_id).order_by(OidcProvider.arn))
            ).scalars().all()
        return {"OpenIDConnectProviderList": [{"Arn": a} for a in arns]}

    @operation("DeleteOpenIDConnectProvider")
    async def delete_oidc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            await session.delete(await self._oidc(ctx, params, session))
        return {}

    @operation("UpdateOpenIDConnectProviderThumbprint")
    async def update_oidc_thumbprint(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        thumbprints = _check_thumbprints(params.get("ThumbprintList"))
        async with self.cloud.sessions() as session, session.begin():
            row = await self._oidc(ctx, params, session)
            row.thumbprints_json = json.dumps(thumbprints)
        return {}

    @operation("AddClientIDToOpenIDConnectProvider")
    async def add_client_id(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        client = _check_client_id(params.get("ClientID"))
        async with self.cloud.sessions() as session, session.begin():
            row = await self._oidc(ctx, params, session)
            clients = json.loads(row.client_ids_json)
            if client not in clients:
                if len(clients) >= 100:
                    raise limit_exceeded("Cannot exceed quota for "
                                         "ClientIdsPerOpenIdConnectProvider: 100")
                row.client_ids_json = json.dumps([*clients, client])
        return {}

    @operation("RemoveClientIDFromOpenIDConnectProvider")
    async def remove_client_id(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        client = _check_client_id(params.get("ClientID"))
        async with self.cloud.sessions() as session, session.begin():
            row = await self._oidc(ctx, params, session)
            row.client_ids_json = json.dumps(
                [c for c in json.loads(row.client_ids_json) if c != client])
        return {}

    @operation("TagOpenIDConnectProvider")
    async def tag_oidc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._oidc(ctx, params, session)
            row.tags_json = merge_tags(row.tags_json, params["Tags"])
        return {}

    @operation("UntagOpenIDConnectProvider")
    async def untag_oidc(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._oidc(ctx, params, session)
            row.tags_json = drop_tags(row.tags_json, params["TagKeys"])
        return {}

    @operation("ListOpenIDConnectProviderTags")
    async def list_oidc_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            row = await self._oidc(ctx, params, session)
        return {"Tags": tags_out(row.tags_json), "IsTruncated": False}

    # SAML

    async def _saml(self, ctx: RequestContext, params: dict[str, Any],
                    session: AsyncSession) -> SamlProvider:
        account = await self.target_account(ctx, params, session)
        arn = params["SAMLProviderArn"]
        row = await find_saml(session, arn)
        if row is None or row.account_id != account.account_id:
            raise no_such_entity(f"Manifest not found for arn {arn}")
        return row

    @operation("CreateSAMLProvider")
    async def create_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = params.get("Name")
        if not isinstance(name, str) or not _SAML_NAME_RE.fullmatch(name):
            raise validation("1 validation error detected: Value at 'name' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: "
                             "[\\w._-]+")
        document = params.get("SAMLMetadataDocument")
        valid_until = _metadata(document)
        tags = merge_tags("[]", params.get("Tags") or [])
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            arn = f"arn:aws:iam::{account.account_id}:saml-provider/{name}"
            if await find_saml(session, arn) is not None:
                raise already_exists(f"SAMLProvider {name} already exists.")
            session.add(SamlProvider(arn=arn, account_id=account.account_id, name=name,
                                     metadata_document=str(document), valid_until=valid_until,
                                     tags_json=tags))
        out: dict[str, Any] = {"SAMLProviderArn": arn}
        if tags_out(tags):
            out["Tags"] = tags_out(tags)
        return out

    @operation("GetSAMLProvider")
    async def get_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            row = await self._saml(ctx, params, session)
        out: dict[str, Any] = {"SAMLMetadataDocument": row.metadata_document,
                               "CreateDate": row.created_at, "Tags": tags_out(row.tags_json)}
        if row.valid_until is not None:
            out["ValidUntil"] = row.valid_until
        return out

    @operation("ListSAMLProviders")
    async def list_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            rows = (await session.execute(select(SamlProvider).where(
                SamlProvider.account_id == account.account_id).order_by(SamlProvider.arn))
            ).scalars().all()
        items = []
        for row in rows:
            item: dict[str, Any] = {"Arn": row.arn, "CreateDate": row.created_at}
            if row.valid_until is not None:
                item["ValidUntil"] = row.valid_until
            items.append(item)
        return {"SAMLProviderList": items}

    @operation("UpdateSAMLProvider")
    async def update_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        document = params.get("SAMLMetadataDocument")
        valid_until = _metadata(document)
        async with self.cloud.sessions() as session, session.begin():
            row = await self._saml(ctx, params, session)
            row.metadata_document, row.valid_until = str(document), valid_until
        return {"SAMLProviderArn": row.arn}

    @operation("DeleteSAMLProvider")
    async def delete_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            await session.delete(await self._saml(ctx, params, session))
        return {}

    @operation("TagSAMLProvider")
    async def tag_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._saml(ctx, params, session)
            row.tags_json = merge_tags(row.tags_json, params["Tags"])
        return {}

    @operation("UntagSAMLProvider")
    async def untag_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._saml(ctx, params, session)
            row.tags_json = drop_tags(row.tags_json, params["TagKeys"])
        return {}

    @operation("ListSAMLProviderTags")
    async def list_saml_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            row = await self._saml(ctx, params, session)
        return {"Tags": tags_out(row.tags_json), "IsTruncated": False}
