"""The admin CLI's key read with ``sqlite3`` alone (``iam.storedkeys``) answers what the
ORM path answers (the administrator by its flag, a user by name, the earliest active
key), and a ``cloudctl`` command that signs with it imports no SQLAlchemy."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from cloudctl.auth.secrets import SecretBox
from cloudctl.cli.adminclient import _orm_user_key, user_key
from cloudctl.config import load_settings
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.iam.bootstrap import (
    ensure_account,
    find_admin,
    issue_access_key,
)
from cloudctl.services.iam.models import AccessKey, User
from cloudctl.services.iam.storedkeys import (
    ADMIN_USER,
    CLOUD_ADMIN_ACCOUNT,
    sqlite_file,
    stored_key,
)


def _init(data_dir: Path) -> None:
    env = dict(os.environ, CLOUDCTL_DATA_DIR=str(data_dir))
    subprocess.run([sys.executable, "-m", "cloudctl", "init"], env=env, check=True,
                   capture_output=True, timeout=120)


def test_the_sqlite_read_answers_as_the_orm_path(tmp_path: Path) -> None:
    _init(tmp_path)
    settings = load_settings(tmp_path)
    database = sqlite_file(settings.database_url)
    assert database is not None and database.exists()
    secrets = SecretBox(settings.secret_key_path)

    async def setup() -> tuple[str, str]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                acme = await ensure_account(session, "acme")
                admin = await find_admin(session, acme.account_id)
                assert admin is not None
                # a user named like the administrator in another sense: found by name
                bob = User(user_id="AIDABOB000000000000", account_id=acme.account_id,
                           name="Bob", name_lower="bob", path="/")
                session.add(bob)
                await session.flush()
                first = await issue_access_key(session, secrets, acme, bob)
                second = await issue_access_key(session, secrets, acme, bob)
                await session.execute(update(AccessKey).where(
                    AccessKey.access_key_id == first.access_key_id).values(active=False))
                return first.access_key_id, second.access_key_id
        finally:
            await engine.dispose()

    inactive, active = asyncio.run(setup())
    for account, user in ((CLOUD_ADMIN_ACCOUNT, ADMIN_USER), ("acme", ADMIN_USER),
                          ("acme", "BOB")):
        orm = _orm_user_key(settings, account, user, True)  # issues acme's admin key
        raw = stored_key(database, secrets, account, user)
        assert raw == orm, (account, user)
    bob = stored_key(database, secrets, "acme", "bob")
    assert bob is not None and bob.access_key_id == active != inactive
    assert stored_key(database, secrets, "acme", "nobody") is None
    assert stored_key(database, secrets, "nowhere", ADMIN_USER) is None
    assert sqlite_file("postgresql+psycopg://u@h:5432/db") is None
    assert sqlite_file("sqlite+aiosqlite:///file:x.db?uri=true") is None
    assert sqlite_file(settings.database_url) == database
    assert user_key(settings, "acme", "bob").access_key_id == active


def test_a_signing_command_imports_no_sqlalchemy(tmp_path: Path) -> None:
    _init(tmp_path)
    env = dict(os.environ, CLOUDCTL_DATA_DIR=str(tmp_path))
    probe = ("import runpy, sys\n"
             "sys.argv = ['cloudctl', '--output', 'json', 'credentials']\n"
             "try:\n    runpy.run_module('cloudctl', run_name='__main__')\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "print(json.dumps({'sqlalchemy': 'sqlalchemy' in sys.modules}))\n")
    answers = []
    for _ in range(2):  # the first may issue the key (the ORM path); the second reads it
        done = subprocess.run([sys.executable, "-c", "import json\n" + probe], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        printed, marker = done.stdout.rsplit("{", 1)[0], json.loads(
            "{" + done.stdout.rsplit("{", 1)[1])
        answers.append((json.loads(printed)["AccessKeyId"], marker["sqlalchemy"]))
    assert answers[0][0] == answers[1][0]
    assert answers[1][1] is False, "a command that only signs imported SQLAlchemy"
