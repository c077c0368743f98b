"""Which service a request is for: Eucalyptus path, SigV4 scope, X-Amz-Target, Host.

Resolution order: the ``/services/<Name>`` path Eucalyptus clients use; the
``/service/<Target>/operation/<Op>`` path of smithy RPC v2 CBOR; ``X-Amz-Target``;
the SigV4 credential scope (header or presigned query); the Host name
(``iam.example``, ``bucket.s3.example``); the query ``Version`` (SigV2 clients);
otherwise S3, the only REST service on ``/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest

EUCA_PATHS: dict[str, str] = {
    "compute": "ec2",
    "euare": "iam",
    "tokens": "sts",
    "objectstorage": "s3",
    "autoscaling": "autoscaling",
    "cloudwatch": "cloudwatch",
    "cloudformation": "cloudformation",
    "loadbalancing": "elb",
    "properties": "properties",
    "empyrean": "empyrean",
}

# SigV4 signing names -> botocore service names
SCOPE_SERVICES: dict[str, str] = {
    "ec2": "ec2",
    "iam": "iam",
    "sts": "sts",
    "s3": "s3",
    "elasticloadbalancing": "elb",
    "autoscaling": "autoscaling",
    "monitoring": "cloudwatch",
    "cloudformation": "cloudformation",
    "properties": "properties",
    "empyrean": "empyrean",
}

# botocore service names -> SigV4 signing names
SIGNING_NAMES: dict[str, str] = {v: k for k, v in SCOPE_SERVICES.items()}
SIGNING_NAMES["elbv2"] = "elasticloadbalancing"
SIGNING_NAMES["s3control"] = "s3"

# S3 Control (account-level S3 settings): signed for ``s3``, told apart by its path
S3CONTROL_PATH = "/v20180820/"

HOST_PREFIXES: dict[str, str] = {
    "ec2": "ec2",
    "compute": "ec2",
    "iam": "iam",
    "euare": "iam",
    "sts": "sts",
    "tokens": "sts",
    "s3": "s3",
    "objectstorage": "s3",
    "elasticloadbalancing": "elb",
    "loadbalancing": "elb",
    "autoscaling": "autoscaling",
    "monitoring": "cloudwatch",
    "cloudwatch": "cloudwatch",
    "cloudformation": "cloudformation",
    "properties": "properties",
    "empyrean": "empyrean",
}

TARGET_PREFIXES: dict[str, str] = {
    "GraniteServiceVersion20100801": "cloudwatch",
}

QUERY_VERSIONS: dict[str, str] = {
    "2010-05-08": "iam",
    "2011-06-15": "sts",
    "2012-06-01": "elb",
    "2011-01-01": "autoscaling",
    "2010-08-01": "cloudwatch",
    "2010-05-15": "cloudformation",
    "2015-06-01": "properties",
}

SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
CBOR_PATH_RE = re.compile(r"^/service/([^/]+)/operation/[^/]+\Z")
EC2_VERSION_RE = re.compile(r"^20\d\d-\d\d-\d\d\Z")


class UnknownService(AwsError):
    """A request signed for (or targeted at) a service this cloud does not run.

    ``json``: the client speaks a JSON protocol and parses ``{"__type", "message"}``.
    """

    code = "NotImplemented"
    status = 501
    sender_fault = False

    def __init__(self, name: str, *, json: bool) -> None:
        super().__init__(f"The service '{name}' is not available in this cloud.")
        self.service_name = name
        self.json = json


@dataclass(frozen=True)
class Route:
    """The service a request is for and the path its protocol parser must see."""

    service: str
    path: str
    scope_region: str | None = None
    euca_prefix: str = ""
    virtual_host_bucket: str | None = None


def _scope(req: WireRequest) -> tuple[str, str] | None:
    auth = req.header("Authorization") or ""
    match = SCOPE_RE.search(auth)
    if match:
        return match.group(1), match.group(2)
    cred = req.query_value("X-Amz-Credential")
    if cred:
        parts = cred.split("/")
        if len(parts) == 5:
            return parts[2], parts[3]
    return None


def _service_from_version(req: WireRequest, body_params: dict[str, str] | None) -> str | None:
    version = req.query_value("Version") or (body_params or {}).get("Version")
    if not version:
        return None
    if version in QUERY_VERSIONS:
        return QUERY_VERSIONS[version]
    if EC2_VERSION_RE.match(version):
        return "ec2"
    return None


def resolve(req: WireRequest, body_params: dict[str, str] | None = None) -> Route:
    """The route of ``req``; ``body_params`` are form fields of a query POST, if read.

    An S3 request addressed to ``<bucket>.s3.<domain>`` (or ``.objectstorage.``) has
    its bucket moved from the Host into the path, as the rest-xml parser expects.
    """
    route = _resolve(req, body_params)
    if route.service != "s3":
        return route
    if route.path.startswith(S3CONTROL_PATH):
        return Route("s3control", route.path, route.scope_region, route.euca_prefix)
    bucket = s3_host_bucket(req.header("Host") or req.host or "")
    if bucket is None:
        return route
    return Route("s3", "/" + bucket + (route.path if route.path.startswith("/") else "/"),
                 route.scope_region, route.euca_prefix, virtual_host_bucket=bucket)


def s3_host_bucket(host: str) -> str | None:
    """The bucket of a virtual-hosted S3 Host header (``b.s3.example`` -> ``b``), else None."""
    labels = host.split(":", 1)[0].lower().split(".")
    for index, label in enumerate(labels[1:-1], start=1):
        if label in ("s3", "objectstorage"):
            return ".".join(labels[:index])
    return None


def _resolve(req: WireRequest, body_params: dict[str, str] | None = None) -> Route:
    path = req.path
    lowered = path.lower()
    if lowered.startswith("/services/"):
        rest = path[len("/services/"):]
        name, _, tail = rest.partition("/")
        service = EUCA_PATHS.get(name.lower())
        if service is not None:
            scope = _scope(req)
            return Route(service, "/" + tail, scope[0] if scope else None,
                         euca_prefix=path[: len("/services/") + len(name)])
    scope = _scope(req)
    region = scope[0] if scope else None
    match = CBOR_PATH_RE.match(path)
    if match and match.group(1) in TARGET_PREFIXES:
        return Route(TARGET_PREFIXES[match.group(1)], path, region)
    target = req.header("X-Amz-Target")
    if target:
        prefix = target.split(".", 1)[0]
        if prefix in TARGET_PREFIXES:
            return Route(TARGET_PREFIXES[prefix], path, region)
        raise UnknownService(scope[1] if scope else prefix, json=True)
    if scope is not None:
        service = SCOPE_SERVICES.get(scope[1])
        if service is not None:
            if service == "elb" and (req.query_value("Version") or (body_params or {}).get("Version")) == "2015-12-01":
                service = "elbv2"
            return Route(service, path, region)
        content_type = (req.header("Content-Type") or "").lower()
        raise UnknownService(scope[1], json=content_type.startswith(
            ("application/x-amz-json", "application/json", "application/cbor")))
    host = (req.header("Host") or req.host or "").split(":", 1)[0].lower()
    labels = host.split(".")
    for index, label in enumerate(labels[:-1]):
        service = HOST_PREFIXES.get(label)
        if service is not None and (index == 0 or service == "s3"):
            return Route(service, path, region)
    by_version = _service_from_version(req, body_params)
    if by_version is not None:
        return Route(by_version, path, region)
    return Route("s3", path, region)
