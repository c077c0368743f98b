"""Creating accounts, their admin user and access keys (used by init and by IAM)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.auth.secrets import SecretBox
from cloudctl.services import ids
from cloudctl.services.iam.models import AccessKey, Account, User
from cloudctl.services.iam.storedkeys import ADMIN_USER, IssuedKey


async def find_account(session: AsyncSession, name: str) -> Account | None:
    return (await session.execute(select(Account).where(Account.name == name))).scalar_one_or_none()


async def find_user(session: AsyncSession, account_id: str, name: str) -> User | None:
    return (await session.execute(
        select(User).where(User.account_id == account_id, User.name_lower == name.lower())
    )).scalar_one_or_none()


async def find_admin(session: AsyncSession, account_id: str) -> User | None:
    """The account's administrator: the user flagged at the account's creation."""
    return (await session.execute(
        select(User).where(User.account_id == account_id, User.is_admin.is_(True))
        .order_by(User.created_at).limit(1)
    )).scalar_one_or_none()


async def ensure_account(session: AsyncSession, name: str, email: str | None = None) -> Account:
    """The account called ``name`` with its administrator user, created if missing.

    The administrator is the user flagged ``is_admin``, created with the name
    ``admin``; a user that merely bears that name is never promoted.
    """
    account = await find_account(session, name)
    if account is None:
        account = Account(account_id=ids.account_id(), name=name,
                          canonical_id=ids.canonical_id(), email=email)
        session.add(account)
        await session.flush()
    if await find_admin(session, account.account_id) is None:
        if await find_user(session, account.account_id, ADMIN_USER) is not None:
            raise RuntimeError(f"account {name} has a user named {ADMIN_USER} that is not its "
                               "administrator; rename it before creating the administrator")
        session.add(User(user_id=ids.user_id(), account_id=account.account_id, name=ADMIN_USER,
                         name_lower=ADMIN_USER, path="/", is_admin=True))
        await session.flush()
    return account


async def issue_access_key(session: AsyncSession, secrets: SecretBox, account: Account,
                           user: User | None) -> IssuedKey:
    """A new active access key for ``user`` (or the account root when None)."""
    secret = ids.secret_access_key()
    key = AccessKey(access_key_id=ids.access_key_id(), account_id=account.account_id,
                    user_id=user.user_id if user else None, secret_sealed=secrets.seal(secret))
    session.add(key)
    await session.flush()
    return IssuedKey(key.access_key_id, secret, account.account_id, user.name if user else "root")


async def first_active_key(session: AsyncSession, secrets: SecretBox, account: Account,
                           user: User) -> IssuedKey | None:
    row = (await session.execute(
        select(AccessKey).where(AccessKey.user_id == user.user_id, AccessKey.active.is_(True))
        .order_by(AccessKey.created_at)
    )).scalars().first()
    if row is None:
        return None
    return IssuedKey(row.access_key_id, secrets.open(row.secret_sealed), account.account_id, user.name)
