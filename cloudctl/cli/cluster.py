"""Another host for the same cloud: ``cloudctl cluster export FILE`` on a host of the
cloud, ``cloudctl init --join FILE`` on the new one.

The export holds what every host of one cloud must share: the master key that seals
the secrets in the database (``keys/``), the cloud CA with the service certificates,
the image bundle key and the instance identity key (``ca/``), the shared database URL
and the ZooKeeper connect string. It is one JSON file, created 0600 and never printed.
The cloud's id is the SHA-256 of its CA certificate.

Joining refuses, without writing anything: a URL (secrets are never fetched over a
network channel here: copy the file with scp), a file others may read, a file whose
key material does not match its cloud id, a data directory that belongs to another
cloud (its CA, or the cloud it joined before, differs), and a key file that exists
with other content. It writes the files owner-only and records the shared
configuration in ``<data>/cluster.json``, which ``load_settings`` reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudctl.cli.adminclient import CliError
from cloudctl.config import Settings

FORMAT = "cloudctl-cluster/1"
SHARED_DIRS = ("keys", "ca")


@dataclass(frozen=True)
class Joined:
    cloud_id: str
    files: int  # key files written (0: the host had joined already)


def cloud_id(ca_pem: bytes) -> str:
    """The id of the cloud whose CA certificate this is."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def _shared_files(data_dir: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name in SHARED_DIRS:
        root = data_dir / name
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file() and not path.is_symlink() and not path.name.endswith(".tmp"):
                found[path.relative_to(data_dir).as_posix()] = path.read_bytes()
    return found


def export(settings: Settings, out: Path, *, database_url: str | None = None,
           zookeeper: str | None = None) -> str:
    """Write the join file of this host's cloud to ``out`` (0600); its cloud id."""
    url = database_url or settings.database_url
    if url.startswith("sqlite"):
        raise CliError("this cloud keeps its database in a SQLite file on this host: another "
                       "host cannot share it (run the cloud on PostgreSQL: "
                       "CLOUDCTL_DATABASE_URL, docs/multi-host.md)")
    ca = settings.ca_dir / "ca.pem"
    if not ca.exists():
        raise CliError(f"no cloud in {settings.data_dir} (run cloudctl init first)")
    if zookeeper is None:
        from cloudctl.cli.up import stored_property
        from cloudctl.services.ec2.vpc.properties import ZOOKEEPER

        zookeeper = stored_property(settings, ZOOKEEPER.name)
    document = {"format": FORMAT, "cloud_id": cloud_id(ca.read_bytes()),
                "database_url": url, "zookeeper": zookeeper,
                "files": {name: base64.b64encode(data).decode()
                          for name, data in _shared_files(settings.data_dir).items()}}
    if out.exists() and out.is_dir():
        raise CliError(f"{out} is a directory")
    from cloudctl.pki import write_private

    write_private(out, json.dumps(document, indent=1).encode(), dir_mode=0o700)
    return str(document["cloud_id"])


def _load(source: str) -> dict[str, Any]:
    if "://" in source:
        raise CliError("refusing to fetch the cloud's keys over a network channel: copy the "
                       "file from `cloudctl cluster export` (scp) and join from the file")
    path = Path(source)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CliError(f"{path} holds the cloud's secret keys and others may read it: "
                       f"chmod 600 {path} (and check who copied it)")
    try:
        document = json.loads(path.read_bytes())
    except ValueError:
        raise CliError(f"{path} is not a cloudctl cluster file") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CliError(f"{path} is not a cloudctl cluster file ({FORMAT})")
    return document


