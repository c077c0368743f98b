"""Data that PutMetricData's fast checks must leave to the full check (shared by the
datum-check and ingest-row tests): each differs from a usual datum in one respect."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def unusual_data(oldest: datetime, newest: datetime,
                 dims: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Data outside the usual datum (``oldest``/``newest``: the accepted time window;
    ``dims``: two valid dimensions)."""
    return [
        {"MetricName": "M", "Value": float("nan")},
        {"MetricName": "M", "Value": 2.0 ** 361},
        {"MetricName": "M", "Value": 2.0 ** -361},
        {"MetricName": "M", "Value": 1},  # not a float: the full check converts it
        {"MetricName": "", "Value": 1.0},
        {"MetricName": "M", "Value": 1.0, "Unit": "Furlongs"},
        {"MetricName": "M", "Value": 1.0, "Timestamp": oldest - timedelta(seconds=1)},
        {"MetricName": "M", "Value": 1.0, "Timestamp": newest + timedelta(seconds=1)},
        {"MetricName": "M", "Value": 1.0, "Timestamp": datetime(2026, 12, 5, 6)},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [dims[0], dims[0]]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "Host", "Value": ""}]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "H", "Value": "v"}] * 31},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "H", "Value": "v" * 1025}]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "H" * 256, "Value": "v"}]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "", "Value": "v"}]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Value": "v"}]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "H"}]},
        {"MetricName": "M", "Value": 1.0, "Dimensions": [dims[0], {"Name": "H"}]},
        {"MetricName": "M", "Value": 1.0, "StorageResolution": 1},
        {"MetricName": "M", "Values": [1.0]},
        {"MetricName": "M", "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0,
                                                "Minimum": 1.0, "Maximum": 1.0}},
    ]
