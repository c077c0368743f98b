"""Virtual MFA devices: create (seed and QR code), enable, resync, deactivate, list, tag.

The seed is drawn here, answered once (CreateVirtualMFADevice: base32 text and a
PNG QR code of the ``otpauth://totp/`` URI) and stored sealed with the cloud's
SecretBox, bound to the device's serial. Enabling and resynchronising take two
consecutive codes; STS checks one code (``verify_code``) with a one-step window
around now (shifted by the drift measured at the last resync). The highest step
accepted is recorded with a conditional UPDATE, so a code (and any earlier one)
is refused once used, even by two concurrent requests.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import segno
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.iam import totp
from cloudctl.services.iam.common import (
    IamBase,
    already_exists,
    check_path,
    decode_marker,
    delete_conflict,
    drop_tags,
    encode_marker,
    max_items,
    merge_tags,
    no_such_entity,
    tags_out,
    validation,
)
from cloudctl.services.iam.federation_models import MfaDevice
from cloudctl.services.iam.models import User
from cloudctl.services.iam.users import caller_user_name, get_user, user_out

SEED_CONTEXT = "mfa-seed:"
ENABLE_REACH = 3  # steps either side of now for the second code of Enable/Resync
RESYNC_REACH = 10


def invalid_code() -> AwsError:
    return AwsError("Authentication code for device is not valid.",
                    code="InvalidAuthenticationCode", status=403)


def qr_png(uri: str) -> bytes:
    """A PNG image of the QR code of ``uri``."""
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(out, kind="png", scale=4, border=4)
    return out.getvalue()


async def get_device(session: AsyncSession, account_id: str, serial: str) -> MfaDevice:
    row = await session.get(MfaDevice, serial)
    if row is None or row.account_id != account_id:
        raise no_such_entity(f"MFA Device with serial number {serial} does not exist.")
    return row


async def _consume(session: AsyncSession, serial: str, step: int,
                   drift: int | None = None) -> bool:
    """Record ``step`` as used unless it (or a later one) already was; whether it was new."""
    values: dict[str, Any] = {"last_step": step}
    if drift is not None:
        values["drift"] = drift
    result = await session.execute(update(MfaDevice).where(
        MfaDevice.serial == serial, MfaDevice.last_step < step).values(**values))
    return bool(getattr(result, "rowcount", 0))


async def verify_code(cloud: Any, account_id: str, user_id: str, serial: Any,
                      code: Any) -> bool:
    """Whether ``code`` is a fresh TOTP code of the device ``serial`` enabled for the user.

    Consumes the code: the same code (or an older one) is refused afterwards."""
    if not isinstance(serial, str) or not totp.well_formed(code):
        return False
    async with cloud.sessions() as session, session.begin():
        row = await session.get(MfaDevice, serial)
        if row is None or row.account_id != account_id or row.user_id != user_id \
                or row.user_id is None:
            return False
        seed = cloud.secrets.open(row.seed_sealed, context=SEED_CONTEXT + row.serial)
        step = totp.match_step(seed, str(code), totp.current_step() + row.drift, 1, 1)
        if step is None:
            return False
        return await _consume(session, row.serial, step)


def device_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:mfa{path}{name}"


def assigned_to(device: Any, user: User) -> None:
    """Refuse a device that is not ``user``'s (NoSuchEntity, as IAM answers)."""
    if device.user_id != user.user_id:
        raise no_such_entity(f"MFA Device with serial number {device.serial} is not "
                             f"assigned to user {user.name}.")


