"""The Python that runs the Ansible modules of the tests, with their polls shortened.

``amazon.aws``/``community.aws`` modules poll the cloud with fixed sleeps (the
Auto Scaling group module sleeps 10 s between reads of the group, botocore waiters
15 s, retries back off from 3 s): against a cloud on loopback most of a playbook's time
was those sleeps. This runs the module (AnsiballZ's script, the argument, or the
script on standard input when Ansible pipelines) with every ``time.sleep`` of 1 s or
more scaled by ``CLOUDCTL_ANSIBLE_SLEEP_SCALE`` (default 0.1). The modules still poll
until the cloud shows what they wait for; they only look more often.
"""

from __future__ import annotations

import os
import runpy
import sys
import time

_sleep = time.sleep
_SCALE = float(os.environ.get("CLOUDCTL_ANSIBLE_SLEEP_SCALE", "0.1"))


def _scaled_sleep(seconds: float) -> None:
    _sleep(seconds * _SCALE if seconds >= 1 else seconds)


def main() -> None:
    time.sleep = _scaled_sleep
    if len(sys.argv) > 1:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        source = sys.stdin.read()
        exec(compile(source, "<stdin>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main()
