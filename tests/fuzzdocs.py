"""Hostile documents for the parsers behind the APIs: policies, CORS rules, bundle manifests.

Owns deterministic generators (one ``random.Random`` per seed) of documents that a
correct cloud answers quickly with 2xx (an odd but valid document) or 4xx (refused),
never 5xx: policy JSON (IAM CreatePolicy / PutUserPolicy, S3 PutBucketPolicy), S3
CORS configurations, and EC2 bundle manifests (RegisterImage reads them from S3).
Mutations: wrong JSON/XML types at every level, missing and duplicated members,
oversized and wildcard-heavy strings (regex backtracking), deep nesting, entity
declarations in UTF-8 and UTF-16, bad numbers and encodings.
"""

from __future__ import annotations

import json
import random
from typing import Any

Doc = tuple[str, bytes]

_WEIRD: list[Any] = [None, True, 0, -1, 1.5, 10**40, "", "*", [], {}, [[]], {"a": {}},
                     "é中\u0000", "x" * 5000, ["*"] * 300, {"*": "*"}]


def _wild(rng: random.Random, length: int) -> str:
    """A wildcard pattern heavy in ``*`` and ``?`` (backtracking bait)."""
    return "".join(rng.choice("*?a") for _ in range(length))


def _valid_statement(resource: str, principal: bool) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject" if principal
                                 else "iam:GetUser", "Resource": resource}
    if principal:
        statement["Principal"] = "*"
    return statement


def _policy_mutations(rng: random.Random, resource: str, principal: bool) -> list[Doc]:
    base = {"Version": "2012-10-17", "Statement": [_valid_statement(resource, principal)]}
    out: list[Doc] = [("policy-valid", json.dumps(base).encode())]
    fields = ["Version", "Statement", "Id"]
    st_fields = ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                 "Principal", "NotPrincipal", "Condition"]
    for name in fields:
        for value in rng.sample(_WEIRD, 5):
            doc = json.loads(json.dumps(base))
            doc[name] = value
            out.append((f"policy-top-{name.lower()}", json.dumps(doc).encode()))
    for name in st_fields:
        for value in rng.sample(_WEIRD, 6):
            doc = json.loads(json.dumps(base))
            doc["Statement"][0][name] = value
            out.append((f"policy-statement-{name.lower()}", json.dumps(doc).encode()))
    conditions: list[Any] = [
        {"StringLike": {"aws:username": _wild(rng, 200)}},
        {"StringLike": {"aws:username": [_wild(rng, 60) for _ in range(50)]}},
        {"IpAddress": {"aws:SourceIp": ["999.1.1.1/99", "::g/200", "", 7]}},
        {"DateLessThan": {"aws:CurrentTime": ["not-a-date", 10**30, None]}},
        {"NumericLessThan": {"s3:max-keys": ["1e999", "nan", [], {}]}},
        {"ForAnyValue:StringEquals": {"aws:TagKeys": {"nested": ["x"]}}},
        {"Bool": {"aws:SecureTransport": [True, "maybe", None]}},
        {"NoSuchOperator": {"k": "v"}}, {"StringEquals": "flat"}, {"StringEquals": {"": ""}},
        {"StringEqualsIfExists": {"aws:PrincipalTag/${aws:username}": "${${x}}"}},
        {"ArnLike": {"aws:SourceArn": "arn:" + _wild(rng, 300)}},
    ]
    for index, condition in enumerate(conditions):
        doc = json.loads(json.dumps(base))
        doc["Statement"][0]["Condition"] = condition
        out.append((f"policy-condition-{index}", json.dumps(doc).encode()))
    for label, pattern in (("resource-wild", resource.rsplit("/", 1)[0] + "/" + _wild(rng, 400)),
                           ("action-wild", "s3:" + _wild(rng, 300)),
                           ("resource-many", None)):
        doc = json.loads(json.dumps(base))
        if pattern is None:
            doc["Statement"][0]["Resource"] = [resource + _wild(rng, 40) for _ in range(200)]
        elif label.startswith("action"):
            doc["Statement"][0]["Action"] = pattern
        else:
            doc["Statement"][0]["Resource"] = pattern
        out.append((f"policy-{label}", json.dumps(doc).encode()))
    if principal:
        for value in ({"AWS": ["arn:aws:iam::" + _wild(rng, 20) + ":root"]}, {"AWS": 123},
                      {"Service": [None]}, {"Federated": {}}, {"CanonicalUser": "x" * 3000},
                      {"AWS": "123456789012\n"}, {"AWS": "arn:aws:iam::123456789012:root\n"}):
            doc = json.loads(json.dumps(base))
            doc["Statement"][0]["Principal"] = value
            out.append(("policy-principal", json.dumps(doc).encode()))
    out.append(("policy-many-statements",
                json.dumps({"Version": "2012-10-17",
                            "Statement": [_valid_statement(resource, principal)] * 400}).encode()))
    out.append(("policy-deep", b'{"Version":"2012-10-17","Statement":' + b"[" * 5000))
    out.append(("policy-deep-objects",
                b'{"Version":"2012-10-17","Statement":[{"Condition":' + b'{"a":' * 3000))
    out.append(("policy-not-json", b"Version: 2012-10-17"))
    out.append(("policy-bad-utf8", b'{"Version":"2012-10-17","Statement":"\xff\xfe"}'))
    out.append(("policy-utf16", json.dumps(base).encode("utf-16")))
    out.append(("policy-duplicate-keys", b'{"Version":"2012-10-17","Version":"2008-10-17",'
                b'"Statement":[],"Statement":{"Effect":"Allow"}}'))
    out.append(("policy-nan", b'{"Version":"2012-10-17","Statement":[{"Effect":NaN}]}'))
    out.append(("policy-huge-number", b'{"Version":"2012-10-17","Statement":1' + b"0" * 5000
                + b"}"))
    out.append(("policy-scalar", b'"just a string"'))
    out.append(("policy-empty", b""))
    return out


