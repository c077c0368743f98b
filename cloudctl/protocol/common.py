"""Scalar helpers shared by every codec: timestamps, base64, XML text, shape errors.

Owns the conversions that do not depend on a protocol's framing (a timestamp in
ISO 8601, RFC 822 or epoch seconds; XML escaping) and ``ShapeError``, the
protocol-neutral validation failure the compiled parsers raise and the codec turns
into each protocol's AWS error. Must not know any service.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.model import Shape

#: A compiled parser: raw wire value -> plain python value (raises ShapeError).
Parser = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: characters XML 1.0 cannot carry even as references (replaced by U+FFFD)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class ShapeError(Exception):
    """A value that does not fit its shape, raised by compiled parsers.

    ``kind`` is ``missing`` (a required member is absent), ``type`` (the value is
    not of the shape's type: a serialization problem) or ``constraint`` (a
    range, length or enum check failed). ``path`` is filled while the exception
    travels up through structures: pairs of (member name, wire name).
    """

    def __init__(self, kind: str, detail: str = "", value: Any = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.value = value
        self.path: list[tuple[str, str]] = []

    def member_path(self) -> str:
        """AWS (Coral) style path: lowerCamel member names joined with dots."""
        parts = []
        for name, _wire in reversed(self.path):
            parts.append(name[:1].lower() + name[1:] if not name.isdigit() else name)
        return ".".join(parts)

    def wire_path(self) -> str:
        """The parameter name as the client sent it (``Filter.1.Name``)."""
        return ".".join(wire for _name, wire in reversed(self.path))


MemberTable = dict[str, tuple[str, "Parser"]]


def require_members(out: dict[str, Any], required: list[tuple[str, str]]) -> None:
    """Raise the ``missing`` ShapeError for the first required member ``out`` lacks
    (``required``: (member name, wire name) pairs)."""
    for name, wire in required:
        if name not in out:
            err = ShapeError("missing", "Member must not be null")
            err.path.append((name, wire))
            raise err


def parse_members(items: Any, table: MemberTable, required: list[tuple[str, str]], *,
                  skip_none: bool = False) -> dict[str, Any]:
    """The members of a structure from its wire ``(key, value)`` pairs: each key known to
    ``table`` (wire name -> member name, parser) is parsed, an error names its member,
    unknown keys are ignored, then every required member must be there."""
    out: dict[str, Any] = {}
    for key, value in items:
        if skip_none and value is None:
            continue
        entry = table.get(key)
        if entry is None:
            continue
        name, sub = entry
        try:
            out[name] = sub(value)
        except ShapeError as exc:
            exc.path.append((name, key))
            raise
    if required:
        require_members(out, required)
    return out


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601, RFC 822 or epoch seconds (str or number) -> aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise ShapeError("type", "expected a timestamp", value)
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise ShapeError("type", "expected a timestamp", value)
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ShapeError("type", "timestamp out of range", value) from exc
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                try:
                    dt = parsedate_to_datetime(value)
                except (TypeError, ValueError, IndexError) as exc:
                    raise ShapeError("type", "expected a timestamp", value) from exc
            else:
                return parse_timestamp(number)
    else:
        raise ShapeError("type", "expected a timestamp", value)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    if dt.tzinfo is not UTC:
        try:
            return dt.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ShapeError("type", "timestamp out of range", value) from exc
    return dt


def to_utc(value: Any) -> datetime:
    """A provider's timestamp (datetime, epoch number or string) as aware UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    return parse_timestamp(value)


class IsoTimestamp(str):
    """A timestamp already written as :func:`format_iso8601` writes it
    (``2024-05-01T12:00:00.000Z``): a provider that reads timestamps as text (a raw
    SQLite row) hands them on without a datetime in between; the ISO 8601 writer passes
    it through, every other format parses it."""

    __slots__ = ()


def iso_timestamp(stored: str) -> IsoTimestamp:
    """An ``IsoTimestamp`` of UTC text as SQLAlchemy's SQLite ``DateTime`` stores it
    (``2024-05-01 12:00:00.123456``); any other ISO 8601 text is parsed."""
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        return IsoTimestamp(f"{stored[:10]}T{stored[11:23]}Z")
    return IsoTimestamp(format_iso8601(to_utc(stored)))


def format_iso8601(value: Any) -> str:
    """``2024-05-01T12:00:00.000Z`` (millisecond precision, as AWS answers)."""
    if value.__class__ is IsoTimestamp:
        return value  # type: ignore[no-any-return]
    if value.__class__ is datetime and value.tzinfo is UTC:
        # the usual provider value: C's isoformat (truncates to ms), "+00:00" -> "Z"
        return f"{value.isoformat(timespec='milliseconds')[:-6]}Z"
    dt = to_utc(value)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_rfc822(value: Any) -> str:
    """``Sat, 21 Nov 2026 03:59:02 GMT`` (what ``email.utils.format_datetime`` with
    ``usegmt`` writes, at a fifth of its cost: every S3 GET and HEAD has one)."""
    dt = to_utc(value)
    return (f"{_DAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year:04d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} GMT")


