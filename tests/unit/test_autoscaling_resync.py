"""The group controller's periodic resync lists only the groups it could have work for:
a group at rest (desired 0, no instances, no scheduled action, no metrics, no instance
refresh under way, not being deleted) is left to the API calls that wake it. With 500
idle groups the resync otherwise cost a third of a core."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cloudctl.services.autoscaling.controller import GroupController, at_rest
from cloudctl.services.autoscaling.models import AsGroup, AsInstance, AsScheduledAction

REST = {"EnabledMetrics": [], "InstanceRefreshes": [], "Tags": []}


def _group(name: str, desired: int = 0, status: str = "", **settings: Any) -> AsGroup:
    return AsGroup(arn=f"arn:{name}", account_id="123456789012", region="r", name=name,
                   definition=json.dumps(dict(REST, **settings)), min_size=0, max_size=4,
                   desired=desired, status=status)


def test_at_rest() -> None:
    assert at_rest(json.dumps(REST))
    assert at_rest("{}")
    assert not at_rest(json.dumps(dict(REST, EnabledMetrics=[{"Metric": "GroupMinSize"}])))
    assert not at_rest(json.dumps(dict(REST, InstanceRefreshes=[{"Status": "InProgress"}])))
    assert at_rest(json.dumps(dict(REST, InstanceRefreshes=[{"Status": "Successful"}])))


def test_resync_lists_only_groups_with_work() -> None:
    async def scenario() -> list[str]:
        engine = create_async_engine("sqlite+aiosqlite://")
        async with engine.begin() as conn:
            for model in (AsGroup, AsInstance, AsScheduledAction):
                await conn.run_sync(model.__table__.create)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            session.add_all([
                _group("idle"), _group("wanted", desired=2), _group("deleting", status="x"),
                _group("manned"), _group("scheduled"), _group("scheduled-done"),
                _group("measured", EnabledMetrics=[{"Metric": "GroupMinSize"}]),
                _group("refreshing", InstanceRefreshes=[{"Status": "Pending"}]),
                AsInstance(token="t1", group_arn="arn:manned", group_name="manned",
                           zone="z", lifecycle_state="InService", region="r",
                           account_id="123456789012"),
                AsScheduledAction(arn="arn:s1", account_id="123456789012", region="r",
                                  group_name="scheduled", name="s", definition="{}",
                                  next_run=datetime(2030, 1, 1, tzinfo=UTC)),
                AsScheduledAction(arn="arn:s2", account_id="123456789012", region="r",
                                  group_name="scheduled-done", name="s", definition="{}",
                                  next_run=None)])
        controller = GroupController(SimpleNamespace(sessions=sessions))  # type: ignore[arg-type]
        keys = await controller.list_keys()
        await engine.dispose()
        return sorted(keys)

    assert asyncio.run(scenario()) == ["arn:deleting", "arn:manned", "arn:measured",
                                       "arn:refreshing", "arn:scheduled", "arn:wanted"]
