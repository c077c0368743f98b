"""CloudFormation's errors as AWS words them.

``TemplateError`` is the ``ValidationError`` of a template that cannot be processed
("Template format error: ...", "Template error: ..."); ``ResourceFailure`` is a
resource operation that failed (its message becomes the resource's status reason);
``Failed`` is a stack operation the engine could not finish.
"""

from __future__ import annotations

from cloudctl.errors import AwsError, ValidationError


class TemplateError(ValidationError):
    """A template or parameter problem: a ValidationError (400)."""


def format_error(message: str) -> TemplateError:
    return TemplateError(f"Template format error: {message}")


def template_error(message: str) -> TemplateError:
    return TemplateError(f"Template error: {message}")


def already_exists(name: str) -> AwsError:
    return AwsError(f"Stack [{name}] already exists", code="AlreadyExistsException")


def no_stack(name: str) -> ValidationError:
    return ValidationError(f"Stack with id {name} does not exist")


class ResourceFailure(Exception):
    """A resource's create, update or delete failed with ``reason`` (not retried)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Failed(Exception):
    """The converge or teardown failed: the resources ``names`` did (their reasons are
    recorded), or the whole operation did for ``reason``."""

    def __init__(self, names: list[str], reason: str | None = None) -> None:
        super().__init__(names)
        self.names = names
        self.reason = reason