def _decoded(document: dict[str, Any]) -> dict[str, bytes]:
    files = document.get("files")
    if not isinstance(files, dict) or "ca/ca.pem" not in files or "keys/master.key" not in files:
        raise CliError("the cluster file lacks the cloud's CA or master key")
    decoded: dict[str, bytes] = {}
    for name, data in files.items():
        parts = Path(str(name)).parts
        if (not parts or parts[0] not in SHARED_DIRS or ".." in parts
                or Path(str(name)).is_absolute()):
            raise CliError(f"the cluster file names a path outside the key directories: {name!r}")
        try:
            decoded[Path(*parts).as_posix()] = base64.b64decode(str(data), validate=True)
        except ValueError:
            raise CliError(f"the cluster file's {name!r} is damaged") from None
    try:
        ident = cloud_id(decoded["ca/ca.pem"])
    except ValueError:
        raise CliError("the cluster file's CA certificate is damaged") from None
    if ident != document.get("cloud_id"):
        raise CliError("the cluster file's CA does not match its cloud id (damaged or altered)")
    return decoded


def _joined_before(settings: Settings) -> str | None:
    try:
        joined = json.loads(settings.cluster_path.read_text()).get("cloud_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(joined) if joined else None


def join(settings: Settings, source: str) -> Joined:
    """Make ``settings.data_dir`` a host of the cloud in the cluster file ``source``."""
    document = _load(source)
    files = _decoded(document)
    wanted = str(document["cloud_id"])
    ca = settings.ca_dir / "ca.pem"
    present = cloud_id(ca.read_bytes()) if ca.exists() else _joined_before(settings)
    if present is not None and present != wanted:
        raise CliError(f"{settings.data_dir} belongs to another cloud ({present[:16]}...); "
                       f"refusing to join cloud {wanted[:16]}... (use an empty data directory)")
    todo: dict[Path, bytes] = {}
    for name, data in files.items():
        path = settings.data_dir / name
        if path.exists():
            if path.read_bytes() != data:
                raise CliError(f"{path} exists with other content: refusing to replace the "
                               "key material of this host")
            continue
        todo[path] = data
    url = document.get("database_url")
    if not isinstance(url, str) or not url or url.startswith("sqlite"):
        raise CliError("the cluster file names no shared database")
    from cloudctl.pki import write_private

    os.umask(0o077)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path, data in todo.items():
        write_private(path, data, dir_mode=0o700)
    write_private(settings.cluster_path, json.dumps(
        {"cloud_id": wanted, "database_url": url,
         "zookeeper": str(document.get("zookeeper") or "")}, indent=2).encode(),
        dir_mode=0o700)
    return Joined(cloud_id=wanted, files=len(todo))


def shared_zones(settings: Settings) -> list[str]:
    """The zones of the cloud in the shared database: that this host reaches it (the
    schema is checked, and migrated if need be, when ``cloudctl up`` starts)."""
    import asyncio

    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.geography import list_zones

    async def read() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                return [zone.name for zone in await list_zones(session)]
        finally:
            await engine.dispose()

    try:
        return asyncio.run(read())
    except Exception as exc:  # the driver's errors: one line, no URL (it may hold a password)
        raise CliError(f"the shared database does not answer ({type(exc).__name__}); "
                       "check the URL in the cluster file and the database's access rules"
                       ) from None


def cmd_cluster(args: Any, settings: Settings) -> int:
    """``cloudctl cluster export FILE``."""
    ident = export(settings, Path(args.file), database_url=args.database_url,
                   zookeeper=args.zookeeper)
    print(f"cluster file of cloud {ident[:16]}... written to {args.file} (mode 0600; it holds "
          "the cloud's secret keys: copy it to the new host with scp, then "
          f"`cloudctl init --join {Path(args.file).name}` there and delete it)")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cluster", help="hosts of a multi-host cloud (docs/multi-host.md)")
    p.add_argument("cluster_command", choices=("export",))
    p.add_argument("file", help="where to write the cluster file (0600)")
    p.add_argument("--database-url", default=None,
                   help="the database URL the other hosts use (default: this host's)")
    p.add_argument("--zookeeper", default=None,
                   help="the ZooKeeper connect string (default: the cloud's "
                        "cloud.network.zookeeper property)")
