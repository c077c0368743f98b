"""A ``nodectl agent`` process as an operator starts one on a hypervisor host: its argv
(listen address, state directory, the cloud CA and the host's certificate, driver, name)
and a start that waits until it listens."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloudctl.pki import CertPaths


def agent_argv(listen: str, state: Path, ca: Path, certs: CertPaths, name: str,
               driver: str = "fake", *extra: str) -> list[str]:
    """``python -m nodectl.cli agent ...``; ``extra``: further flags (``--libvirt-uri``,
    ``--stop-grace``, ``--bundle-key``...)."""
    return [sys.executable, "-m", "nodectl.cli", "agent", "--listen", listen,
            "--state", str(state), "--ca", str(ca), "--cert", str(certs.cert),
            "--key", str(certs.key), "--driver", driver, "--name", name, *extra]


def start_agent(argv: list[str], log: Path, timeout: float = 60,
                **popen: Any) -> subprocess.Popen[bytes]:
    """Run ``argv`` (``prefix`` it with ``ip netns exec NS`` to start it in a namespace)
    with its output appended to ``log``; return once it logs that it listens."""
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **popen)
    deadline = time.monotonic() + timeout
    while "listening on" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
                process.wait()
            raise RuntimeError(f"nodectl agent did not start: "
                               f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return process
