"""``form.form_pairs``: its own split decodes exactly as ``parse_qsl`` (and refuses what it refuses)."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from cloudctl.errors import MalformedQueryString
from cloudctl.protocol.form import MAX_FIELDS, form_pairs


def _reference(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)


@pytest.mark.parametrize("text", [
    "", "&", "&&", "a", "a=", "=a", "=", "a=b=c", "a=1&b=2", "a=1&&b=2&", "a+b=c+d",
    "Action=PutMetricData&MetricData.member.1.Value=1.5", "a=%41+%2B&b=c", "é=ü&x=y z",
    "+=+", "a&b&c=", "Name=a%20b&Name2=a+b",
])
def test_same_pairs_as_parse_qsl(text: str) -> None:
    assert form_pairs(text) == _reference(text)


def test_random_texts_decode_as_parse_qsl() -> None:
    rng = random.Random(13)
    tokens = ["a", "b", ".", "1", "=", "&", "+", " ", "é", "%41", "%2B", "%C3%A9", "%FF", "%C3", "%25"]
    for _ in range(3000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randrange(0, 24)))
        try:
            expected = _reference(text)
        except ValueError:
            with pytest.raises(MalformedQueryString):
                form_pairs(text)
            continue
        assert form_pairs(text) == expected, text


def test_too_many_fields_is_malformed_either_way() -> None:
    plain = "&".join(["a=1"] * (MAX_FIELDS + 1))
    escaped = plain + "&b=%41"
    for text in (plain, escaped):
        with pytest.raises(MalformedQueryString, match="Max number of fields exceeded"):
            form_pairs(text)