def policy_documents(seed: int, resource: str, *, principal: bool) -> list[Doc]:
    """Policy documents: identity policies (``principal=False``) or bucket policies."""
    return _policy_mutations(random.Random(f"{seed}:policy:{principal}"), resource, principal)


# --------------------------------------------------------------------- CORS
def _cors(rules: list[str]) -> bytes:
    return ("<CORSConfiguration>" + "".join(rules) + "</CORSConfiguration>").encode()


def _rule(origins: list[str], methods: list[str], extra: str = "") -> str:
    return ("<CORSRule>" + "".join(f"<AllowedOrigin>{o}</AllowedOrigin>" for o in origins)
            + "".join(f"<AllowedMethod>{m}</AllowedMethod>" for m in methods) + extra
            + "</CORSRule>")


def cors_documents(seed: int) -> list[Doc]:
    """CORS configurations for PutBucketCors (odd, hostile or malformed)."""
    rng = random.Random(f"{seed}:cors")
    out: list[Doc] = [("cors-valid", _cors([_rule(["http://a.example"], ["GET"])]))]
    out.append(("cors-wild-origin", _cors([_rule(["*" + "a*" * 40 + "b"], ["GET"])])))
    out.append(("cors-wild-origins-many",
                _cors([_rule([_wild(rng, 80) for _ in range(40)], ["GET", "PUT"])])))
    out.append(("cors-wild-header", _cors([_rule(["*"], ["GET"], "".join(
        f"<AllowedHeader>{_wild(rng, 60)}</AllowedHeader>" for _ in range(40)))])))
    out.append(("cors-many-rules", _cors([_rule([f"http://h{i}.example"], ["GET"])
                                         for i in range(101)])))
    for value in ("-1", "x", "1e9", "99999999999999999999", "", "1.5"):
        out.append((f"cors-maxage-{value[:6]}", _cors([_rule(["*"], ["GET"],
                    f"<MaxAgeSeconds>{value}</MaxAgeSeconds>")])))
    for methods in ([], ["PATCH"], ["get"], ["GET", "GET"], ["G\u00e9T"], ["x" * 1000]):
        out.append(("cors-methods", _cors([_rule(["*"], methods)])))
    out.append(("cors-no-origin", _cors([_rule([], ["GET"])])))
    out.append(("cors-two-wildcards", _cors([_rule(["http://*.*.example"], ["GET"])])))
    out.append(("cors-empty", _cors([])))
    out.append(("cors-empty-rule", _cors(["<CORSRule/>"])))
    out.append(("cors-nested", _cors(["<CORSRule>" + "<AllowedOrigin>" * 200 + "x"
                                      + "</AllowedOrigin>" * 200 + "</CORSRule>"])))
    out.append(("cors-id-long", _cors([_rule(["*"], ["GET"], "<ID>" + "i" * 300 + "</ID>")])))
    out.append(("cors-expose", _cors([_rule(["*"], ["GET"], "<ExposeHeader>a\nb</ExposeHeader>")])))
    laughs = ('<?xml version="1.0" encoding="{enc}"?><!DOCTYPE c [<!ENTITY a "{chunk}">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><CORSConfiguration><CORSRule>'
              "<AllowedOrigin>&b;&b;&b;&b;</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
              "</CORSRule></CORSConfiguration>")
    for enc, codec in (("UTF-8", "utf-8"), ("UTF-16", "utf-16"), ("UTF-16BE", "utf-16-be")):
        out.append((f"cors-entities-{codec}",
                    laughs.format(enc=enc, chunk="x" * 20000).encode(codec)))
    out.append(("cors-external-entity", b'<!DOCTYPE c SYSTEM "file:///etc/passwd"><c/>'))
    out.append(("cors-not-xml", b"{\"CORSRules\": []}"))
    out.append(("cors-bad-utf8", b"<CORSConfiguration>\xff</CORSConfiguration>"))
    out.append(("cors-unknown-encoding",
                b'<?xml version="1.0" encoding="x-nope"?><CORSConfiguration/>'))
    return out


