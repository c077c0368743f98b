"""Where the cloud keeps its state on this host, and the static settings read at start.

Owns resolving the data directory (``--data-dir`` or ``CLOUDCTL_DATA_DIR``), the
database URL and the paths of key material inside the data directory. Dynamic,
cloud-wide settings are cloud properties (``cloudctl.properties``), not here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("/var/lib/cloudctl")
DEFAULT_REGION = "eucalyptus"
DEFAULT_PORT = 8773
CLUSTER_FILE = "cluster.json"  # a joined host's shared configuration (cloudctl init --join)


@dataclass(frozen=True)
class Settings:
    """Static settings of one cloud controller process."""

    data_dir: Path
    database_url: str

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "keys" / "master.key"

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def metadata_socket(self) -> Path:
        return self.run_dir / "metadata.sock"

    @property
    def cluster_path(self) -> Path:
        return self.data_dir / CLUSTER_FILE


def resolve_data_dir(cli_value: str | None = None) -> Path:
    """The data directory: the CLI flag, else ``CLOUDCTL_DATA_DIR``, else the default."""
    value = cli_value or os.environ.get("CLOUDCTL_DATA_DIR")
    return Path(value).resolve() if value else DEFAULT_DATA_DIR


def load_settings(data_dir: str | Path | None = None, database_url: str | None = None) -> Settings:
    """Settings for a data directory; the database defaults to SQLite inside it.

    ``CLOUDCTL_DATABASE_URL`` selects another database (PostgreSQL:
    ``postgresql+psycopg://user@host:port/db``); a host that joined a cloud
    (``cloudctl init --join``) uses the one recorded in ``<data>/cluster.json``.
    """
    path = resolve_data_dir(str(data_dir) if data_dir else None)
    url = database_url or os.environ.get("CLOUDCTL_DATABASE_URL") or _joined_url(path)
    if not url:
        url = f"sqlite+aiosqlite:///{path / 'cloud.db'}"
    return Settings(data_dir=path, database_url=url)


def _joined_url(data_dir: Path) -> str | None:
    """The shared database of a host that joined a cloud, if it did."""
    try:
        url = json.loads((data_dir / CLUSTER_FILE).read_text()).get("database_url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url else None
