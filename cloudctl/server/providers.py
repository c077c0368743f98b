"""The provider base class: one method per AWS operation, found by decorator.

A provider subclasses ``Provider``, sets ``service`` to the botocore service
name and marks coroutine methods with ``@operation("OperationName")``. The
dispatch table is built once per class.
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


def operation(name: str) -> Callable[[F], F]:
    """Mark a provider method as the implementation of AWS operation ``name``."""

    def mark(fn: F) -> F:
        fn.__aws_operation__ = name  # type: ignore[attr-defined]
        return fn

    return mark


class Provider:
    """One AWS service's business logic; never builds XML or JSON."""

    service: ClassVar[str]
    _table: ClassVar[dict[str, str]]

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                name = getattr(value, "__aws_operation__", None)
                if name:
                    table[name] = attr
        cls._table = table

    def handler(self, operation_name: str) -> Handler | None:
        attr = self._table.get(operation_name)
        return getattr(self, attr) if attr else None

    @classmethod
    def operations(cls) -> list[str]:
        return sorted(cls._table)

    async def start(self) -> None:
        """Called once when the API process starts (after the database is ready)."""

    async def stop(self) -> None:
        """Called once on shutdown."""
