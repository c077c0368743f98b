"""Cloud properties of instance monitoring (the metrics collector's periods)."""

from __future__ import annotations

from cloudctl.properties.registry import PropertyDef, PropertyType, registry

__all__ = ["BASIC_PERIOD", "DETAILED_PERIOD"]

BASIC_PERIOD = registry.define(PropertyDef(
    "cloud.monitoring.basic_period_sec", PropertyType.INTEGER, "300",
    "Seconds between AWS/EC2 datapoints of an instance with basic monitoring (AWS: 300).",
    minimum=1, maximum=3600,
))
DETAILED_PERIOD = registry.define(PropertyDef(
    "cloud.monitoring.detailed_period_sec", PropertyType.INTEGER, "60",
    "Seconds between AWS/EC2 datapoints of an instance with detailed monitoring "
    "(MonitorInstances; AWS: 60), and between samples of every node's guests (status "
    "checks, AWS/EBS). Values below 60 are for tests only.",
    minimum=1, maximum=300,
))
