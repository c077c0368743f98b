"""The policy corpus against the validator itself (the API tests send it through boto3)."""

from __future__ import annotations

import pytest

from cloudctl.errors import AwsError
from cloudctl.services.iam.policy import PolicyError, validate_policy
from cloudctl.services.s3 import access
from tests.policy_corpus import cases, document


def _refusal(kind: str, text: str) -> str | None:
    if kind == "resource":
        try:
            access.validate_policy(text)
        except AwsError as exc:
            return exc.message
        return None
    try:
        validate_policy(text, kind)  # type: ignore[arg-type]
    except PolicyError as exc:
        return exc.message
    return None


@pytest.mark.parametrize(("name", "kind", "expected"), cases("valid"))
def test_valid_document(name: str, kind: str, expected: None) -> None:
    assert _refusal(kind, document("valid", name)) is None


@pytest.mark.parametrize(("name", "kind", "expected"), cases("invalid"))
def test_invalid_document(name: str, kind: str, expected: str) -> None:
    assert _refusal(kind, document("invalid", name)) == expected


def test_corpus_covers_every_kind() -> None:
    kinds = {kind for _, kind, _ in cases("valid") + cases("invalid")}
    assert kinds == {"identity", "trust", "resource"}
    assert len(cases("invalid")) >= 30
