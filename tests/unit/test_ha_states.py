"""Service states of a multi-host cloud (``empyrean.provider.host_statuses``) and the
idle-transaction bound of its hosts' settings; the live behaviour is in
tests/api/test_failover.py and tests/api/test_failover_three_hosts.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudctl.config import load_settings
from cloudctl.services.empyrean.models import LeaderTerm, ServiceHost
from cloudctl.services.empyrean.provider import host_statuses

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
KIND = "cloudformation"


def _host(name: str, leading: list[str], coordination: str = "ZooKeeper connected",
          age: float = 1.0) -> ServiceHost:
    return ServiceHost(host=name, endpoint=f"http://{name}:8773", state="ENABLED",
                       controllers=[KIND], leading=leading, coordination=coordination,
                       heartbeat=NOW - timedelta(seconds=age), started_at=NOW)


def _states(hosts: list[ServiceHost], term_host: str) -> dict[str, dict[str, object]]:
    term = LeaderTerm(kind=KIND, epoch=7, host=term_host, since=NOW)
    return {s["ServiceId"]["Name"]: s
            for s in host_statuses(hosts, [term], "eucalyptus", NOW)}


def test_leader_and_standbys() -> None:
    states = _states([_host("a", [KIND]), _host("b", [])], "a")
    assert states[f"a.{KIND}"]["LocalState"] == "ENABLED"
    assert states[f"a.{KIND}"]["LocalEpoch"] == 7
    assert states[f"b.{KIND}"]["LocalState"] == "DISABLED"
    assert "ZooKeeper connected" in states["a"]["Details"]


def test_quorum_lost_every_controller_notready_with_why() -> None:
    """The term's row still names ``a``, but no host's heartbeat says it leads."""
    lost = "ZooKeeper unreachable since 08:00:00Z (no quorum, or no server answers)"
    states = _states([_host("a", [], lost), _host("b", [], lost)], "a")
    for name in ("a", "b"):
        status = states[f"{name}.{KIND}"]
        assert status["LocalState"] == "NOTREADY"
        detail = status["Details"][0]
        assert isinstance(detail, str) and detail.startswith("no leader")
        assert "accepted and wait for a leader" in detail and f"a: {lost}" in detail
        assert states[name]["LocalState"] == "ENABLED"  # the API host itself serves


def test_handover_without_leader_says_an_election_is_under_way() -> None:
    states = _states([_host("a", [], age=30), _host("b", [])], "a")
    assert states["a"]["LocalState"] == "NOTREADY"
    assert states[f"b.{KIND}"]["LocalState"] == "NOTREADY"
    assert "election is under way" in str(states[f"b.{KIND}"]["Details"])


def test_idle_transaction_bound(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("CLOUDCTL_ZOOKEEPER", "CLOUDCTL_DB_IDLE_TRANSACTION_TIMEOUT",
                 "CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings(str(tmp_path)).idle_transaction_timeout == 0.0
    monkeypatch.setenv("CLOUDCTL_ZOOKEEPER", "zk1:2181,zk2:2181,zk3:2181")
    monkeypatch.setenv("CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT", "4")
    assert load_settings(str(tmp_path)).idle_transaction_timeout == 8.0
    monkeypatch.setenv("CLOUDCTL_DB_IDLE_TRANSACTION_TIMEOUT", "30")
    assert load_settings(str(tmp_path)).idle_transaction_timeout == 30.0
