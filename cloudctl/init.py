"""``cloudctl init``: everything a new cloud needs, created once, safe to repeat.

Creates the data directory (owner-only: umask 077, and 0700/0600 for anything
already there), the master key that seals secrets, the cloud CA and
service certificates, the schema (alembic), the ``eucalyptus`` admin account with
its ``admin`` user and an access key, and the region's availability zones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cloudctl import pki
from cloudctl.auth.secrets import SecretBox
from cloudctl.config import Settings
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.migrate import upgrade
from cloudctl.images.keys import ensure_cloud_bundle_cert
from cloudctl.properties.definitions import REGION_NAME, WEBSERVICE_PORT
from cloudctl.properties.models import PropertyValue
from cloudctl.services.geography import ensure_zones
from cloudctl.services.iam.bootstrap import (
    IssuedKey,
    ensure_account,
    find_admin,
    first_active_key,
    issue_access_key,
)
from cloudctl.services.iam.credentials import CLOUD_ADMIN_ACCOUNT

SERVICE_CERTS = ("cloudctl", "nodectl", "storagectl", "netd")


@dataclass(frozen=True)
class InitResult:
    data_dir: Path
    admin_key: IssuedKey
    zones: list[str]
    created_key: bool


async def _stored_port(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            row = await session.get(PropertyValue, WEBSERVICE_PORT.name)
    finally:
        await engine.dispose()
    return int(WEBSERVICE_PORT.parse(row.value if row else WEBSERVICE_PORT.default))


def configured_port(settings: Settings) -> int:
    """The API port from ``bootstrap.webservices.port`` (after initialisation)."""
    return asyncio.run(_stored_port(settings))


PRIVATE_UMASK = 0o077


def make_private(root: Path) -> None:
    """``root`` and everything under it owner-only: directories 0700, files 0600 (an
    executable bit is kept for the owner), sockets 0600; symbolic links untouched."""
    for path in (root, *root.rglob("*")):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # removed meanwhile
            continue
        if stat.S_ISLNK(mode):
            continue
        wanted = 0o700 if stat.S_ISDIR(mode) else (0o600 | (mode & stat.S_IXUSR))
        if stat.S_IMODE(mode) != wanted:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, wanted)


def prepare_dirs(settings: Settings) -> None:
    """The data directory tree, private to the cloud's user (``umask`` 077 from now on,
    and whatever an older version left readable made private)."""
    os.umask(PRIVATE_UMASK)
    for path in (settings.data_dir, settings.data_dir / "keys", settings.ca_dir, settings.run_dir):
        path.mkdir(parents=True, exist_ok=True)
    make_private(settings.data_dir)


async def _init_state(settings: Settings, region: str, zones: list[str]) -> InitResult:
    secrets = SecretBox(settings.secret_key_path)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            await ensure_zones(session, region, zones)
            if region != REGION_NAME.default and await session.get(PropertyValue, REGION_NAME.name) is None:
                session.add(PropertyValue(name=REGION_NAME.name, value=region, revision=1))
            account = await ensure_account(session, CLOUD_ADMIN_ACCOUNT)
            admin = await find_admin(session, account.account_id)
            assert admin is not None
            key = await first_active_key(session, secrets, account, admin)
            created = key is None
            if key is None:
                key = await issue_access_key(session, secrets, account, admin)
    finally:
        await engine.dispose()
    return InitResult(settings.data_dir, key, zones, created)


def initialise(settings: Settings, region: str = "eucalyptus",
               zones: list[str] | None = None) -> InitResult:
    """Initialise (or re-check) the cloud at ``settings``; idempotent."""
    prepare_dirs(settings)
    SecretBox(settings.secret_key_path)  # creates the master key on first use
    ca = pki.ensure_ca(settings.ca_dir)
    for name in SERVICE_CERTS:
        pki.issue(ca, settings.ca_dir / "services", name)
    ensure_cloud_bundle_cert(settings.ca_dir)  # nodes decrypt image bundles with it
    pki.ensure_identity_key(settings.ca_dir)  # signs instance identity documents
    upgrade(settings.database_url)
    zone_names = zones or [f"{region}-1a"]
    return asyncio.run(_init_state(settings, region, zone_names))
