"""``cloudctl up --workers 4`` started ten times on fresh data, on SQLite and PostgreSQL.

Every start must bring four workers up without one crashing or being restarted;
every other start ends with ``kill -9`` of the parent, after which its workers must
be gone within seconds and the port free: every start binds the same port (with a
worker of the last one still listening there, ``cloudctl up`` would fail to bind).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.infra.postgres import free_port

STARTS = 10
WORKERS = 4


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start(port: int, database_url: str | None) -> tuple[subprocess.Popen[bytes], Path]:
    data_dir = Path(tempfile.mkdtemp(prefix="cloudctl-life-"))
    env = dict(os.environ, CLOUDCTL_DATA_DIR=str(data_dir))
    env.pop("CLOUDCTL_DATABASE_URL", None)
    if database_url:
        env["CLOUDCTL_DATABASE_URL"] = database_url
    log = data_dir / "server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cloudctl", "up", "--listen", f"127.0.0.1:{port}",
             "--workers", str(WORKERS), "--node", "fake", "--network-mode", "EDGE"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def _serving(process: subprocess.Popen[bytes], log: Path, port: int) -> set[int]:
    """The worker pids once the health check answers 200: every worker serves."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cloud/health",
                                        timeout=5) as answer:
                if answer.status == 200:
                    assert log.read_text(errors="replace").count(" serving") >= WORKERS
                    return _children(process.pid)
        except OSError:  # not listening yet, or 503 starting
            pass
        time.sleep(0.05)
    raise AssertionError(f"workers not up: {log.read_text(errors='replace')[-3000:]}")


def _lifecycles(database: Any) -> None:
    port = free_port()
    for start in range(STARTS):
        url = database(start)
        process, log = _start(port, url)
        try:
            workers = _serving(process, log, port)
            assert len(workers) == WORKERS, workers
            text = log.read_text(errors="replace")
            for bad in ("crashed", "restarting", "Traceback", " ERROR "):
                assert bad not in text, f"start {start}: {bad!r} in\n{text[-3000:]}"
            if start % 2:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                deadline = time.monotonic() + 5
                while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
                    time.sleep(0.05)
                left = [pid for pid in workers if _alive(pid)]
                assert not left, f"start {start}: workers {left} outlived kill -9 of the parent"
            else:
                process.send_signal(signal.SIGTERM)
                try:
                    code = process.wait(20)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"start {start}: no exit 20 s after SIGTERM:\n"
                                         f"{log.read_text(errors='replace')[-4000:]}") from None
                assert code == 0, log.read_text(errors="replace")[-4000:]
                assert not any(_alive(pid) for pid in workers)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            shutil.rmtree(log.parent, ignore_errors=True)


def test_ten_starts_on_sqlite() -> None:
    _lifecycles(lambda start: None)


def test_ten_starts_on_postgres(pg_server: Any) -> None:
    _lifecycles(lambda start: pg_server.create_database(f"lifecycle_{start}"))
