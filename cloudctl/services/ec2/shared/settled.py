"""Watchers of EC2 resources reaching a new state in this process: the instance
controller's state changes (``running``...), the block reconciler's volume states
(``available``...), told to whoever registered (another service, through
``ec2.api.watch_states``) right after the change is committed.

A hint only: a watcher learns of changes made in its own process, so whoever waits on
a resource still looks at it now and then (the change may be made on another host, or
before the watcher registered). Watchers are called on the event loop and must not
block; one that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.ec2.settled")

Watcher = Callable[[str, str], None]  # (resource id, its new state)
WATCHERS: RuntimeKey[list[Watcher]] = RuntimeKey("ec2.state_watchers")


def watch(cloud: Cloud, watcher: Watcher) -> None:
    """Call ``watcher(resource_id, state)`` at each state change made in this process."""
    watchers = cloud.runtime.setdefault(WATCHERS, list)
    if watcher not in watchers:
        watchers.append(watcher)


def changed(cloud: Cloud, resource_id: str, state: str) -> None:
    """``resource_id`` is now in ``state`` (committed): tell the watchers."""
    for watcher in cloud.runtime.get(WATCHERS) or ():
        try:
            watcher(resource_id, state)
        except Exception:
            log.exception("watcher of %s failed", resource_id)