class MfaProvider(IamBase):

    async def _user(self, ctx: RequestContext, params: dict[str, Any],
                    session: AsyncSession, account_id: str) -> User:
        name = params.get("UserName") or caller_user_name(ctx)
        return await get_user(session, account_id, name)

    @operation("CreateVirtualMFADevice")
    async def create_virtual_mfa_device(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        name, path = params["VirtualMFADeviceName"], check_path(params.get("Path"))
        tags = merge_tags("[]", params.get("Tags") or [])
        seed = totp.new_seed()
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            serial = device_arn(account.account_id, path, name)
            taken = (await session.execute(select(MfaDevice.serial).where(
                MfaDevice.account_id == account.account_id,
                MfaDevice.name == name))).first()
            if taken:
                raise already_exists("MFADevice entity at the same path and name already "
                                     "exists.")
            session.add(MfaDevice(serial=serial, account_id=account.account_id, name=name,
                                  path=path, tags_json=tags, last_step=0, drift=0,
                                  seed_sealed=self.cloud.secrets.seal(
                                      seed, context=SEED_CONTEXT + serial)))
            label = quote(f"{name}@{account.name}", safe="@")
        uri = f"otpauth://totp/{label}?secret={seed}&issuer={quote(account.name)}"
        device: dict[str, Any] = {"SerialNumber": serial, "Base32StringSeed": seed.encode(),
                                  "QRCodePNG": qr_png(uri)}
        if tags_out(tags):
            device["Tags"] = tags_out(tags)
        return {"VirtualMFADevice": device}

    @operation("EnableMFADevice")
    async def enable_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await self._user(ctx, params, session, account.account_id)
            row = await get_device(session, account.account_id, params["SerialNumber"])
            if row.user_id is not None:
                raise already_exists("MFA Device is already in use.")
            seed = self.cloud.secrets.open(row.seed_sealed, context=SEED_CONTEXT + row.serial)
            now = totp.current_step()
            step = totp.match_pair(seed, params["AuthenticationCode1"],
                                   params["AuthenticationCode2"], now, ENABLE_REACH)
            if step is None or step <= row.last_step:
                raise invalid_code()
            row.user_id, row.enabled_at = user.user_id, datetime.now(UTC).replace(microsecond=0)
            row.last_step, row.drift = step, 0
        self.invalidate()
        return {}

    @operation("ResyncMFADevice")
    async def resync_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await self._user(ctx, params, session, account.account_id)
            row = await get_device(session, account.account_id, params["SerialNumber"])
            assigned_to(row, user)
            seed = self.cloud.secrets.open(row.seed_sealed, context=SEED_CONTEXT + row.serial)
            now = totp.current_step()
            step = totp.match_pair(seed, params["AuthenticationCode1"],
                                   params["AuthenticationCode2"], now, RESYNC_REACH)
            if step is None or not await _consume(session, row.serial, step, step - now):
                raise invalid_code()
        return {}

    @operation("DeactivateMFADevice")
    async def deactivate_mfa_device(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await self._user(ctx, params, session, account.account_id)
            row = await get_device(session, account.account_id, params["SerialNumber"])
            assigned_to(row, user)
            row.user_id, row.enabled_at = None, None
        self.invalidate()
        return {}

    @operation("DeleteVirtualMFADevice")
    async def delete_virtual_mfa_device(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await get_device(session, account.account_id, params["SerialNumber"])
            if row.user_id is not None:
                raise delete_conflict("MFA VirtualDevice in use. Must deactivate first.")
            await session.delete(row)
        return {}

    async def _page(self, session: AsyncSession, account_id: str, params: dict[str, Any],
                    *where: Any) -> tuple[list[MfaDevice], bool]:
        limit = max_items(params)
        query = select(MfaDevice).where(MfaDevice.account_id == account_id, *where)
        after = decode_marker(params)
        if after is not None:
            query = query.where(MfaDevice.serial > after)
        rows = list((await session.execute(query.order_by(MfaDevice.serial).limit(limit + 1))
                     ).scalars().all())
        return rows[:limit], len(rows) > limit

    @staticmethod
    def _paged(field: str, rows: list[Any], truncated: bool, items: list[Any]) -> Result:
        out: dict[str, Any] = {field: items, "IsTruncated": truncated}
        if truncated:
            out["Marker"] = encode_marker(rows[-1].serial)
        return out

    @operation("ListMFADevices")
    async def list_mfa_devices(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            user = await self._user(ctx, params, session, account.account_id)
            rows, truncated = await self._page(session, account.account_id, params,
                                               MfaDevice.user_id == user.user_id)
        return self._paged("MFADevices", rows, truncated, [
            {"UserName": user.name, "SerialNumber": r.serial, "EnableDate": r.enabled_at}
            for r in rows])

    @operation("GetMFADevice")
    async def get_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await get_device(session, account.account_id, params["SerialNumber"])
            if params.get("UserName"):
                user = await get_user(session, account.account_id, params["UserName"])
                assigned_to(row, user)
            owner = await session.get(User, row.user_id) if row.user_id else None
        out: dict[str, Any] = {"SerialNumber": row.serial}
        if owner is not None:
            out["UserName"] = owner.name
            out["EnableDate"] = row.enabled_at
        return out

    @operation("ListVirtualMFADevices")
    async def list_virtual_mfa_devices(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        status = params.get("AssignmentStatus") or "Any"
        if status not in ("Assigned", "Unassigned", "Any"):
            raise validation("1 validation error detected: Value at 'assignmentStatus' failed "
                             "to satisfy constraint: Member must satisfy enum value set: "
                             "[Unassigned, Any, Assigned]")
        where: list[Any] = []
        if status == "Assigned":
            where.append(MfaDevice.user_id.is_not(None))
        elif status == "Unassigned":
            where.append(MfaDevice.user_id.is_(None))
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            rows, truncated = await self._page(session, account.account_id, params, *where)
            items = []
            for row in rows:
                item: dict[str, Any] = {"SerialNumber": row.serial}
                owner = await session.get(User, row.user_id) if row.user_id else None
                if owner is not None:
                    item["User"] = user_out(owner)
                    item["EnableDate"] = row.enabled_at
                if tags_out(row.tags_json):
                    item["Tags"] = tags_out(row.tags_json)
                items.append(item)
        return self._paged("VirtualMFADevices", rows, truncated, items)

    async def _edit_tags(self, ctx: RequestContext, params: dict[str, Any],
                         change: Any) -> None:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            row = await get_device(session, account.account_id, params["SerialNumber"])
            row.tags_json = change(row.tags_json)

    @operation("TagMFADevice")
    async def tag_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await self._edit_tags(ctx, params, lambda tags: merge_tags(tags, params["Tags"]))
        return {}

    @operation("UntagMFADevice")
    async def untag_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await self._edit_tags(ctx, params, lambda tags: drop_tags(tags, params["TagKeys"]))
        return {}

    @operation("ListMFADeviceTags")
    async def list_mfa_device_tags(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            row = await get_device(session, account.account_id, params["SerialNumber"])
        return {"Tags": tags_out(row.tags_json), "IsTruncated": False}
