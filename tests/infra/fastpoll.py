"""Run a Python client (an Ansible module, the AWS CLI) with its fixed polls shortened.

``amazon.aws``/``community.aws`` modules poll the cloud with fixed sleeps (the Auto
Scaling group module sleeps 10 s between reads of the group, botocore waiters 5-30 s,
retries back off from 3 s), and so do the AWS CLI's waiters (``cloudformation deploy``
sleeps 30 s between reads of the stack): against a cloud on loopback most of such a
run was sleeping. This runs the client with every ``time.sleep`` of 1 s or more scaled
by ``CLOUDCTL_FASTPOLL_SCALE`` (default 0.1). The clients still poll until the cloud
shows what they wait for; they only look more often.

Usage: ``python fastpoll.py -m module args...``, ``python fastpoll.py script args...``
(how Ansible runs a module's AnsiballZ script), or ``python fastpoll.py`` with the
script on standard input (Ansible's pipelining).
"""

from __future__ import annotations

import os
import runpy
import sys
import time

_sleep = time.sleep
_SCALE = float(os.environ.get("CLOUDCTL_FASTPOLL_SCALE", "0.1"))


def _scaled_sleep(seconds: float) -> None:
    _sleep(seconds * _SCALE if seconds >= 1 else seconds)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    # run as a script, this directory heads sys.path: its modules (postgres, ceph...)
    # must not shadow the client's imports
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    time.sleep = _scaled_sleep
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args:
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")
    else:
        source = sys.stdin.read()
        exec(compile(source, "<stdin>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main()
