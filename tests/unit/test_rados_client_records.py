"""Which recorded RADOS clients are judged dead (storagectl.clientrecords), without Ceph.

The fencing itself, against a real cluster, is tests/integration/test_rados_takeover.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from storagectl.clientrecords import ClientRecord, boot_id, entity_addr, is_dead, process_start


def _record(**changes: object) -> ClientRecord:
    started = process_start(os.getpid())
    assert started is not None
    fields: dict[str, object] = {
        "host": socket.gethostname(), "boot_id": boot_id(), "pid": os.getpid(),
        "started": started[1], "fsid": "f", "client_name": "client.storagectl",
        "addr": "127.0.0.1:0/1"}
    return ClientRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_blocklist_form_of_a_client_address() -> None:
    assert entity_addr("127.0.0.1:0/1271010441") == "127.0.0.1:0/1271010441"
    assert entity_addr("[v2:10.0.0.5:0/77,v1:10.0.0.5:0/77]") == "10.0.0.5:0/77"
    assert entity_addr("v2:[fd00::1]:0/9") == "[fd00::1]:0/9"
    assert entity_addr("") is None


def test_a_live_process_is_not_dead_this_one_included() -> None:
    assert not is_dead(_record())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            started = process_start(child.pid)
            assert started is not None
            assert not is_dead(_record(pid=child.pid, started=started[1]))
        finally:
            child.kill()


def test_a_gone_reaped_zombie_or_reused_process_is_dead() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        started = process_start(child.pid)
        assert started is not None
        child.kill()
        # killed, not reaped yet: a zombie holds no sockets
        while (seen := process_start(child.pid)) is not None and seen[0] != "Z":
            time.sleep(0.01)
        assert is_dead(_record(pid=child.pid, started=started[1]))
        child.wait()
        assert is_dead(_record(pid=child.pid, started=started[1]))
    # this process's pid, but an earlier process's start time: the pid was reused
    assert is_dead(_record(started="1"))
    assert is_dead(_record(boot_id="an-earlier-boot"))


def test_a_client_of_another_host_is_never_judged_dead_here() -> None:
    assert not is_dead(_record(host=f"not-{socket.gethostname()}", pid=2 ** 22 + 1,
                               boot_id="another-boot"))
