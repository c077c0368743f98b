"""Every ``@operation`` a provider declares is an operation of its service's pinned
botocore model (or of the cloud's extras): a typo would otherwise never be routed."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import cloudctl.services
from cloudctl.protocol.codec import service_model
from cloudctl.server.providers import Provider


def _providers() -> list[type[Provider]]:
    for info in pkgutil.walk_packages(cloudctl.services.__path__, "cloudctl.services."):
        importlib.import_module(info.name)
    found: list[type[Provider]] = []
    todo = list(Provider.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if getattr(cls, "service", None) and cls.operations():
            found.append(cls)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


PROVIDERS = _providers()


def test_every_service_has_providers() -> None:
    services = {cls.service for cls in PROVIDERS}
    assert {"ec2", "iam", "sts", "s3"} <= services


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_operations_exist_in_the_model(provider: type[Provider]) -> None:
    names = set(service_model(provider.service).operation_names)
    unknown = [op for op in provider.operations() if op not in names]
    assert not unknown, f"{provider.__name__} ({provider.service}) declares {unknown}"
