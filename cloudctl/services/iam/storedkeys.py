"""A user's access key read straight from the cloud's SQLite file, for the admin CLI.

Every ``cloudctl`` command that calls the API signs with a key of the account's user
(the cloud administrator's by default), kept sealed in the database. Reading it through
the ORM imports SQLAlchemy, the IAM models and the PostgreSQL driver: ~0.4 s of every
command. On the embedded database this module reads it with one ``sqlite3`` query,
read-only, and opens the secret with the data directory's master key; it answers None
whenever it cannot say (another database, no such key yet, a schema it does not know),
and the caller then takes the ORM path (``cloudctl.cli.adminclient.user_key``), which
also issues a key when there is none.

The rule is the ORM path's (``bootstrap.find_admin``, ``find_user``,
``first_active_key``): the administrator is the account's earliest user flagged
``is_admin`` (never a user that merely bears the name), any other user is found by its
name case-insensitively, and the key is that user's earliest active one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cloudctl.auth.secrets import SecretBox

ADMIN_USER = "admin"
CLOUD_ADMIN_ACCOUNT = "eucalyptus"

_SQLITE_PREFIXES = ("sqlite+aiosqlite:///", "sqlite:///")

_KEY = """
SELECT k.access_key_id, k.secret_sealed, a.account_id, u.name
FROM iam_accounts a
JOIN iam_users u ON u.account_id = a.account_id
JOIN iam_access_keys k ON k.user_id = u.user_id AND k.active = 1
WHERE a.name = ? AND u.user_id = (
    SELECT user_id FROM iam_users WHERE account_id = a.account_id AND {who}
    ORDER BY created_at LIMIT 1)
ORDER BY k.created_at LIMIT 1
"""
_ADMIN = _KEY.format(who="is_admin = 1")
_NAMED = _KEY.format(who="name_lower = ?")


@dataclass(frozen=True)
class IssuedKey:
    access_key_id: str
    secret_access_key: str
    account_id: str
    user_name: str


def sqlite_file(database_url: str) -> Path | None:
    """The file a plain SQLite URL names; None for anything else (PostgreSQL, memory,
    URI filenames: left to the ORM path)."""
    for prefix in _SQLITE_PREFIXES:
        if database_url.startswith(prefix):
            rest = database_url[len(prefix):]
            if not rest or "?" in rest or rest.startswith(":memory:"):
                return None
            return Path(rest)
    return None


def stored_key(database: Path, secrets: SecretBox, account: str,
               user: str) -> IssuedKey | None:
    """``account``/``user``'s first active access key in the SQLite file ``database``
    (``ADMIN_USER``: the account's administrator); None when there is none or it
    cannot be read here."""
    if not database.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        if user == ADMIN_USER:
            row = conn.execute(_ADMIN, (account,)).fetchone()
        else:
            row = conn.execute(_NAMED, (account, user.lower())).fetchone()
    except sqlite3.Error:  # locked past the timeout, or a schema this does not know
        return None
    finally:
        conn.close()
    if row is None:
        return None
    return IssuedKey(row[0], secrets.open(row[1]), row[2], row[3])
