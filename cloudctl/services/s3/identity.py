"""Account identities S3 needs: canonical ids, display names, e-mail grantees.

Reads accounts through IAM's public API (``cloudctl.services.iam.api``); the only S3
module that asks for identity data. Results are cached (accounts are immutable
in the fields read here).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.iam import api as iam


@dataclass(frozen=True)
class Owner:
    account_id: str
    canonical_id: str
    display_name: str


_by_account: dict[str, Owner] = {}


def _owner(account: iam.AccountIdentity) -> Owner:
    owner = Owner(account.account_id, account.canonical_id, account.name)
    _by_account[owner.account_id] = owner
    return owner


def cached(account_id: str) -> Owner | None:
    """The owner of ``account_id`` when this process looked it up before."""
    return _by_account.get(account_id)


async def owner_of(session: AsyncSession, account_id: str) -> Owner:
    cached = _by_account.get(account_id)
    if cached is not None:
        return cached
    account = await iam.account_identity(session, account_id)
    if account is None:
        return Owner(account_id, account_id, account_id)
    return _owner(account)


async def by_canonical_id(session: AsyncSession, canonical_id: str) -> Owner | None:
    for owner in _by_account.values():
        if owner.canonical_id == canonical_id:
            return owner
    row = await iam.account_by_canonical_id(session, canonical_id)
    return _owner(row) if row is not None else None


async def by_email(session: AsyncSession, email: str) -> Owner | None:
    row = await iam.account_by_email(session, email)
    return _owner(row) if row is not None else None
