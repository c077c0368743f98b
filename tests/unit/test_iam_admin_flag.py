"""The account administrator is the flagged user: the migration flags the existing
``admin`` at ``/`` of each account, and the credential store never promotes a user
for its name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cloudctl.auth.secrets import SecretBox
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.db.migrate import upgrade
from cloudctl.services.iam.credentials import IamCredentialStore

BEFORE = ("0002_iam", "0007_s3_inline", "0004_compute", "0005_ebs", "0006_network")
ACCOUNTS = [("111111111111", "one", "c1"), ("222222222222", "two", "c2")]
USERS = [("U1", "111111111111", "admin", "/"), ("U2", "111111111111", "bob", "/"),
         ("U3", "222222222222", "admin", "/ops/"), ("U4", "222222222222", "carol", "/")]


def _old_database(path: Path, secrets: SecretBox) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    for revision in BEFORE:
        upgrade(url, revision)
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO iam_accounts VALUES (?, ?, ?, NULL, '2020-01-01 00:00:00')",
                   ACCOUNTS)
    db.executemany("INSERT INTO iam_users (user_id, account_id, name, name_lower, path, "
                   "created_at, tags_json) VALUES (?, ?, ?, lower(?), ?, "
                   "'2020-01-01 00:00:00', '[]')", [(*u[:3], u[2], u[3]) for u in USERS])
    db.executemany("INSERT INTO iam_access_keys (access_key_id, account_id, user_id, "
                   "secret_sealed, active, created_at) VALUES (?, ?, ?, ?, 1, "
                   "'2020-01-01 00:00:00')",
                   [(f"AKIA{u[0]}", u[1], u[0], secrets.seal("s")) for u in USERS])
    db.commit()
    db.close()
    return url


async def test_upgrade_flags_the_admin_and_names_grant_nothing(tmp_path: Path) -> None:
    secrets = SecretBox(tmp_path / "master.key")
    url = _old_database(tmp_path / "cloud.db", secrets)
    upgrade(url)
    db = sqlite3.connect(tmp_path / "cloud.db")
    flagged = {row[0] for row in db.execute("SELECT user_id FROM iam_users WHERE is_admin")}
    assert flagged == {"U1"}  # "admin" at "/" only; "admin" at "/ops/" never was one
    # a user that bears the name without the flag is no administrator; the flag decides
    db.execute("UPDATE iam_users SET name = 'ops', name_lower = 'ops' WHERE user_id = 'U1'")
    db.execute("UPDATE iam_users SET path = '/' WHERE user_id = 'U3'")
    db.commit()
    db.close()
    engine = create_engine(url)
    try:
        store = IamCredentialStore(session_factory(engine), secrets)
        admins = {}
        for user_id, *_ in USERS:
            credential = await store.lookup(f"AKIA{user_id}")
            assert credential is not None
            admins[user_id] = credential.attributes["account_admin"]
        assert admins == {"U1": True, "U2": False, "U3": False, "U4": False}
    finally:
        await engine.dispose()
