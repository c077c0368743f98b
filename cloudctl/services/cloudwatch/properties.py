"""Cloud properties of CloudWatch (``cloudwatch.*``)."""

from __future__ import annotations

from cloudctl.properties.registry import PropertyDef, PropertyType, registry

METRIC_STORE = registry.define(PropertyDef(
    "cloudwatch.metric_store", PropertyType.STRING, "embedded",
    "Where metric points live: embedded (the cloud's database) or cassandra.",
    choices=("embedded", "cassandra"),
))
CASSANDRA_CONTACT_POINTS = registry.define(PropertyDef(
    "cloudwatch.cassandra.contact_points", PropertyType.STRING, "127.0.0.1:9042",
    "Comma-separated host:port of Cassandra nodes (metric_store = cassandra).",
))
CASSANDRA_KEYSPACE = registry.define(PropertyDef(
    "cloudwatch.cassandra.keyspace", PropertyType.STRING, "cloudwatch",
    "Keyspace of the metric points in Cassandra (made if missing).",
))
EVALUATION_INTERVAL = registry.define(PropertyDef(
    "cloudwatch.alarm_evaluation_interval_sec", PropertyType.INTEGER, "60",
    "Seconds between alarm evaluations (AWS: every minute).",
    minimum=1, maximum=3600,
))
RETENTION_INTERVAL = registry.define(PropertyDef(
    "cloudwatch.retention_interval_sec", PropertyType.INTEGER, "600",
    "Seconds between runs of the retention sweep of expired points.",
    minimum=1, maximum=86400,
))
COMPACTION_INTERVAL = registry.define(PropertyDef(
    "cloudwatch.compaction_interval_sec", PropertyType.INTEGER, "60",
    "Seconds between compactions of closed metric buckets into packed blocks "
    "(embedded store).",
    minimum=1, maximum=86400,
))
