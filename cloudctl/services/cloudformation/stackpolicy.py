"""Stack policies: which update actions (``Update:Modify``, ``Update:Replace``,
``Update:Delete``) a stack update may take on which resources.

Once a stack has a policy every resource is protected unless a statement allows the
action; an explicit ``Deny`` wins over any ``Allow``. Statements name resources as
``LogicalResourceId/<name>`` (wildcards allowed) in ``Resource``/``NotResource``,
actions in ``Action``/``NotAction``, and may narrow by ``ResourceType`` with a
``StringEquals``/``StringLike`` condition. Only updates are governed: creation and
stack deletion are not.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from cloudctl.errors import ValidationError

ACTIONS = ("Update:Modify", "Update:Replace", "Update:Delete", "Update:*")


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def check(body: str) -> None:
    """A policy document as SetStackPolicy/CreateStack accept it."""
    try:
        document = json.loads(body)
    except ValueError:
        raise ValidationError("Error validating stack policy: Invalid stack policy") from None
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        raise ValidationError("Error validating stack policy: Invalid stack policy: "
                              "Statement is required")
    for index, statement in enumerate(document["Statement"], 1):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise ValidationError(f"Error validating stack policy: Statement [#{index}]: "
                                  f"Effect must be Allow or Deny")
        actions = _listed(statement.get("Action")) + _listed(statement.get("NotAction"))
        if not actions:
            raise ValidationError(f"Error validating stack policy: Statement [#{index}]: "
                                  f"Action or NotAction is required")
        for action in actions:
            if not any(fnmatchcase(a, action) for a in ACTIONS):
                raise ValidationError(f"Error validating stack policy: Statement "
                                      f"[#{index}]: invalid action [{action}]")
        if "Resource" not in statement and "NotResource" not in statement:
            raise ValidationError(f"Error validating stack policy: Statement [#{index}]: "
                                  f"Resource or NotResource is required")


def _matches(statement: dict[str, Any], action: str, logical_id: str,
             type_name: str) -> bool:
    if "Action" in statement:
        if not any(fnmatchcase(action, a) for a in _listed(statement["Action"])):
            return False
    elif any(fnmatchcase(action, a) for a in _listed(statement.get("NotAction"))):
        return False
    resource = f"LogicalResourceId/{logical_id}"
    if "Resource" in statement:
        if not any(fnmatchcase(resource, r) for r in _listed(statement["Resource"])):
            return False
    elif any(fnmatchcase(resource, r) for r in _listed(statement.get("NotResource"))):
        return False
    condition = statement.get("Condition") or {}
    for operator, tests in condition.items():
        wanted = _listed((tests or {}).get("ResourceType"))
        if not wanted:
            continue
        if operator == "StringEquals" and type_name not in wanted:
            return False
        if operator == "StringLike" and not any(fnmatchcase(type_name, w) for w in wanted):
            return False
    return True


def denial(body: str | None, action: str, logical_id: str, type_name: str) -> str | None:
    """Why the policy denies ``action`` on the resource (the resource's failure
    reason), None when it allows it or there is no policy."""
    if not body:
        return None
    try:
        statements = json.loads(body).get("Statement") or []
    except (ValueError, AttributeError):
        return None
    allowed = False
    for index, statement in enumerate(statements, 1):
        if not isinstance(statement, dict) or not _matches(statement, action, logical_id,
                                                           type_name):
            continue
        if statement.get("Effect") == "Deny":
            return (f"Action denied by stack policy: Statement [#{index}] does not allow "
                    f"[{action}] for resource [LogicalResourceId/{logical_id}]")
        allowed = True
    if allowed:
        return None
    return (f"Action denied by stack policy: Action [{action}] is not allowed by any "
            f"statement for resource [LogicalResourceId/{logical_id}]")
