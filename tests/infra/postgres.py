"""A private PostgreSQL server for the test suite (Debian's postgresql-15, no systemd).

``start_postgres`` runs initdb as the ``postgres`` user into a temp directory and
starts the server on a free loopback port with its own socket directory; ``stop``
stops exactly that server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(cmd: list[str], netns: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run([*prefix, "runuser", "-u", "postgres", "--", *cmd], check=True,
                          capture_output=True, text=True, timeout=120)


@dataclass
class PostgresServer:
    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        _as_postgres([str(PG_BIN / "psql"), "-h", str(self.root), "-p", str(self.port), "-q",
                      "-c", f'CREATE DATABASE "{name}"'])
        return self.url(name)

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate",
                          "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    return (PG_BIN / "initdb").exists() and shutil.which("runuser") is not None


def start_postgres(netns: str | None = None, host: str = "127.0.0.1",
                   port: int = 0) -> PostgresServer:
    """A new server; ``netns``: inside that network namespace, listening on ``host``."""
    root = Path(tempfile.mkdtemp(prefix="cloudctl-pg-"))
    os.chmod(root, 0o755)
    shutil.chown(root, "postgres", "postgres")
    port = port or free_port()
    server = PostgresServer(root, port, host)
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(server.datadir), "-A", "trust",
                  "-U", "postgres", "--no-sync", "-E", "UTF8"])
    if host != "127.0.0.1":  # the namespace's network: trust its peers, as local ones
        with open(server.datadir / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {host}/24 trust\n")
    opts = (f"-c listen_addresses={host} -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200")
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(server.datadir), "-o", opts,
                  "-l", str(root / "server.log"), "-w", "-t", "60", "start"], netns)
    return server
