"""This host's RADOS clients on record, so a restarted process fences its dead ones.

A process that opens a librados connection with a record directory writes one record
there per connection (``<pid>.<instance id>.json``): the host, its boot, the process and
its start time, the cluster's fsid and the client's address. The next connection opened
with that directory reads the others: a record of this host and cluster whose process is
gone (another boot, no such process, a zombie, or its pid taken by a newer process)
names a client that will never release what it held, above all RBD exclusive locks.
The OSDs keep such a client's watches until ``osd_client_watch_timeout`` (30 s), and
librbd will not break a lock whose owner still watches the image. Adding the dead
client's address to the OSD blocklist, as an operator fences a dead client, drops its
watches at once: librbd then breaks the lock on its first request instead of waiting.

Must not: blocklist a client whose process lives (another worker, or this process's own
earlier connection still open), a client of another host or cluster, or the connection
being opened; fail the connection when the blocklist is refused (the client's key lacks
the ``osd blocklist`` mon cap): that is a warning, and the old wait remains.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# How long the OSDs refuse a fenced client; it is dead, so this only bounds how long the
# entry stays in the OSD map (Ceph's own default for a blocklist entry is one hour).
FENCE_SECONDS = 3600
_ENTITY_ADDR_RE = re.compile(r"(?:(?:v1|v2|any):)?((?:\[[0-9a-fA-F:.]+\]|[0-9.]+):\d+/\d+)")


@dataclass(frozen=True)
class ClientRecord:
    """One librados connection of a process of this host, as written to its file."""

    host: str
    boot_id: str
    pid: int
    started: str  # the process's start time, clock ticks since boot (/proc/<pid>/stat)
    fsid: str
    client_name: str
    addr: str  # "ip:port/nonce", the form ``osd blocklist add`` takes


def boot_id() -> str:
    """This boot of the host (a pid names the same process only within one boot)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> tuple[str, str] | None:
    """``(state, start time)`` of process ``pid`` from /proc, None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], fields[19]


def entity_addr(addrs: str) -> str | None:
    """The ``ip:port/nonce`` of a client from ``Rados.get_addrs()`` (an address vector
    such as ``[v2:127.0.0.1:0/123,v1:127.0.0.1:0/123]``), None when it has none."""
    found = _ENTITY_ADDR_RE.search(addrs)
    return found.group(1) if found else None


def is_dead(record: ClientRecord) -> bool:
    """Whether ``record``'s process is certainly gone. A record of another host is
    never judged dead here: its process cannot be seen from this one."""
    if record.host != socket.gethostname():
        return False
    if record.boot_id != boot_id():
        return True
    # This process too is judged by its start time: an earlier connection of ours is
    # alive, a dead process whose pid we were given is not.
    seen = process_start(record.pid)
    if seen is None:
        return True
    state, started = seen
    # A zombie holds no sockets any more; a different start time is a newer process
    # that was given the same pid.
    return state in ("Z", "X") or started != record.started


class ClientRecords:
    """The record directory of one role's connections on this host."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _read(self) -> list[tuple[Path, ClientRecord]]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append((path, ClientRecord(**json.loads(path.read_text()))))
            except (OSError, ValueError, TypeError):
                continue  # half written by a process killed mid-write, or foreign
        return found

    def register(self, cluster: Any, client_name: str) -> Path | None:
        """Fence the dead connections on record, then record ``cluster`` (a connected
        ``rados.Rados``); the path of its record, None when it could not be written.
        Runs in a worker thread: the blocklist is a monitor command."""
        mine = self._own_record(cluster, client_name)
        if mine is None:
            return None
        for path, record in self._read():
            if record.fsid == mine.fsid and record.addr != mine.addr and is_dead(record):
                fence(cluster, record)
                with contextlib.suppress(OSError):
                    path.unlink()
        path = self.directory / f"{mine.pid}.{cluster.get_instance_id()}.json"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_text(json.dumps(asdict(mine)) + "\n")
            partial.replace(path)  # never a half record under a .json name
        except OSError as exc:
            log.warning("cannot record RADOS client %s in %s (%s): a restart will wait "
                        "for its locks", mine.addr, self.directory, exc)
            return None
        return path

    @staticmethod
    def _own_record(cluster: Any, client_name: str) -> ClientRecord | None:
        addr = entity_addr(str(cluster.get_addrs()))
        started = process_start(os.getpid())
        if addr is None or started is None:
            log.warning("RADOS client %s: no address or process start time to record",
                        client_name)
            return None
        return ClientRecord(host=socket.gethostname(), boot_id=boot_id(), pid=os.getpid(),
                            started=started[1], fsid=str(cluster.get_fsid()),
                            client_name=client_name, addr=addr)

    @staticmethod
    def forget(path: Path | None) -> None:
        """Drop a connection's record once it is shut down: a clean shutdown releases
        its locks and watches itself."""
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def fence(cluster: Any, record: ClientRecord) -> bool:
    """Add ``record``'s dead client to the OSD blocklist through ``cluster``; False (and a
    warning) when the cluster refuses."""
    # librados before Pacific (16) names it blacklist ("osd blacklist add")
    add = getattr(cluster, "blocklist_add", None) or cluster.blacklist_add
    try:
        add(record.addr, FENCE_SECONDS)
    except Exception as exc:  # rados.PermissionDeniedError without the cap, and the rest
        log.warning("could not blocklist dead RADOS client %s (%s, pid %d): %s; its RBD "
                    "locks are freed when the OSDs time its watches out", record.addr,
                    record.client_name, record.pid, exc)
        return False
    log.info("blocklisted dead RADOS client %s (%s, pid %d) for %d s: its RBD locks are "
             "taken over at once", record.addr, record.client_name, record.pid,
             FENCE_SECONDS)
    return True
