"""Core property definitions of the front door; features add theirs beside their code."""

from __future__ import annotations

import re
from typing import Any

from cloudctl.properties.registry import PropertyDef, PropertyError, PropertyType, registry

REGION_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}\Z")


def _region_name(value: Any) -> None:
    if value and not REGION_RE.match(str(value)):
        raise PropertyError("region name: lower-case letters, digits and hyphens, 1-63 characters")


WEBSERVICE_PORT = registry.define(PropertyDef(
    "bootstrap.webservices.port", PropertyType.INTEGER, "8773",
    "Port the API listens on (takes effect at the next start).", minimum=1, maximum=65535,
))
CLOCK_SKEW = registry.define(PropertyDef(
    "bootstrap.webservices.clock_skew_sec", PropertyType.INTEGER, "900",
    "Largest difference in seconds between a request's timestamp and the cloud's clock.",
    minimum=0, maximum=86400,
))
MAX_REQUEST_BYTES = registry.define(PropertyDef(
    "bootstrap.webservices.max_request_bytes", PropertyType.INTEGER, "2097152",
    "Largest non-streaming request body accepted by the query, JSON and CBOR APIs.",
    minimum=1024, maximum=1 << 30,
))
MAX_QUERY_BYTES = registry.define(PropertyDef(
    "bootstrap.webservices.max_query_bytes", PropertyType.INTEGER, "65536",
    "Largest query string accepted.", minimum=1024, maximum=1 << 20,
))
REGION_NAME = registry.define(PropertyDef(
    "region.region_name", PropertyType.STRING, "eucalyptus",
    "Name of this cloud's region.", validator=_region_name,
))
LOG_REQUESTS = registry.define(PropertyDef(
    "bootstrap.webservices.log_requests", PropertyType.BOOLEAN, "true",
    "Log one line per API request (service, operation, caller, status, time).",
))
HEADER_TIMEOUT = registry.define(PropertyDef(
    "bootstrap.webservices.header_timeout_sec", PropertyType.INTEGER, "20",
    "Seconds a client has to send a request's line and headers, counted from the connection "
    "or from the first byte of the request; slower connections are closed.",
    minimum=1, maximum=3600,
))
BODY_IDLE_TIMEOUT = registry.define(PropertyDef(
    "bootstrap.webservices.body_idle_timeout_sec", PropertyType.INTEGER, "20",
    "Seconds a request body may stall (no byte received while the server waits for one) "
    "before the request fails with RequestTimeout and the connection is closed.",
    minimum=1, maximum=3600,
))
KEEPALIVE_TIMEOUT = registry.define(PropertyDef(
    "bootstrap.webservices.keepalive_timeout_sec", PropertyType.INTEGER, "60",
    "Seconds an idle keep-alive connection stays open between requests.",
    minimum=1, maximum=3600,
))
