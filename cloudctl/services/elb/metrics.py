"""AWS/ELB metrics from haproxy's counters, published into CloudWatch through its
public api every ``loadbalancing.metrics_interval_sec`` (AWS: 60 s), dimension
``LoadBalancerName`` (and ``AvailabilityZone`` where AWS gives it, not here).

Counters (requests, response classes, connection errors) are cumulative in haproxy:
the published value is the increase since the last sample (a smaller value means a
new worker after a reload: counted from zero). Gauges: HealthyHostCount and
UnHealthyHostCount (the health backend's servers), SurgeQueueLength (requests queued
for a back-end), Latency (haproxy's average back-end response time, seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudctl.services.cloudwatch.api import Datum

COUNTERS = {  # metric -> (row kind, column); row kinds: fe (frontends), be (backends)
    "RequestCount": ("fe", "req_tot"),
    "HTTPCode_Backend_2XX": ("be", "hrsp_2xx"),
    "HTTPCode_Backend_3XX": ("be", "hrsp_3xx"),
    "HTTPCode_Backend_4XX": ("be", "hrsp_4xx"),
    "HTTPCode_Backend_5XX": ("be", "hrsp_5xx"),
    "BackendConnectionErrors": ("be", "econ"),
    "_fe_4xx": ("fe", "hrsp_4xx"),
    "_fe_5xx": ("fe", "hrsp_5xx"),
    "_fe_conn": ("fe", "stot"),
}


def _num(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def totals(rows: list[dict[str, str]]) -> tuple[dict[str, float], dict[str, float]]:
    """(cumulative counters, gauges) of one load balancer from `show stat` rows."""
    counters = dict.fromkeys(COUNTERS, 0.0)
    healthy = unhealthy = queued = 0.0
    latency: list[float] = []
    for row in rows:
        px, sv = row.get("pxname", ""), row.get("svname", "")
        if px == "health" and sv not in ("FRONTEND", "BACKEND"):
            if row.get("status", "").startswith("UP"):
                healthy += 1
            else:
                unhealthy += 1
            continue
        kind = ("fe" if sv == "FRONTEND" and px.startswith("l") else
                "be" if sv == "BACKEND" and px.startswith("be_") else None)
        if kind is None:
            continue
        for metric, (want, column) in COUNTERS.items():
            if want == kind:
                counters[metric] += _num(row.get(column))
        if kind == "be":
            queued += _num(row.get("qcur"))
            if _num(row.get("rtime")) > 0:
                latency.append(_num(row.get("rtime")) / 1000.0)
    gauges = {"HealthyHostCount": healthy, "UnHealthyHostCount": unhealthy,
              "SurgeQueueLength": queued}
    if latency:
        gauges["Latency"] = sum(latency) / len(latency)
    return counters, gauges


@dataclass
class Sampler:
    """The last counters seen a load balancer (in the leader's memory: a restart
    publishes the next interval's increase from the counters it then finds)."""

    last: dict[str, dict[str, float]] = field(default_factory=dict)

    def sample(self, lb_id: str, name: str,
               rows: list[dict[str, str]]) -> list[Datum] | None:
        from cloudctl.services.cloudwatch.api import Datum

        counters, gauges = totals(rows)
        before = self.last.get(lb_id)
        self.last[lb_id] = counters
        if before is None:
            return None
        delta = {k: (v - before[k]) if v >= before[k] else v for k, v in counters.items()}
        http_requests = delta["RequestCount"]
        values = {
            "RequestCount": http_requests or delta["_fe_conn"],
            **{k: delta[k] for k in COUNTERS if not k.startswith("_")
               and k != "RequestCount"},
            "HTTPCode_ELB_4XX": max(0.0, delta["_fe_4xx"] - delta["HTTPCode_Backend_4XX"]),
            "HTTPCode_ELB_5XX": max(0.0, delta["_fe_5xx"] - delta["HTTPCode_Backend_5XX"]),
            **gauges,
        }
        now = datetime.now(UTC)
        dims = (("LoadBalancerName", name),)
        return [Datum("AWS/ELB", metric, dims, now, value=value,
                      unit="Seconds" if metric == "Latency" else "Count")
                for metric, value in sorted(values.items())]
