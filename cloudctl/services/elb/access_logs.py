"""Access logs in the classic ELB format, delivered to S3 every EmitInterval.

haproxy's raw lines (netd rotates them into pending files) become ELB's lines:
``timestamp elb client:port backend:port request_processing_time
backend_processing_time response_processing_time elb_status_code backend_status_code
received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol``, and are
written through S3's public api under AWS's key layout
``<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/YYYY/MM/DD/
<account>_elasticloadbalancing_<region>_<name>_<end>_<ip>_<random>.log``, only when
the bucket policy allows the cloud's ELB log delivery principal (as on AWS; otherwise
the interval's lines are dropped)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"


def _seconds(ms: str) -> str:
    try:
        value = int(ms)
    except ValueError:
        return "-1"
    return "-1" if value < 0 else f"{value / 1000:.6f}"


def _backend(address: str, server: str) -> str:
    return "-" if server in ("<NOSRV>", "-") or address.startswith("-") else address


def convert(raw: str, name: str) -> str | None:
    """One haproxy raw line as an ELB access log line (None: not a request line)."""
    http = raw.startswith("H ")
    parts = raw.rstrip("\n").split(" ", 16 if http else 11)
    if len(parts) < (13 if http else 12) or parts[0] not in ("H", "T"):
        return None
    kind, sec, usec, client, backend, t1, t2, t3, status, server, recv, sent = parts[:12]
    try:
        when = datetime.fromtimestamp(int(sec), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        stamp = f"{when}.{int(usec):06d}Z"
    except ValueError:
        return None
    target = _backend(backend, server)
    if kind == "T":
        return (f"{stamp} {name} {client} {target} {_seconds(t1)} {_seconds(t2)} "
                f"{_seconds(t3)} - - {recv} {sent} \"- - - \" \"-\" - -")
    rest = parts[12:]
    method, uri, version = (rest + ["-", "-", "-"])[:3]
    host = rest[3] if len(rest) > 3 else "-"
    agent = rest[4] if len(rest) > 4 else "-"
    url = uri if uri.startswith("http") else f"http://{host}{uri}"
    backend_status = status if target != "-" else "-"
    return (f"{stamp} {name} {client} {target} {_seconds(t1)} {_seconds(t2)} "
            f"{_seconds(t3)} {status} {backend_status} {recv} {sent} "
            f"\"{method} {url} {version}\" \"{agent}\" - -")


def object_key(prefix: str, account: str, region: str, name: str, end: datetime,
               address: str) -> str:
    head = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return (f"{head}AWSLogs/{account}/elasticloadbalancing/{region}/"
            f"{end:%Y/%m/%d}/{account}_elasticloadbalancing_{region}_{name}_"
            f"{end:%Y%m%dT%H%MZ}_{address}_{secrets.token_hex(4)}.log")


def interval_end(now: float, minutes: int, override_seconds: int = 0) -> int:
    """The end (epoch seconds) of the last interval that has ended at ``now``."""
    step = override_seconds or minutes * 60
    return int(now // step) * step
