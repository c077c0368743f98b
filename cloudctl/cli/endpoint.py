"""Where the running cloud's API listens, as the admin CLI finds it.

``cloudctl up`` records its endpoint in ``<data>/endpoint`` (``record``); the CLI
takes ``--endpoint``, else ``CLOUDCTL_ENDPOINT``, else that record, else the
default port on loopback (``resolve``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cloudctl.config import DEFAULT_PORT, Settings

__all__ = ["DEFAULT_ENDPOINT", "endpoint_file", "forget", "record", "resolve"]

DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"


def endpoint_file(settings: Settings) -> Path:
    return settings.data_dir / "endpoint"


def record(settings: Settings, endpoint: str) -> None:
    """Write the endpoint for later CLI calls (atomically: a reader sees old or new)."""
    path = endpoint_file(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(endpoint + "\n")
    os.replace(tmp, path)


def forget(settings: Settings, endpoint: str) -> None:
    """Remove the record if it is still ours (another ``up`` may have replaced it)."""
    with contextlib.suppress(OSError):
        if endpoint_file(settings).read_text().strip() == endpoint:
            endpoint_file(settings).unlink()


def resolve(settings: Settings, cli_value: str | None) -> str:
    """``--endpoint``, else ``CLOUDCTL_ENDPOINT``, else ``<data>/endpoint``, else the default."""
    if cli_value:
        return cli_value.rstrip("/")
    env = os.environ.get("CLOUDCTL_ENDPOINT")
    if env:
        return env.rstrip("/")
    with contextlib.suppress(OSError):
        recorded = endpoint_file(settings).read_text().strip()
        if recorded:
            return recorded.rstrip("/")
    return DEFAULT_ENDPOINT