def format_epoch(value: Any) -> float | int:
    dt = to_utc(value)
    seconds = (dt - _EPOCH).total_seconds()
    return int(seconds) if seconds.is_integer() else round(seconds, 3)


def timestamp_formatter(shape: Shape, default: str) -> Callable[[Any], str]:
    """Text formatter honouring the shape's ``timestampFormat`` trait."""
    fmt = str(shape.serialization.get("timestampFormat", default)).lower()
    if fmt == "rfc822":
        return format_rfc822
    if fmt == "unixtimestamp":
        return lambda v: str(format_epoch(v))
    return format_iso8601


def b64decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ShapeError("type", "expected a base64 string", value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ShapeError("type", "invalid base64", value) from exc


def b64encode(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode("ascii")


def xml_text(value: str) -> str:
    """Escape text for an XML element or a double-quoted attribute."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\r" in value:
        value = value.replace("\r", "&#xD;")
    if not value.isprintable():
        value = _XML_INVALID.sub("\ufffd", value)
    return value


def parse_bool_text(value: str) -> bool:
    low = value.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ShapeError("type", "expected true or false", value)


def parse_int_text(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise ShapeError("type", "expected an integer", value) from exc


def parse_float_text(value: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ShapeError("type", "expected a number", value) from exc


def constraint_checker(shape: Shape, check_enum: bool) -> Callable[[Any], None] | None:
    """A check for the shape's min/max/enum traits, or None when there is none."""
    meta = shape.metadata
    lo = meta.get("min")
    hi = meta.get("max")
    kind = shape.type_name
    enum = set(getattr(shape, "enum", None) or ()) if check_enum and kind == "string" else set()
    if lo is None and hi is None and not enum:
        return None
    if kind in ("integer", "long", "float", "double"):

        def check_range(value: Any) -> None:
            if lo is not None and value < lo:
                raise ShapeError(
                    "constraint", f"Member must have value greater than or equal to {lo}", value
                )
            if hi is not None and value > hi:
                raise ShapeError(
                    "constraint", f"Member must have value less than or equal to {hi}", value
                )

        return check_range
    if kind in ("string", "list", "map", "blob"):

        def check_length(value: Any) -> None:
            size = len(value)
            if lo is not None and size < lo:
                raise ShapeError(
                    "constraint", f"Member must have length greater than or equal to {lo}", value
                )
            if hi is not None and size > hi:
                raise ShapeError(
                    "constraint", f"Member must have length less than or equal to {hi}", value
                )
            if enum and value not in enum:
                raise ShapeError(
                    "constraint",
                    f"Member must satisfy enum value set: [{', '.join(sorted(enum))}]",
                    value,
                )

        return check_length
    return None


def with_checks(parser: Parser, check: Callable[[Any], None] | None) -> Parser:
    if check is None:
        return parser

    def checked(raw: Any) -> Any:
        value = parser(raw)
        check(value)
        return value

    return checked


# (kind, low, high, enum) of a scalar's usual valid value: taken as it comes when its
# class is the kind's (``str`` or ``float``) and it is within the bounds (and the enum)
Inline = tuple[str, float, float, frozenset[str]]


def inline_of(kind: str, shape: Shape, check_enums: bool, floats: bool) -> Inline | None:
    """The one test of :func:`fused_scalar`'s fast case for a scalar of ``kind``, or None
    when it has none: a string's length bounds (and enum), a double's range when the wire
    gives numbers as numbers (``floats``); for a double without a range given as text,
    ``text-float`` (``structgen`` converts it inline, ``float`` as the query parser does)."""
    meta = shape.metadata
    if kind == "string":
        enum = frozenset(getattr(shape, "enum", None) or ()) if check_enums else frozenset()
        hi = meta.get("max")
        return ("str", meta.get("min", 0), (1 << 62) if hi is None else hi, enum)
    if kind in ("float", "double"):
        if floats:
            return ("float", meta.get("min", -math.inf), meta.get("max", math.inf), frozenset())
        if meta.get("min") is None and meta.get("max") is None:
            # the query protocol's number as text: ``float(text)``, as its parser reads it
            return ("text-float", -math.inf, math.inf, frozenset())
    return None


def fused_scalar(kind: str, shape: Shape, check_enums: bool, parser: Parser, *,
                 floats: bool = True) -> Parser:
    """``parser`` (a scalar's conversion, type check and traits) with the usual valid
    value taken in one call: a ``str`` member's ``str`` within its length (and enum)
    bounds; for JSON and CBOR also a ``float`` within a double's range. Anything else
    goes to ``parser``, which converts it or names what is wrong. ``floats``: the wire
    gives numbers as numbers (not the query protocol's text)."""
    fast = inline_of(kind, shape, check_enums, floats)
    if fast is None or fast[0] == "text-float":  # text-float: inlined by structgen only
        return parser
    _, lo, hi, enum = fast
    if fast[0] == "str":

        def fused_string(raw: Any) -> Any:
            if raw.__class__ is str and lo <= len(raw) <= hi and (not enum or raw in enum):
                return raw
            return parser(raw)

        return fused_string

    def fused_float(raw: Any) -> Any:
        if raw.__class__ is float and lo <= raw <= hi:
            return raw
        return parser(raw)

    return fused_float
