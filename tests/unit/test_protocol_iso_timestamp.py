"""Timestamps handed on as text (``IsoTimestamp``) write the same bytes as datetimes,
and ids drawn from one random number keep their alphabets."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

from cloudctl.protocol import codec_for
from cloudctl.protocol.codec import ParsedRequest
from cloudctl.protocol.common import (
    IsoTimestamp,
    format_epoch,
    format_iso8601,
    format_rfc822,
    iso_timestamp,
)
from cloudctl.services import ids
from cloudctl.services.iam.fastsql import timestamp_text


def _list_users_xml(created: object, last_used: object) -> bytes:
    codec = codec_for("iam")
    op = codec.operation("ListUsers", "query")
    users = [{"Path": "/a&b/", "UserName": f"u{i}", "UserId": f"AIDA{i}",
              "Arn": f"arn:aws:iam::123456789012:user/a&b/u{i}", "CreateDate": created,
              "PasswordLastUsed": last_used} for i in range(3)]
    body = codec.serialize(ParsedRequest(op, {}, "query"),
                           {"Users": users, "IsTruncated": True, "Marker": "m"}, "rid").body
    assert isinstance(body, bytes)
    return body


def test_stored_text_writes_the_bytes_of_the_datetime() -> None:
    when = datetime(2026, 12, 5, 10, 19, 38, 123987, tzinfo=UTC)
    stored = when.replace(tzinfo=None).isoformat(sep=" ")  # SQLAlchemy's SQLite text
    assert len(stored) == 26
    fast = iso_timestamp(stored)
    assert isinstance(fast, IsoTimestamp)
    assert fast == format_iso8601(when) == "2026-12-05T10:19:38.123Z"
    assert _list_users_xml(fast, fast) == _list_users_xml(when, when)
    # the other formats parse it back
    assert format_epoch(fast) == format_epoch(when.replace(microsecond=123000))
    assert format_rfc822(fast) == format_rfc822(when)


def test_other_stored_text_is_parsed() -> None:
    assert iso_timestamp("2026-12-05 10:19:38") == "2026-12-05T10:19:38.000Z"
    assert iso_timestamp("2026-12-05T10:19:38+02:00") == "2026-12-05T08:19:38.000Z"


def test_ids_from_one_draw_cover_their_alphabets() -> None:
    seen = Counter("".join(ids.user_id()[4:] for _ in range(2000)))
    assert set(seen) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert all(count > 34000 / 32 * 0.8 for count in seen.values())  # ~1062 each
    assert len(ids.user_id()) == 21 and ids.user_id().startswith("AIDA")
    assert len(ids.access_key_id()) == 20
    secret = ids.secret_access_key()
    assert len(secret) == 40 and set(secret) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    hexes = Counter("".join(ids.resource_id("i")[2:] for _ in range(1000)))
    assert set(hexes) == set("0123456789abcdef")
    assert len(ids.resource_id("vpc", 8)) == 12
    assert len({ids.user_id() for _ in range(1000)}) == 1000


def test_a_group_page_with_stored_text_writes_the_bytes_of_the_datetime() -> None:
    codec = codec_for("autoscaling")
    op = codec.operation("DescribeAutoScalingGroups", "query")
    when = datetime(2026, 12, 5, 1, 2, 3, 4000, tzinfo=UTC)

    def xml(created: object) -> bytes:
        group = {"AutoScalingGroupName": "g", "MinSize": 0, "MaxSize": 2,
                 "DesiredCapacity": 0, "CreatedTime": created, "Instances": [],
                 "AvailabilityZones": ["z"], "Tags": []}
        body = codec.serialize(ParsedRequest(op, {}, "query"),
                               {"AutoScalingGroups": [group]}, "rid").body
        assert isinstance(body, bytes)
        return body

    assert xml(iso_timestamp("2026-12-05 01:02:03.004000")) == xml(when)
    assert b"<CreatedTime>2026-12-05T01:02:03.004Z</CreatedTime>" in xml(when)


def test_stored_timestamp_text_is_sqlalchemys() -> None:
    for when in (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                 datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
                 datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=-3)))):
        assert timestamp_text(when) == when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    assert timestamp_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == \
        "2026-01-02 03:04:05.000000"  # the microseconds written even when 0