CORS_PROBE_ORIGINS = ["http://" + "a" * 60, "http://h5.example", "null", "*",
                      "http://a.example\nx", "a" * 4000]


# ---------------------------------------------------------------- manifests
def _manifest(image: str, parts: str, root: str = "manifest", mc: str = "") -> bytes:
    return (f"<?xml version=\"1.0\"?><{root}><version>2007-10-10</version>"
            f"<machine_configuration>{mc}</machine_configuration><image><name>n</name>"
            f"<type>machine</type><digest algorithm=\"SHA1\">{'0' * 40}</digest>"
            f"{image}<parts count=\"{parts}\"></parts></image></{root}>").encode()


def manifest_documents(seed: int) -> list[Doc]:
    """Bundle manifests (``*.manifest.xml`` objects) for RegisterImage(ImageLocation)."""
    rng = random.Random(f"{seed}:manifest")
    part = ('<part index="{index}"><filename>{name}</filename>'
            '<digest algorithm="SHA1">{digest}</digest></part>')
    good_part = part.format(index=0, name="img.part.0", digest="0" * 40)
    size = "<size>1024</size><bundled_size>2048</bundled_size>"
    out: list[Doc] = []

    def doc(kind: str, image: str = size, parts: str = "1", parts_xml: str = good_part,
            **kw: str) -> None:
        body = _manifest(image, parts, **kw).replace(b"</parts>", parts_xml.encode() + b"</parts>")
        out.append((kind, body))

    doc("manifest-minimal")
    for value in ("x", "-5", "1e3", "", "99999999999999999999999", " 12 ", "0x10"):
        doc(f"manifest-size-{value[:5]}", image=f"<size>{value}</size>")
        doc(f"manifest-bundled-{value[:5]}", image=f"<size>1</size><bundled_size>{value}"
            "</bundled_size>")
        doc(f"manifest-count-{value[:5]}", parts=value)
        doc(f"manifest-index-{value[:5]}",
            parts_xml=part.format(index=value, name="p", digest="0" * 40))
    for name in ("../../etc/passwd", "", ".", "a/b", "x" * 5000, "p\n", "\u00e9"):
        doc("manifest-part-name", parts_xml=part.format(index=0, name=name, digest="0" * 40))
    for digest in ("zz", "", "0" * 4000):
        doc("manifest-part-digest", parts_xml=part.format(index=0, name="p", digest=digest))
    doc("manifest-parts-many", parts="3000", parts_xml="".join(
        part.format(index=i, name=f"p{i}", digest="0" * 40) for i in range(3000)))
    doc("manifest-parts-duplicate", parts="2", parts_xml=good_part * 2)
    doc("manifest-no-size", image="")
    doc("manifest-wrong-root", root="html")
    doc("manifest-key-not-hex", image=size + '<ec2_encrypted_key algorithm="AES-128-CBC">zz'
        "</ec2_encrypted_key><ec2_encrypted_iv>zz</ec2_encrypted_iv>")
    doc("manifest-key-cipher", image=size + '<ec2_encrypted_key algorithm="ROT13">00'
        "</ec2_encrypted_key>")
    doc("manifest-mc-weird", mc="<kernel_id>" + _wild(rng, 50) + "</kernel_id>"
        "<block_device_mapping><mapping><virtual>x</virtual></mapping></block_device_mapping>")
    doc("manifest-architecture", mc="<architecture>" + "a" * 5000 + "</architecture>")
    laughs = ('<?xml version="1.0" encoding="{enc}"?><!DOCTYPE manifest [<!ENTITY a "{chunk}">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><manifest><image><name>&b;&b;&b;'
              "</name></image></manifest>")
    for enc, codec in (("UTF-8", "utf-8"), ("UTF-16", "utf-16")):
        out.append((f"manifest-entities-{codec}",
                    laughs.format(enc=enc, chunk="x" * 50000).encode(codec)))
    out.append(("manifest-external-entity",
                b'<?xml version="1.0"?><!DOCTYPE manifest SYSTEM "file:///etc/passwd">'
                b"<manifest/>"))
    out.append(("manifest-not-xml", b"not a manifest"))
    out.append(("manifest-empty", b""))
    out.append(("manifest-bad-utf8", b"<manifest>\xff\xfe</manifest>"))
    out.append(("manifest-deep", b"<manifest>" + b"<a>" * 20000 + b"</a>" * 20000
                + b"</manifest>"))
    return out

