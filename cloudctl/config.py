"""Where the cloud keeps its state on this host, and the static settings read at start.

Owns resolving the data directory (``--data-dir`` or ``CLOUDCTL_DATA_DIR``), the
database URL and the paths of key material inside the data directory. Dynamic,
cloud-wide settings are cloud properties (``cloudctl.properties``), not here.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("/var/lib/cloudctl")
DEFAULT_REGION = "eucalyptus"
DEFAULT_PORT = 8773
CLUSTER_FILE = "cluster.json"  # a joined host's shared configuration (cloudctl init --join)
EVENT_LOOPS = ("uvloop", "asyncio")  # the API processes' loop (cloudctl.server.eventloop)
EVENT_LOOP_ENV = "CLOUDCTL_EVENT_LOOP"


@dataclass(frozen=True)
class Settings:
    """Static settings of one cloud controller process."""

    data_dir: Path
    database_url: str
    # the ZooKeeper ensemble controllers elect their leaders through (host:port,...);
    # empty: the embedded all-in-one cloud, where worker 0 leads every controller
    zookeeper: str = ""
    # this host's name in the service registry (DescribeServices, leader terms)
    host_id: str = ""
    # the ZooKeeper session timeout: how long a dead leader keeps its leadership
    zookeeper_session_timeout: float = 10.0
    # the API's URL as instances reach it (``cloudctl up``'s outside network in VPC mode,
    # cloudctl.cli.vpc_outside); empty: instances reach no API endpoint of this host
    guest_endpoint: str = ""
    # PostgreSQL ends a session of this process left idle inside a transaction this
    # long (seconds; 0: never): a host cut off mid-transaction must not hold its row
    # locks for the length of the partition (the default of a ZooKeeper cloud: twice
    # the session timeout, so the new leader's work waits no longer than that)
    idle_transaction_timeout: float = 0.0
    # the API processes' event loop: "uvloop" (default) or "asyncio" (asyncio's own)
    event_loop: str = EVENT_LOOPS[0]

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
    ``CLOUDCTL_ZOOKEEPER`` (host:port,...; else the joined cloud's) selects leader
    election through that ensemble (several cloud hosts); ``CLOUDCTL_HOST_ID`` names
    this host (default: the host name) and ``CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT`` sets
    the session timeout in seconds. ``CLOUDCTL_DB_IDLE_TRANSACTION_TIMEOUT`` (seconds)
    bounds a transaction left idle on PostgreSQL (default: twice the session timeout
    with ZooKeeper, else unbounded). ``CLOUDCTL_EVENT_LOOP`` chooses the API processes'
    event loop (``uvloop``, the default, or ``asyncio``; ``cloudctl up --event-loop``).
    """
    path = resolve_data_dir(str(data_dir) if data_dir else None)
    url = database_url or os.environ.get("CLOUDCTL_DATABASE_URL") or _joined_url(path)
    if not url:
        url = f"sqlite+aiosqlite:///{path / 'cloud.db'}"
    timeout = os.environ.get("CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT", "")
    zookeeper = os.environ.get("CLOUDCTL_ZOOKEEPER", "").strip() \
        or _joined(path, "zookeeper") or ""
    session_timeout = float(timeout) if timeout else 10.0
    idle = os.environ.get("CLOUDCTL_DB_IDLE_TRANSACTION_TIMEOUT", "").strip()
    return Settings(data_dir=path, database_url=url, zookeeper=zookeeper,
                    host_id=os.environ.get("CLOUDCTL_HOST_ID", "") or socket.gethostname(),
                    zookeeper_session_timeout=session_timeout,
                    idle_transaction_timeout=float(idle) if idle
                    else 2 * session_timeout if zookeeper else 0.0,
                    event_loop=os.environ.get(EVENT_LOOP_ENV, "").strip() or EVENT_LOOPS[0])


def _joined_url(data_dir: Path) -> str | None:
    """The shared database of a host that joined a cloud, if it did."""
    return _joined(data_dir, "database_url")


def _joined(data_dir: Path, key: str) -> str | None:
    """A setting recorded in ``<data>/cluster.json`` when this host joined a cloud."""
    try:
        value = json.loads((data_dir / CLUSTER_FILE).read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None
