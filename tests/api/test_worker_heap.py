"""A serving worker's startup heap is out of the cycle collector's reach, and its
youngest generation is collected far less often than CPython's default.

Every object alive when a worker starts serving (modules, botocore's service models,
the services' tables) is frozen (``cloudctl.server.memory.freeze_startup_heap``): a full
collection walked ~250,000 of them, ~180 ms of CPU each time, while every request in
flight waited. The worker is asked through a ``sitecustomize`` put on its path for this
test: on SIGUSR2 it writes how many objects are frozen and how many the collector still
tracks, and times a full collection.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import textwrap
from pathlib import Path

import pytest

from cloudctl.server import memory
from tests.support import new_cloud, wait_for

PROBE = textwrap.dedent('''
    import gc, json, os, signal, time

    def _report(_signum, _frame):
        began = time.perf_counter()
        gc.collect()
        took = time.perf_counter() - began
        with open(os.environ["HEAP_PROBE_OUT"], "w") as out:
            json.dump({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                       "collect_s": took, "threshold": gc.get_threshold()}, out)

    signal.signal(signal.SIGUSR2, _report)
''')


def test_a_serving_worker_froze_its_startup_heap(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE)
    out = tmp_path / "heap.json"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(probe), os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.setenv("HEAP_PROBE_OUT", str(out))
    cloud = new_cloud()
    cloud.init()
    cloud.start()  # one worker: the process itself
    try:
        cloud.client("sts").get_caller_identity()
        assert cloud.process is not None
        os.kill(cloud.process.pid, signal.SIGUSR2)
        # the probe creates the file, then writes it: wait for the whole answer
        wait_for(lambda: out.exists() and out.read_text().endswith("}"), 10,
                 "the probe's answer")
        heap = json.loads(out.read_text())
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
    print(heap)
    # most of the worker's objects are frozen; what the collector walks is what came after
    assert heap["frozen"] > 100_000, heap
    assert heap["tracked"] < heap["frozen"] / 2, heap
    # and its youngest generation is collected every 20,000 allocations, not every 700
    assert heap["threshold"][0] == memory.YOUNG_COLLECTION_EVERY, heap
