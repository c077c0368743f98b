"""The compiled structure bodies (``cloudctl.protocol.xmlgen``): shape order, the
unchecked first pass over a list of structures and its escaped second pass."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.parsers import QueryParser

from cloudctl.protocol import codec_for
from cloudctl.protocol.codec import ParsedRequest
from cloudctl.protocol.common import IsoTimestamp
from cloudctl.protocol.xmlgen import INT, STRING, compile_body, compile_raw_body, needs_escape


def _list_users_xml(users: list[dict[str, object]]) -> str:
    codec = codec_for("iam")
    op = codec.operation("ListUsers", "query")
    body = codec.serialize(ParsedRequest(op, {}, "query"), {"Users": users,
                                                            "IsTruncated": False}, "rid").body
    assert isinstance(body, bytes)
    return body.decode()


def _user(name: str, **extra: object) -> dict[str, object]:
    return {"Arn": f"arn:aws:iam::1:user/{name}", "UserName": name, "Path": "/",
            "UserId": "AIDA1", "CreateDate": IsoTimestamp("2026-01-02T03:04:05.678Z"), **extra}


def test_members_are_written_in_the_shapes_order_whatever_the_dicts() -> None:
    xml = _list_users_xml([_user("plain")])
    assert ("<member><Path>/</Path><UserName>plain</UserName><UserId>AIDA1</UserId>"
            "<Arn>arn:aws:iam::1:user/plain</Arn>"
            "<CreateDate>2026-01-02T03:04:05.678Z</CreateDate></member>") in xml


def test_one_item_needing_escapes_writes_the_whole_list_escaped() -> None:
    users = [_user("plain"), _user('a&b<c>"d'), _user("ctl\u0001")]
    xml = _list_users_xml(users)
    assert xml.count("<Users>") == 1 and xml.count("<member>") == 3
    assert "<UserName>a&amp;b&lt;c&gt;&quot;d</UserName>" in xml
    assert "<UserName>ctl\ufffd</UserName>" in xml
    op = codec_for("iam").operation("ListUsers", "query")
    back = QueryParser().parse({"body": xml.encode(), "headers": {}, "status_code": 200},
                               op.output_shape)
    assert [u["UserName"] for u in back["Users"]] == ["plain", 'a&b<c>"d', "ctl\ufffd"]
    assert back["Users"][0]["CreateDate"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_a_clean_list_is_written_once_and_unescaped() -> None:
    xml = _list_users_xml([_user(f"u{i}") for i in range(3)])
    assert xml.count("<member>") == 3 and "&" not in xml


def test_compiled_writers_skip_none_and_unknown_and_report_their_text() -> None:
    members = [("Name", (STRING, "<Name>", "</Name>", None)),
               ("Size", (INT, "<Size>", "</Size>", None))]
    checked = compile_body(members)
    out: list[str] = []
    checked({"Size": 3, "Name": "x<y", "Other": "z"}, out)
    assert "".join(out) == "<Name>x&lt;y</Name><Size>3</Size>"
    raw = compile_raw_body(members)
    assert raw is not None
    out, seen = [], []
    raw({"Name": 5, "Size": None}, out, seen.append)
    assert ("".join(out), seen) == ("<Name>5</Name>", ["5"])
    assert compile_raw_body([("Size", (INT, "<Size>", "</Size>", None))]) is None
    assert needs_escape("a\rb") and needs_escape("a&b") and not needs_escape("a/b:c")
