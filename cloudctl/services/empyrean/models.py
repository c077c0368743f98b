"""Empyrean's tables: the cloud's hosts (the service registry) and leadership terms.

``service_hosts``: one row per cloud host (``CLOUDCTL_HOST_ID``), written by its
controller process every few seconds (``heartbeat``) with the controller kinds it
stands for and leads, and how it reaches the ZooKeeper ensemble (``coordination``);
``state`` is the administrator's ENABLED/DISABLED (NOTREADY is read off a
stale heartbeat, never stored). ``leader_terms``: the current leader of each
controller kind and its epoch (``cloudctl.core.terms`` claims, ``cloudctl.core.fencing``
checks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime


class ServiceHost(Base):
    __tablename__ = "service_hosts"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(512), default="")
    state: Mapped[str] = mapped_column(String(16), default="ENABLED")
    controllers: Mapped[list[str]] = mapped_column(JSON, default=list)
    leading: Mapped[list[str]] = mapped_column(JSON, default=list)  # as its process saw
    # how its controller process reaches the ZooKeeper ensemble ("" embedded)
    coordination: Mapped[str] = mapped_column(String(255), default="", server_default="")
    heartbeat: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LeaderTerm(Base):
    __tablename__ = "leader_terms"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    host: Mapped[str] = mapped_column(String(255), default="")
    since: Mapped[datetime] = mapped_column(UtcDateTime())


EMPYREAN_TABLES = (ServiceHost, LeaderTerm)
