"""What one ``cloudctl up`` process is for on its host: its role in a multi-host cloud.

``all`` (the default) is the all-in-one cloud: the AWS APIs, the metadata service and
the controllers. ``api`` serves the APIs and the metadata service and runs no
controller, reconcile loop or other leader-only task: any number of such hosts share
one database. ``controllers`` runs the controllers (and the local node) and serves no
API: requests sent to it are answered 503; only its health check answers.

Controllers start only in a process whose role has them, and only in its first worker
(``Cloud.runs_controllers``); the leader election between controllers hosts sits
behind each controller's ``leader`` callable.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    API = "api"
    CONTROLLERS = "controllers"
    ALL = "all"

    @property
    def serves_api(self) -> bool:
        """The AWS APIs (and the metadata service) answer here."""
        return self is not Role.CONTROLLERS

    @property
    def has_controllers(self) -> bool:
        """The controllers run here (in the first worker)."""
        return self is not Role.API


ROLES = tuple(role.value for role in Role)
