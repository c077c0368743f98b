"""Access log lines of the load balancers: haproxy sends one datagram a request to
`<lb dir>/log.sock` (`format raw`); a sink thread of netd appends it to
`access.log`. `rotate` renames that file to a numbered `.pending` file (what has been
rotated is never written again) and returns every pending file; the cloud deletes one
once delivered. A reload of haproxy changes nothing here (the sink outlives it); lines
sent while netd is down are lost (datagrams to a closed socket)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

_sinks: dict[str, LogSink] = {}
_guard = threading.Lock()


class LogSink:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.sock_path = directory / "log.sock"
        self.out = directory / "access.log"
        self._lock = threading.Lock()
        self._stop = False
        self.sock_path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        self.sock.settimeout(0.5)
        self.thread = threading.Thread(target=self._run, name=f"lblog-{directory.name}",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            line = data.decode(errors="replace").rstrip("\n") + "\n"
            with self._lock, open(self.out, "a") as fh:
                fh.write(line)

    def rotate(self) -> list[Path]:
        with self._lock:
            if self.out.exists() and self.out.stat().st_size:
                self.out.rename(self.dir / f"access-{time.time_ns()}.pending")
        return sorted(self.dir.glob("access-*.pending"))

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        self.thread.join(timeout=2)
        self.sock_path.unlink(missing_ok=True)


def ensure(directory: Path) -> LogSink:
    """The sink of `directory`, started in this process if it is not running."""
    key = os.fspath(directory)
    with _guard:
        sink = _sinks.get(key)
        if sink is None or not sink.thread.is_alive() or not sink.sock_path.exists():
            if sink is not None:
                sink.close()
            sink = _sinks[key] = LogSink(directory)
        return sink


def get(directory: Path) -> LogSink | None:
    with _guard:
        return _sinks.get(os.fspath(directory))


def close(directory: Path) -> None:
    with _guard:
        sink = _sinks.pop(os.fspath(directory), None)
    if sink is not None:
        sink.close()
