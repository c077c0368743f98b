"""Model-driven request generators: valid random inputs and 2,000+ malformed requests.

Owns two things the protocol tests (and later the live-server tests) replay:

* ``random_value(shape, rng, where)``: random *valid* data for any botocore shape
  (constraints, enums, unions, location-safe strings), used for round trips;
* ``generate_cases()``: malformed requests derived from the models (unknown
  actions, missing required members, wrong types, enum and range violations,
  garbage / truncated / hostile bodies in XML, JSON and CBOR, bad percent and
  UTF-8 encodings, oversized inputs). Each ``FuzzCase`` carries method, path, raw
  query, headers and body, so it can be sent over HTTP as well as fed to a codec
  through ``to_wire()``. Every case is one a correct server must answer with 4xx.

Requests are built with botocore's own serializers, so only the mutation is ours.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import botocore.serialize
import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from cloudctl.protocol.wire import WireRequest

SERVICES = [
    "ec2", "iam", "sts", "s3", "elb", "elbv2", "autoscaling", "cloudwatch",
    "cloudformation", "dynamodb", "logs", "sqs", "sns", "kms", "route53",
]  # fmt: skip

_TEXT = string.ascii_letters + string.digits + " -_.:/&<>\"'%+=,;é中"
_SAFE = string.ascii_lowercase + string.digits
_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)

_session = botocore.session.get_session()
_models: dict[str, ServiceModel] = {}


def model(service: str) -> ServiceModel:
    if service not in _models:
        _models[service] = _session.get_service_model(service)
    return _models[service]


def protocols(service: str) -> list[str]:
    meta = model(service).metadata
    return list(meta.get("protocols") or [meta["protocol"]])


@dataclass(frozen=True)
class FuzzCase:
    """One request to replay; ``kind`` says what is wrong with it."""

    service: str
    protocol: str
    operation: str
    kind: str
    method: str
    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def to_wire(self) -> WireRequest:
        return WireRequest(self.method, self.path, self.query, dict(self.headers), self.body)


# ------------------------------------------------------------------ valid data
def _string(rng: random.Random, shape: Shape, where: str) -> str:
    enum = getattr(shape, "enum", None)
    if enum:
        return str(rng.choice(enum))
    lo = max(int(shape.metadata.get("min", 1)), 1)
    hi = min(int(shape.metadata.get("max", 10)), lo + 9)
    alphabet = _SAFE if where in ("uri", "header") else _TEXT
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, max(lo, hi))))


def random_value(shape: Shape, rng: random.Random, where: str = "body", depth: int = 0) -> Any:
    """A random valid value; ``where`` is body, uri, header or querystring."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if shape.is_document_type:
            return {"doc": [1, "two"]}
        members = {
            name: member
            for name, member in shape.members.items()
            if not member.serialization.get("eventstream")
            and not getattr(member, "is_document_type", False)
        }
        if getattr(shape, "is_tagged_union", False):
            if not members:
                return {}
            name = rng.choice(sorted(members))
            return {name: random_value(members[name], rng, where, depth + 1)}
        out: dict[str, Any] = {}
        required = set(shape.required_members)
        chance = 0.6 if depth < 3 else 0.0
        for name, member in members.items():
            if name in required or rng.random() < chance:
                loc = str(member.serialization.get("location") or where)
                if member.serialization.get("hostLabel"):
                    loc = "uri"
                out[name] = random_value(member, rng, loc, depth + 1)
        if not out and members and depth < 5:
            # an empty structure does not exist on the query wire: set one member
            name = rng.choice(sorted(members))
            member = members[name]
            loc = str(member.serialization.get("location") or where)
            if not member.serialization.get("hostLabel") and loc != "uri":
                out[name] = random_value(member, rng, loc, depth + 1)
        return out
    if kind == "list":
        lo = max(int(meta.get("min", 0)), 1)
        hi = min(int(meta.get("max", 3)), max(lo, 3) if depth < 4 else lo)
        count = rng.randint(lo, max(lo, hi))
        return [random_value(shape.member, rng, where, depth + 1) for _ in range(count)]
    if kind == "map":
        lo = max(int(meta.get("min", 0)), 1)
        count = rng.randint(lo, max(lo, 2 if depth < 4 else 1))
        key_where = "header" if where == "headers" else "uri"
        return {
            random_value(shape.key, rng, key_where, depth + 1): random_value(
                shape.value, rng, "header" if where == "headers" else where, depth + 1
            )
            for _ in range(count)
        }
    if kind in ("string", "character"):
        if shape.serialization.get("jsonvalue"):
            return {"k": [1, "v"]}
        return _string(rng, shape, where)
    if kind in ("integer", "long"):
        lo = int(meta.get("min", 0))
        hi = int(meta.get("max", lo + 100000))
        return rng.randint(lo, max(lo, min(hi, lo + 100000)))
    if kind in ("float", "double"):
        lo = float(meta.get("min", 0))
        hi = float(meta.get("max", lo + 1000))
        return round(rng.uniform(lo, min(hi, lo + 1000)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "timestamp":
        return _EPOCH + timedelta(seconds=rng.randint(0, 900_000_000))
    if kind == "blob":
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    return None


# ---------------------------------------------------------------- requests
def serialize(service: str, protocol: str, op: OperationModel, params: dict[str, Any]) -> FuzzCase:
    """A request built by botocore's serializer for ``protocol``."""
    ser = botocore.serialize.create_serializer(protocol, include_validation=False)
    req = ser.serialize_to_request(params, op)
    body = req["body"]
    if isinstance(body, dict):
        body = urlencode(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    query = req["query_string"]
    if isinstance(query, dict):
        query = urlencode(query, doseq=True)
    headers = {k: str(v) for k, v in req["headers"].items()}
    path, _, literal = req["url_path"].partition("?")
    if literal:
        query = f"{literal}&{query}" if query else literal
    return FuzzCase(service, protocol, op.name, "valid", req["method"], path, query, headers, body)


def _route_signature(op: OperationModel) -> tuple[str, str, tuple[str, ...]]:
    shape = op.input_shape
    located = []
    for name in shape.required_members if shape is not None else []:
        ser = shape.members[name].serialization
        if ser.get("location") in ("header", "querystring"):
            located.append(str(ser.get("name", name)))
    return (str(op.http.get("method")), str(op.http.get("requestUri")), tuple(sorted(located)))


def _ops(service: str) -> list[OperationModel]:
    """Operations worth fuzzing (rest routes shared by two operations are left out)."""
    m = model(service)
    out = []
    seen: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for name in m.operation_names:
        op = m.operation_model(name)
        if op.has_event_stream_input or op.has_event_stream_output or op.deprecated:
            continue
        sig = _route_signature(op)
        seen[sig] = seen.get(sig, 0) + 1
        out.append(op)
    if m.metadata["protocol"] == "rest-xml":
        out = [op for op in out if seen[_route_signature(op)] == 1]
    return out


def _replace(case: FuzzCase, kind: str, **changes: Any) -> FuzzCase:
    values = dict(case.__dict__)
    values.update(changes)
    values["kind"] = kind
    return FuzzCase(**values)


def _with_query(case: FuzzCase, extra: str, kind: str) -> FuzzCase:
    """Append raw ``key=value`` text to where a query request keeps its parameters."""
    if case.body:
        return _replace(case, kind, body=case.body + b"&" + extra.encode("latin-1"))
    return _replace(case, kind, query=f"{case.query}&{extra}" if case.query else extra)


def _mutations(
    service: str, protocol: str, op: OperationModel, rng: random.Random, heavy: bool
) -> list[FuzzCase]:
    shape = op.input_shape
    params = random_value(shape, rng) if shape is not None else {}
    valid = serialize(service, protocol, op, params)
    cases: list[FuzzCase] = []
    doc = protocol in ("json", "smithy-rpc-v2-cbor")
    rest = protocol == "rest-xml"
    members = shape.members if shape is not None else {}
    # missing required member (body/query members only: rest routing may change otherwise)
    for name in sorted(shape.required_members if shape is not None else []):
        if rest and members[name].serialization.get("location"):
            continue
        if rest:
            continue
        smaller = {k: v for k, v in params.items() if k != name}
        cases.append(_replace(serialize(service, protocol, op, smaller), "missing-required"))
        break
    # wrong types / enum / range on top-level members
    for name, member in sorted(members.items()):
        ser = member.serialization
        kind = member.type_name
        loc = ser.get("location")
        if rest:
            if loc in ("header", "querystring") and kind in (
                "integer",
                "long",
                "timestamp",
                "boolean",
            ):
                bad = dict(params)
                bad[name] = 1  # placeholder replaced below on the wire
                case = serialize(service, protocol, op, bad)
                wire = str(ser.get("name", name))
                if loc == "header":
                    headers = dict(case.headers)
                    headers[wire] = "not-a-number-or-date"
                    cases.append(_replace(case, "wrong-type-header", headers=headers))
                else:
                    pairs = [p for p in case.query.split("&") if not p.startswith(wire + "=")]
                    pairs.append(f"{wire}=not-a-number")
                    cases.append(_replace(case, "wrong-type-query", query="&".join(pairs)))
            continue
        if doc:
            wrong: Any = {
                "string": 12345, "integer": "x", "long": "x", "boolean": "true",
                "list": {"a": 1}, "structure": ["x"], "map": ["x"], "timestamp": True,
                "double": "big", "float": "big", "blob": 7,
            }.get(kind)  # fmt: skip
            if wrong is None or getattr(member, "is_document_type", False):
                continue
            cases.append(_doc_with(valid, protocol, ser.get("name", name), wrong, "wrong-type"))
        elif kind in ("integer", "long", "boolean", "timestamp", "double", "float", "blob"):
            key = _query_key(member, name, protocol)
            cases.append(_with_query(valid, f"{key}=%21%21notvalid%21%21", "wrong-type"))
        enum = getattr(member, "enum", None)
        if enum and protocol != "ec2" and kind == "string":
            value = "NotAValidEnumValue"
            if doc:
                cases.append(_doc_with(valid, protocol, ser.get("name", name), value, "bad-enum"))
            else:
                key = _query_key(member, name, protocol)
                cases.append(_with_query(valid, f"{key}={value}", "bad-enum"))
        top = member.metadata.get("max")
        if top is not None and kind in ("string", "integer", "long") and not enum:
            value = "x" * (int(top) + 1) if kind == "string" else int(top) + 1
            if doc:
                cases.append(_doc_with(valid, protocol, ser.get("name", name), value, "too-large"))
            else:
                key = _query_key(member, name, protocol)
                cases.append(_with_query(valid, f"{key}={value}", "too-large"))
    # hostile bodies
    if doc:
        for kind, body in _document_garbage(protocol):
            if heavy or not kind.endswith("-deep") and "deep-" not in kind:
                cases.append(_replace(valid, kind, body=body))
    elif rest:
        payload = shape.serialization.get("payload") if shape is not None else None
        if payload and members[payload].type_name == "structure":
            for kind, body in _XML_GARBAGE:
                cases.append(_replace(valid, kind, body=body))
    else:
        form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        for kind, body in _FORM_GARBAGE:
            if kind == "form-too-many-fields" and not heavy:
                continue
            cases.append(
                _replace(valid, kind, body=f"Action={op.name}&".encode() + body, headers=form)
            )
    return cases


def _query_key(member: Shape, name: str, protocol: str) -> str:
    ser = member.serialization
    if protocol == "ec2":
        if "queryName" in ser:
            return str(ser["queryName"])
        if "name" in ser:
            text = str(ser["name"])
            return text[:1].upper() + text[1:]
        return name
    return str(ser.get("name", name))


def _doc_with(case: FuzzCase, protocol: str, key: str, value: Any, kind: str) -> FuzzCase:
    import cbor2

    if protocol == "json":
        doc = json.loads(case.body or b"{}")
        doc[key] = value
        return _replace(case, kind, body=json.dumps(doc).encode())
    doc = cbor2.loads(case.body) if case.body else {}
    doc[key] = value
    return _replace(case, kind, body=cbor2.dumps(doc))


_DEEP = 50_000
_JSON_GARBAGE = [
    ("json-truncated", b'{"a": '),
    ("json-not-object", b"[1, 2, 3]"),
    ("json-scalar", b"42"),
    ("json-trailing-comma", b'{"a": 1,}'),
    ("json-bad-utf8", b'{"a": "\xff\xfe"}'),
    ("json-deep", b"[" * _DEEP),
    ("json-deep-objects", b'{"a":' * _DEEP),
    ("json-garbage", bytes(range(256))),
]
_CBOR_GARBAGE = [
    ("cbor-truncated-map", b"\xa2\x61a\x01"),
    ("cbor-break-outside", b"\xff"),
    ("cbor-not-map", b"\x83\x01\x02\x03"),
    ("cbor-unclosed-indefinite", b"\xbf\x61a\x01"),
    ("cbor-huge-length", b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff"),
    ("cbor-deep", b"\x81" * _DEEP),
    ("cbor-bad-utf8", b"\xa1\x62\xff\xfe\x01"),
    ("cbor-json-body", b'{"a": 1}'),
    ("cbor-reserved-info", b"\x1c"),
]
_XML_GARBAGE = [
    ("xml-unclosed", b"<Tagging><TagSet>"),
    ("xml-not-xml", b"this is not xml"),
    ("xml-doctype", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'),
    ("xml-bad-utf8", b"<a>\xff\xfe</a>"),
    ("xml-two-roots", b"<a/><b/>"),
    ("xml-mismatch", b"<a><b></a></b>"),
]
_FORM_GARBAGE = [
    ("form-bad-percent", b"Foo=%zz"),
    ("form-truncated-percent", b"Foo=%"),
    ("form-bad-utf8", b"Foo=\xff\xfe"),
    ("form-bad-utf8-escaped", b"Foo=%C3%28"),
    ("form-too-many-fields", b"&".join(b"F%d=1" % i for i in range(25_000))),
]


def _document_garbage(protocol: str) -> list[tuple[str, bytes]]:
    return _JSON_GARBAGE if protocol == "json" else _CBOR_GARBAGE


def _unknown_operations(service: str, protocol: str) -> list[FuzzCase]:
    m = model(service)
    cases = []
    for index, name in enumerate(["NoSuchAction", "describeinstances", "", "A" * 300, "Action"]):
        if protocol in ("query", "ec2"):
            query = urlencode({"Action": name, "Version": m.api_version}) if name else "Version=1"
            cases.append(FuzzCase(service, protocol, name, "unknown-action", "GET", "/", query))
            cases.append(
                FuzzCase(
                    service, protocol, name, "unknown-action-post", "POST", "/", "",
                    {"Content-Type": "application/x-www-form-urlencoded"},
                    urlencode({"Action": name}).encode(),
                )
            )  # fmt: skip
        elif protocol == "json":
            target = f"{m.metadata.get('targetPrefix')}.{name}"
            headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}
            cases.append(
                FuzzCase(service, protocol, name, "unknown-target", "POST", "/", "", headers, b"{}")
            )
        elif protocol == "smithy-rpc-v2-cbor":
            prefix = m.metadata.get("targetPrefix")
            path = f"/service/{prefix}/operation/{name}" if index % 2 else f"/service/{name}"
            headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
            cases.append(
                FuzzCase(
                    service, protocol, name, "unknown-operation", "POST", path, "", headers, b"\xa0"
                )
            )
        else:
            cases.append(
                FuzzCase(service, protocol, name, "unknown-method", "PATCH", f"/b{index}/k", "")
            )
            cases.append(
                FuzzCase(
                    service, protocol, name, "bad-uri-encoding", "PUT", f"/b{index}/%ff%fe", ""
                )
            )
    if protocol in ("query", "ec2"):
        for raw in ["Action=%zz", "Action=%", "Action=%C3%28", "Action=Describe%FFRegions"]:
            cases.append(FuzzCase(service, protocol, raw, "bad-query-encoding", "GET", "/", raw))
    return cases


def generate_cases(
    services: list[str] | None = None, seed: int = 1234, ops_per_service: int = 60
) -> list[FuzzCase]:
    """Malformed requests for every protocol of every service (deterministic for a seed)."""
    cases: list[FuzzCase] = []
    for service in services or SERVICES:
        rng = random.Random(f"{seed}:{service}")
        ops = _ops(service)
        chosen = ops if len(ops) <= ops_per_service else rng.sample(ops, ops_per_service)
        for protocol in protocols(service):
            cases.extend(_unknown_operations(service, protocol))
            for index, op in enumerate(chosen):
                try:
                    cases.extend(_mutations(service, protocol, op, rng, heavy=index < 2))
                except Exception:  # botocore refuses some inputs (host labels)
                    continue
    return cases


if __name__ == "__main__":
    from collections import Counter

    all_cases = generate_cases()
    print(len(all_cases), Counter(case.kind for case in all_cases).most_common())


# ------------------------------------------------- SigV2 parameter placement
def sigv2_signature(secret: str, method: str, host: str, path: str,
                    params: list[tuple[str, str]]) -> str:
    """The SigV2 HmacSHA256 signature of ``params`` (AWS's algorithm, written out)."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    pairs = sorted((enc(k), enc(v)) for k, v in params if k != "Signature")
    text = f"{method}\n{host.lower()}\n{path}\n" + "&".join(f"{k}={v}" for k, v in pairs)
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def sigv2_cases(access_key: str, secret: str, host: str, now: datetime,
                marker: str = "fuzz") -> list[FuzzCase]:
    """SigV2 requests whose parameters are placed, split, duplicated or typed wrongly.

    Each one is signed with the given key; a correct server answers every one with
    4xx and runs none of them. The injected operation is CreateSecurityGroup with a
    group name starting with ``marker`` (absent afterwards if nothing ran).
    """
    form = "application/x-www-form-urlencoded; charset=utf-8"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    auth = [("AWSAccessKeyId", access_key), ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256")]
    safe = [("Action", "DescribeAvailabilityZones"), ("Version", "2016-11-15")]
    inject = [("Action", "CreateSecurityGroup"), ("Version", "2016-11-15"),
              ("GroupName", f"{marker}-sg"), ("GroupDescription", "injected")]

    def signed(method: str, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return params + [("Signature", sigv2_signature(secret, method, host, "/", params))]

    def case(kind: str, method: str, query: list[tuple[str, str]], body: bytes = b"",
             content_type: str | None = None) -> FuzzCase:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        return FuzzCase("ec2", "ec2", "CreateSecurityGroup", kind, method, "/",
                        urlencode(query), headers, body)

    timed = safe + auth + [("Timestamp", stamp)]
    query_signed = signed("POST", timed)
    body_inject = urlencode(inject).encode()
    cases = [
        case("sigv2-body-no-content-type", "POST", query_signed, body_inject),
        case("sigv2-body-empty-content-type", "POST", query_signed, body_inject, ""),
    ]
    for ctype in ("text/plain", "application/json", "application/xml",
                  "application/x-www-form-urlencodedX", "multipart/form-data; boundary=x",
                  "application/octet-stream"):
        cases.append(case(f"sigv2-body-content-type-{ctype.split('/')[1][:12]}", "POST",
                          query_signed, body_inject, ctype))
    # a form body is signed with the query: every field in it must be in the signature
    cases.append(case("sigv2-unsigned-body-field", "POST", query_signed,
                      urlencode(inject[2:]).encode(), form))
    cases.append(case("sigv2-duplicate-query-body", "POST", query_signed, body_inject, form))
    both = signed("POST", timed + [("Action", "CreateSecurityGroup")] + inject[2:])
    cases.append(case("sigv2-duplicate-signed-action", "POST", both))
    dup_body = signed("POST", timed + inject[2:])
    cases.append(case("sigv2-duplicate-in-body", "POST", [], urlencode(
        dup_body + [("Action", "CreateSecurityGroup")]).encode(), form))
    # parameters split between query and body, then one moved or changed after signing
    split = signed("POST", timed + inject[2:])
    cases.append(case("sigv2-split-tampered", "POST", split[:2], urlencode(
        [(k, v + "x" if k == "GroupDescription" else v) for k, v in split[2:]]).encode(), form))
    cases.append(case("sigv2-signature-in-body-query-added", "POST",
                      [("Action", "CreateSecurityGroup")] + inject[2:],
                      urlencode(signed("POST", timed)).encode(), form))
    cases.append(case("sigv2-signature-twice", "POST", query_signed, urlencode(
        [("Signature", query_signed[-1][1])]).encode(), form))
    cases.append(case("sigv2-get-body-no-content-type", "GET", signed("GET", timed),
                      body_inject))
    cases.append(case("sigv2-body-bad-utf8", "POST", query_signed, b"GroupName=\xff\xfe", form))
    # time bounds
    far = safe + auth + [("Expires", (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    cases.append(case("sigv2-expires-far", "GET", signed("GET", far)))
    past = safe + auth + [("Expires", (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    cases.append(case("sigv2-expires-past", "GET", signed("GET", past)))
    both_times = timed + [("Expires", stamp)]
    cases.append(case("sigv2-timestamp-and-expires", "GET", signed("GET", both_times)))
    old = safe + auth + [("Timestamp", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    cases.append(case("sigv2-timestamp-old", "GET", signed("GET", old)))
    return cases
