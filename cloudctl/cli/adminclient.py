"""Talking to a running cloud as its administrator (properties, services).

Reads the ``eucalyptus/admin`` access key from the data directory and signs
requests with botocore, exactly as any SigV4 client would.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudctl.config import Settings

if TYPE_CHECKING:
    import botocore.session

    from cloudctl.services.iam.storedkeys import IssuedKey

# botocore, SQLAlchemy and the IAM models are imported by the functions that use them:
# a command that needs none of them (``--help``, ``init``, ``up``...) does not pay their
# import time, about 0.4 s of every ``cloudctl`` process

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class CliError(Exception):
    """An error the CLI reports in one line, exit status 1."""


def user_key(settings: Settings, account: str, user: str, create: bool = True) -> IssuedKey:
    """The first active access key of ``account``/``user``, issuing one if it has none."""
    if not settings.secret_key_path.exists():
        raise CliError(f"{settings.data_dir} is not initialised: run 'cloudctl init'")
    check_database(settings)
    found = _stored_key(settings, account, user)
    if found is not None:
        return found
    return _orm_user_key(settings, account, user, create)


def _orm_user_key(settings: Settings, account: str, user: str, create: bool) -> IssuedKey:
    """``user_key`` through the ORM (any database; issues the key when asked)."""
    import asyncio

    from sqlalchemy.exc import DBAPIError

    from cloudctl.auth.secrets import SecretBox
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.iam.bootstrap import (
        ensure_account,
        find_account,
        find_admin,
        find_user,
        first_active_key,
        issue_access_key,
    )
    from cloudctl.services.iam.storedkeys import ADMIN_USER, CLOUD_ADMIN_ACCOUNT

    async def run() -> IssuedKey:
        engine = create_engine(settings.database_url)
        secrets = SecretBox(settings.secret_key_path)
        try:
            async with session_factory(engine)() as session, session.begin():
                acct = await find_account(session, account)
                if acct is None:
                    if account == CLOUD_ADMIN_ACCOUNT:
                        acct = await ensure_account(session, account)
                    else:
                        raise CliError(f"no such account: {account}")
                # the administrator is found by its flag, never by the name it bears
                usr = (await find_admin(session, acct.account_id) if user == ADMIN_USER
                       else await find_user(session, acct.account_id, user))
                if usr is None:
                    raise CliError(f"no such user: {account}/{user}")
                key = await first_active_key(session, secrets, acct, usr)
                if key is None:
                    if not create:
                        raise CliError(f"{account}/{user} has no active access key")
                    key = await issue_access_key(session, secrets, acct, usr)
                return key
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DBAPIError as exc:
        raise CliError(f"cannot read the cloud's database ({_shown(settings.database_url)}): "
                       f"{str(exc.orig).strip().splitlines()[0]}; {DATABASE_HINT}") from None


def _stored_key(settings: Settings, account: str, user: str) -> IssuedKey | None:
    """The key read with ``sqlite3`` alone on the embedded database (no SQLAlchemy
    import: ~0.4 s of every command); None: the ORM path answers."""
    from cloudctl.auth.secrets import SecretBox, SecretBoxError
    from cloudctl.services.iam.storedkeys import sqlite_file, stored_key

    database = sqlite_file(settings.database_url)
    if database is None:
        return None
    try:
        return stored_key(database, SecretBox(settings.secret_key_path), account, user)
    except SecretBoxError:
        return None  # the ORM path reports it


DATABASE_HINT = ("a cloud on PostgreSQL needs CLOUDCTL_DATABASE_URL "
                 "(postgresql+psycopg://USER@HOST:PORT/DB) in the environment of every "
                 "cloudctl command, as for 'cloudctl up'")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def check_database(settings: Settings) -> None:
    """Fail with the missing setting, not a driver error, when the data directory's
    SQLite database does not exist (the cloud keeps its state in PostgreSQL)."""
    url = settings.database_url
    if url.startswith("sqlite") and not (settings.data_dir / "cloud.db").exists() \
            and str(settings.data_dir / "cloud.db") in url:
        raise CliError(f"no database in {settings.data_dir} (CLOUDCTL_DATABASE_URL is not set): "
                       f"{DATABASE_HINT}")


def botocore_session() -> botocore.session.Session:
    import botocore.session

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    if str(MODELS_DIR) not in loader.search_paths:
        loader.search_paths.insert(0, str(MODELS_DIR))
    return session


def admin_client(settings: Settings, service: str, endpoint: str, region: str = "eucalyptus") -> Any:
    from botocore.config import Config

    from cloudctl.services.iam.storedkeys import ADMIN_USER, CLOUD_ADMIN_ACCOUNT

    key = user_key(settings, CLOUD_ADMIN_ACCOUNT, ADMIN_USER)
    path = {"properties": "/services/Properties", "empyrean": "/services/Empyrean"}.get(service, "")
    return botocore_session().create_client(
        service, region_name=region, endpoint_url=endpoint.rstrip("/") + path,
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
    )
