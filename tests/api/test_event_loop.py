"""The API processes' event loop: uvloop by default, asyncio's own on request
(``cloudctl up --event-loop``, ``CLOUDCTL_EVENT_LOOP``), and no silent fallback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import LiveCloud, new_cloud


def _worker_pid(cloud: LiveCloud) -> int:
    with urllib.request.urlopen(f"{cloud.endpoint}/_cloud/health", timeout=10) as answer:
        return int(json.loads(answer.read())["pid"])


def _maps_uvloop(pid: int) -> bool:
    """Whether the process has uvloop's extension module mapped (its loop in C)."""
    return "/uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


def test_the_default_cloud_serves_on_uvloop(sqlite_cloud: LiveCloud) -> None:
    pid = _worker_pid(sqlite_cloud)
    assert _maps_uvloop(pid)
    assert f"[{pid}] worker 0 (pid {pid}, role all, event loop uvloop) serving" \
        in sqlite_cloud.log_path.read_text()
    sts = sqlite_cloud.client("sts")
    assert sts.get_caller_identity()["Account"] == sqlite_cloud.account_id


def test_asyncios_own_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDCTL_EVENT_LOOP", "asyncio")
    cloud = new_cloud()
    try:
        cloud.start(workers=2)
        pids = {_worker_pid(cloud) for _ in range(8)}
        for pid in pids:
            assert not _maps_uvloop(pid)
        log = cloud.log_path.read_text()
        assert log.count("event loop asyncio) serving") == 2, log
        assert "event loop uvloop" not in log
        sts = cloud.client("sts")
        assert sts.get_caller_identity()["Account"] == cloud.account_id
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
    assert cloud.process is not None and cloud.process.returncode == 0


def test_uvloop_asked_for_and_missing_stops_with_a_message(tmp_path: Path) -> None:
    """uvloop not importable (a module of that name that raises ImportError first on the
    path, as an uninstalled package would): ``cloudctl up`` says so and exits, before it
    binds or initialises anything."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "uvloop.py").write_text("raise ImportError(\"No module named 'uvloop'\")\n")
    data = tmp_path / "data"
    env = {**os.environ, "CLOUDCTL_DATA_DIR": str(data),
           "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    env.pop("CLOUDCTL_EVENT_LOOP", None)
    for extra in ([], ["--event-loop", "uvloop"]):
        done = subprocess.run([sys.executable, "-m", "cloudctl", "up", "--listen",
                               "127.0.0.1:1", "--node", "fake", *extra],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert "uvloop" in done.stderr and "cannot be imported" in done.stderr, done.stderr
        assert "--event-loop asyncio" in done.stderr
        assert not (data / "cloud.db").exists()  # nothing initialised
    done = subprocess.run([sys.executable, "-m", "cloudctl", "up", "--event-loop", "libev"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice" in done.stderr
