"""A type's schema validates no properties at all once (its errors for ``{}`` depend
on the schema only: most users and buckets of a template declare none), each
resource's failure still in its own words; properties given are validated each time."""

from __future__ import annotations

from typing import Any

import pytest

from cloudctl.services.cloudformation import schemas
from cloudctl.services.cloudformation.schemas import TypeSchema


def _fresh(type_name: str) -> TypeSchema:
    pinned = schemas.schema(type_name)
    assert pinned is not None
    return TypeSchema(pinned.type_name, pinned.raw)


def test_no_properties_are_validated_once_a_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    validated: list[dict[str, Any]] = []
    real = TypeSchema._errors

    def counted(self: TypeSchema, props: dict[str, Any]) -> Any:
        validated.append(props)
        return real(self, props)

    monkeypatch.setattr(TypeSchema, "_errors", counted)
    user, group = _fresh("AWS::IAM::User"), _fresh("AWS::EC2::SecurityGroup")
    assert [user.validate(f"User{i}", {}) for i in range(3)] == [None] * 3
    assert validated == [{}]
    reasons = [group.validate(name, {}) for name in ("GroupA", "GroupB")]
    assert reasons == [
        f"Properties validation failed for resource {name} with message: "
        f"[#: required key [GroupDescription] not found]" for name in ("GroupA", "GroupB")]
    assert validated == [{}, {}]
    assert group.validate("GroupC", {"GroupDescription": "x"}) is None
    assert group.validate("GroupD", {"GroupDescription": 5}) is not None
    assert validated == [{}, {}, {"GroupDescription": "x"}, {"GroupDescription": 5}]
    assert user.validate("User9", {"Nope": 1}) == "Encountered unsupported property Nope"
