"""The run summary's process kinds (tests/processes.py): cloud starts, init, other
cloudctl commands and AWS CLI runs told apart by their argv, and a real process
counted with its time."""

from __future__ import annotations

import os
import sys

from tests import processes
from tests.processes import kind


def test_kinds_from_argv() -> None:
    py = sys.executable
    assert kind([py, "-m", "cloudctl", "up", "--listen", "127.0.0.1:1"]) == "cloudctl up"
    assert kind([py, "-m", "cloudctl", "init", "--zone", "a"]) == "cloudctl init"
    assert kind([py, "-m", "cloudctl", "--endpoint", "http://127.0.0.1:1", "property",
                 "set", "x=1"]) == "cloudctl"
    assert kind([py, "-m", "cloudctl", "--output", "json", "elb", "show"]) == "cloudctl"
    assert kind([py, "tests/infra/fastpoll.py", "-m", "awscli", "s3", "ls"]) == "aws"
    assert kind(["/usr/bin/aws", "s3", "ls"]) == "aws"
    assert kind(["ip", "netns", "list"]) == "ip"
    assert kind(["ip", "-n", "ns1", "link", "show"]) == "ip"
    assert kind(["ip", "netns", "exec", "ns1", "/usr/lib/postgresql/15/bin/postgres", "-D",
                 "/tmp/pg"]) == "ip netns exec postgres"
    assert kind(["ip", "netns", "exec", "ns1", py, "-m", "cloudctl", "up"]) == "cloudctl up"
    assert kind([py, "-c", "1"]) == os.path.basename(py)


def test_a_process_is_counted_with_its_time_once() -> None:
    before = processes.COUNTS["sleep"], processes.SECONDS["sleep"]
    child = processes._CountedPopen(["sleep", "0.2"])
    assert child.wait() == 0 and child.poll() == 0
    assert processes.COUNTS["sleep"] == before[0] + 1
    assert 0.2 <= processes.SECONDS["sleep"] - before[1] < 5
