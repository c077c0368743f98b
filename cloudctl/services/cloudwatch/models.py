"""CloudWatch tables: the metric catalog, the rolled-up points of the embedded store,
alarms with their history and action outbox, and dashboards.

Points are kept per metric (a hash of account, region, namespace, name and the sorted
dimensions: ``CwMetric.key``), resolution (1, 60, 300 or 3600 seconds), bucket start
(epoch seconds) and unit: one row a bucket, merged on ingest (count, sum, min, max and,
where AWS keeps them, the raw values as ``value*count`` text for percentiles); closed
buckets are compacted into ``CwBlock`` rows of packed arrays (``blocks``). Alarm
actions are written as intent (``CwAlarmAction`` rows, in the transaction that records
the transition) before they are carried out, and marked done after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow

AutoId = BigInteger().with_variant(Integer(), "sqlite")


class CwMetric(RegionalMixin, Base):
    """A metric: one namespace, name and dimension set of an account in a region."""

    __tablename__ = "cw_metrics"
    __table_args__ = (Index("ix_cw_metrics_lookup", "account_id", "region", "namespace",
                            "name"),)

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    dimensions: Mapped[str] = mapped_column(Text, default="[]")  # JSON [[name, value]...]
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class _Bucket:
    """The columns of one bucket of one metric at one resolution: its key (metric,
    resolution, bucket start in epoch seconds, unit), the statistics, and where AWS keeps
    them the raw values as ``value*count`` text (``raw``: percentiles available)."""

    metric_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    resolution: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    vals: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bool] = mapped_column(Boolean, default=True)


class CwPoint(_Bucket, Base):
    """One bucket of one metric at one resolution, rolled up (since 0038 written by
    compaction from ``CwFresh`` rows; before, by ingest at every resolution), until
    compaction moves it, closed, into its block."""

    __tablename__ = "cw_points"
    __table_args__ = (Index("ix_cw_points_age", "resolution", "ts"),)


class CwFresh(_Bucket, Base):
    """A finest bucket (1 s or 1 min) as PutMetricData wrote it, not yet rolled up: the
    embedded store's ingest writes only these (merged on ingest, one row a bucket, or
    on SQLite one a few-second part of a 1-minute bucket: ``ingest.PART``, drained from
    the ingest log, ``CwIngest``);
    compaction moves each into the blocks of its own resolution and merges it into the
    ``CwPoint`` rows of every coarser one still retained (the roll-up); reads of a
    resolution fold in the rows of finer ones still here. Small (a few minutes of data),
    so no index beyond the key; on SQLite ``WITHOUT ROWID`` (the key is the table: one b-tree written a new bucket)."""

    __tablename__ = "cw_fresh"
    __table_args__ = ({"sqlite_with_rowid": False},)


class CwIngest(Base):
    """A group commit's usual PutMetricData data on SQLite, packed (``ingestlog``):
    appended, then drained into ``CwFresh`` rows; read with them until drained."""

    __tablename__ = "cw_ingest"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # ``ingestlog.pack``


class CwBlock(Base):
    """``blocks.SLOTS`` compacted buckets of one metric, resolution and unit from
    ``start`` (epoch seconds): packed float64 arrays (the embedded store's history)."""

    __tablename__ = "cw_blocks"
    __table_args__ = (Index("ix_cw_blocks_age", "resolution", "start"),)

    metric_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    resolution: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[bytes] = mapped_column(LargeBinary)
    sum: Mapped[bytes] = mapped_column(LargeBinary)
    min: Mapped[bytes] = mapped_column(LargeBinary)
    max: Mapped[bytes] = mapped_column(LargeBinary)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # one byte a slot: raw values kept
    vals: Mapped[str] = mapped_column(Text, default="{}")  # JSON {slot: "v*c,..."}


class CwAlarm(RegionalMixin, Base):
    """A metric or composite alarm with its state."""

    __tablename__ = "cw_alarms"
    __table_args__ = (UniqueConstraint("account_id", "region", "name",
                                       name="uq_cw_alarms_name"),
                      Index("ix_cw_alarms_metric", "account_id", "region", "namespace",
                            "metric_name"))

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    arn: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # MetricAlarm | CompositeAlarm
    definition: Mapped[str] = mapped_column(Text)  # JSON of the Put*Alarm parameters
    namespace: Mapped[str | None] = mapped_column(String(255), nullable=True)
    metric_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dimensions: Mapped[str | None] = mapped_column(Text, nullable=True)
    actions_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(20), default="INSUFFICIENT_DATA")
    state_reason: Mapped[str] = mapped_column(Text, default="Unchecked: Initial alarm creation")
    state_reason_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    state_transitioned: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    config_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    transitions: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[int] = mapped_column(BigInteger, default=0)  # epoch s of last run
    tags: Mapped[str] = mapped_column(Text, default="{}")


class CwAlarmHistory(RegionalMixin, Base):
    """One alarm history item (configuration update, state update, action)."""

    __tablename__ = "cw_alarm_history"
    __table_args__ = (Index("ix_cw_alarm_history_alarm", "account_id", "region",
                            "alarm_name", "timestamp"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    alarm_name: Mapped[str] = mapped_column(String(255))
    alarm_type: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    item_type: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")


class CwAlarmAction(Base):
    """An action owed for one transition of an alarm (the intent), then its outcome."""

    __tablename__ = "cw_alarm_actions"
    __table_args__ = (UniqueConstraint("alarm_id", "transition", "action",
                                       name="uq_cw_alarm_actions_once"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(BigInteger, index=True)
    transition: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    result: Mapped[str] = mapped_column(Text, default="")


class CwDashboard(RegionalMixin, Base):
    """A dashboard body (JSON text) of an account."""

    __tablename__ = "cw_dashboards"
    __table_args__ = (UniqueConstraint("account_id", "region", "name",
                                       name="uq_cw_dashboards_name"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


CLOUDWATCH_TABLES = (CwMetric, CwPoint, CwFresh, CwIngest, CwBlock, CwAlarm, CwAlarmHistory, CwAlarmAction, CwDashboard)
