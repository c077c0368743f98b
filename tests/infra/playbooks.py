"""Running ``ansible-playbook`` against a live cloud, as the Ansible tests do."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import LiveCloud

_FASTPOLL = Path(__file__).with_name("fastpoll.py")


def _interpreter() -> str:
    """An executable that Ansible runs modules with: this Python, through
    ``tests.infra.fastpoll`` (the modules' fixed sleeps scaled down)."""
    path = Path(tempfile.gettempdir()) / f"cloudctl-ansible-python-{os.getuid()}"
    script = f'#!/bin/sh\nexec "{sys.executable}" "{_FASTPOLL}" "$@"\n'
    if not path.exists() or path.read_text() != script:
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(script)
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        tmp.replace(path)
    return str(path)


def ansible_env(cloud: LiveCloud, **extra: str) -> dict[str, str]:
    """The environment of ``ansible-playbook`` against ``cloud`` (its admin's keys)."""
    return {**os.environ, "AWS_ACCESS_KEY_ID": cloud.access_key,
            "AWS_SECRET_ACCESS_KEY": cloud.secret_key, "AWS_DEFAULT_REGION": cloud.region,
            "ANSIBLE_PYTHON_INTERPRETER": _interpreter(), "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False", **extra}


def run_playbook(cloud: LiveCloud, playbook: Path, timeout: float = 600,
                 **extra: str) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook -i localhost, playbook`` against ``cloud``, output captured."""
    return subprocess.run(["ansible-playbook", "-i", "localhost,", str(playbook)],
                          env=ansible_env(cloud, **extra), capture_output=True, text=True,
                          timeout=timeout)
