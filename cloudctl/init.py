"""``cloudctl init``: everything a new cloud needs, created once, safe to repeat.

Creates the data directory (owner-only: umask 077, and 0700/0600 for anything
already there), the master key that seals secrets, the cloud CA and
service certificates, the schema (alembic), the ``eucalyptus`` admin account with
its ``admin`` user and an access key, the region's availability zones and, for a new
cloud only, its network mode: ``VPC`` unless asked for ``EDGE`` (stored as the ``Mode``
of ``cloud.network.network_configuration``; an existing cloud keeps the mode it has,
and one that never stored the property stays in the property's default, ``EDGE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl import pki
from cloudctl.auth.secrets import SecretBox
from cloudctl.config import Settings
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.migrate import upgrade
from cloudctl.images.keys import ensure_cloud_bundle_cert
from cloudctl.properties.definitions import REGION_NAME, WEBSERVICE_PORT
from cloudctl.properties.models import PropertyValue
from cloudctl.services.geography import ensure_zones, list_zones
from cloudctl.services.iam.bootstrap import (
    ensure_account,
    find_admin,
    first_active_key,
    issue_access_key,
)
from cloudctl.services.iam.storedkeys import CLOUD_ADMIN_ACCOUNT, IssuedKey
from cloudctl.services.network.config import DEFAULT_CONFIG, NETWORK_CONFIGURATION

DEFAULT_NETWORK_MODE = "VPC"  # AWS retired EC2-Classic: every account has a default VPC

SERVICE_CERTS = ("cloudctl", "nodectl", "storagectl", "netd")
DEFAULT_REGION = REGION_NAME.default


@dataclass(frozen=True)
class InitResult:
    data_dir: Path
    admin_key: IssuedKey
    zones: list[str]
    created_key: bool
    network_mode: str  # the stored mode: VPC or EDGE (VPCMIDO reads as VPC)


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


def _mode_of(configuration: str) -> str:
    try:
        value = json.loads(configuration)
    except ValueError:
        value = {}
    mode = str(value.get("Mode", "EDGE") if isinstance(value, dict) else "EDGE").upper()
    return "VPC" if mode in ("VPC", "VPCMIDO") else "EDGE"


async def _network_mode(session: AsyncSession, new_cloud: bool, wanted: str | None) -> str:
    """The cloud's network mode; a new cloud's is written first (``wanted`` or VPC)."""
    row = await session.get(PropertyValue, NETWORK_CONFIGURATION.name)
    if row is None and new_cloud:
        value = json.dumps({**DEFAULT_CONFIG, "Mode": wanted or DEFAULT_NETWORK_MODE})
        session.add(PropertyValue(name=NETWORK_CONFIGURATION.name, value=value, revision=1))
        return wanted or DEFAULT_NETWORK_MODE
    return _mode_of(row.value if row is not None else NETWORK_CONFIGURATION.default)


async def _init_state(settings: Settings, region: str | None,
                      zones: list[str] | None, network_mode: str | None) -> InitResult:
    secrets = SecretBox(settings.secret_key_path)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            existing = await list_zones(session)
            if region is None and existing:
                # ``up`` after ``init --region R``: the cloud keeps the geography it has
                zones = [zone.name for zone in existing]
                region = existing[0].region
            else:
                region = region or DEFAULT_REGION
                zones = zones or [f"{region}-1a"]
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
            mode = await _network_mode(session, created, network_mode)
    finally:
        await engine.dispose()
    return InitResult(settings.data_dir, key, zones, created, mode)


def initialise(settings: Settings, region: str | None = None,
               zones: list[str] | None = None, network_mode: str | None = None) -> InitResult:
    """Initialise (or re-check) the cloud at ``settings``; idempotent.

    Without ``region`` a cloud that has zones keeps them, a new one gets the
    ``eucalyptus`` region with one zone. ``network_mode`` (``VPC``/``EDGE``) is the
    mode of a new cloud (default VPC); an initialised cloud keeps its own.
    """
    if network_mode not in (None, "VPC", "EDGE"):
        raise ValueError(f"network mode {network_mode!r}: VPC or EDGE")
    prepare_dirs(settings)
    SecretBox(settings.secret_key_path)  # creates the master key on first use
    ca = pki.ensure_ca(settings.ca_dir)
    for name in SERVICE_CERTS:
        pki.issue(ca, settings.ca_dir / "services", name)
    ensure_cloud_bundle_cert(settings.ca_dir)  # nodes decrypt image bundles with it
    pki.ensure_identity_key(settings.ca_dir)  # signs instance identity documents
    upgrade(settings.database_url)
    return asyncio.run(_init_state(settings, region, zones, network_mode))
