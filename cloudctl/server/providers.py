"""The provider base class: one method per AWS operation, found by decorator.

A provider subclasses ``Provider``, sets ``service`` to the botocore service
name and marks coroutine methods with ``@operation("OperationName")``. The
dispatch table is built once per class. ``@authorization("OperationName")`` marks an
extra authorisation step the dispatcher runs after the policy check (and before a
dry run is answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from cloudctl.server.context import RequestContext

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

Result = dict[str, Any]
Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[Result]]
F = TypeVar("F", bound=Callable[..., Awaitable[Result]])
Check = Callable[[RequestContext, dict[str, Any]], Awaitable[None]]
C = TypeVar("C", bound=Callable[..., Awaitable[None]])


def operation(name: str) -> Callable[[F], F]:
    """Mark a provider method as the implementation of AWS operation ``name``."""

    def mark(fn: F) -> F:
        fn.__aws_operation__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def authorization(name: str) -> Callable[[C], C]:
    """Mark a provider method as an extra authorisation step of operation ``name``.

    It runs after the policy check and before DryRun is answered, so a dry run is
    refused exactly when the real call would be (``iam:PassRole`` of a launch's
    instance profile, for example). It takes ``(ctx, params)`` and raises to deny.
    """

    def mark(fn: C) -> C:
        fn.__aws_authorization__ = name  # type: ignore[attr-defined]
        return fn

    return mark


class Provider:
    """One AWS service's business logic; never builds XML or JSON."""

    service: ClassVar[str]
    _table: ClassVar[dict[str, str]]
    _checks: ClassVar[dict[str, str]]

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, str] = {}
        checks: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                name = getattr(value, "__aws_operation__", None)
                if name:
                    table[name] = attr
                check = getattr(value, "__aws_authorization__", None)
                if check:
                    checks[check] = attr
        cls._table = table
        cls._checks = checks

    def handler(self, operation_name: str) -> Handler | None:
        attr = self._table.get(operation_name)
        return getattr(self, attr) if attr else None

    def authorizations(self) -> dict[str, Check]:
        """Operation name -> this provider's extra authorisation step for it."""
        return {name: getattr(self, attr) for name, attr in self._checks.items()}

    @classmethod
    def operations(cls) -> list[str]:
        return sorted(cls._table)

    async def start(self) -> None:
        """Called once when the API process starts (after the database is ready)."""

    async def stop(self) -> None:
        """Called once on shutdown."""
