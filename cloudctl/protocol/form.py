"""The parameters of a query-protocol request: one definition for signing and parsing.

Owns ``query_parameters(req)``: the decoded query string plus, only when the body is
declared ``application/x-www-form-urlencoded``, the form fields of the body. SigV2
verification signs exactly this list and the ``query``/``ec2`` parser reads exactly
this list, so nothing reaches an operation that the signature did not cover. Refused
(``MalformedQueryString``, 400): a body that is not form-encoded (it would be
neither signed by SigV2 nor parsed), bad percent-encoding or UTF-8, too many fields,
and a parameter named twice (in the query, in the body, or in both), so that one
copy can never override another.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from cloudctl.errors import MalformedQueryString
from cloudctl.protocol.wire import WireRequest

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 20000
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def is_form(req: WireRequest) -> bool:
    """True when the body is declared form-encoded (media type exact, parameters allowed)."""
    content_type = req.header("Content-Type") or ""
    return content_type.split(";", 1)[0].strip().lower() == FORM_MEDIA_TYPE


def form_pairs(text: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` decoded strictly (bad percent-encoding or UTF-8: MalformedQueryString)."""
    if _BAD_PERCENT.search(text):
        raise MalformedQueryString("The query string contains an invalid percent-encoding.")
    try:
        return _pairs(text)
    except ValueError as exc:
        raise MalformedQueryString(f"The query string is malformed: {exc}") from None


def _pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True, errors="strict",
    max_num_fields=MAX_FIELDS)`` without its four calls per field: a name or value is
    unquoted only when it holds a ``%`` (``unquote`` returns the others unchanged)."""
    if not text:
        return []
    if 1 + text.count("&") > MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    plus, percent = "+" in text, "%" in text
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if plus:
            name, value = name.replace("+", " "), value.replace("+", " ")
        if percent:
            if "%" in name:
                name = unquote(name, errors="strict")
            if "%" in value:
                value = unquote(value, errors="strict")
        pairs.append((name, value))
    return pairs


def body_pairs(req: WireRequest) -> list[tuple[str, str]]:
    """The form fields of the body ([] without a body); a body of another type is refused."""
    if not req.body:
        return []
    if not is_form(req):
        raise MalformedQueryString(
            "The request body must be application/x-www-form-urlencoded parameters."
        )
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedQueryString("The request body is not valid UTF-8.") from None
    return form_pairs(text)


def query_parameters(req: WireRequest) -> list[tuple[str, str]]:
    """Query string pairs then body form fields, each name at most once."""
    raw = req.raw_query
    pairs = form_pairs(raw) if ("%" in raw or not raw.isascii()) else list(req.query)
    pairs.extend(body_pairs(req))
    if len(dict(pairs)) == len(pairs):  # no name twice (the usual request: one C pass)
        return pairs
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            shown = key if len(key) <= 128 else key[:128] + "..."
            raise MalformedQueryString(f"The parameter {shown} appears more than once.")
        seen.add(key)
    return pairs


def loose_keys(req: WireRequest) -> set[str]:
    """Parameter names of the query and of a form body, never raising (for detection)."""
    keys = {key for key, _ in req.query}
    if req.body and is_form(req):
        keys.update(key for key, _ in parse_qsl(req.body.decode("utf-8", "replace"),
                                                 keep_blank_values=True,
                                                 max_num_fields=None))
    return keys
