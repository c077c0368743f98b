"""STS (Tokens): temporary credentials, role sessions and federation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.sts.federation import FederationProvider
    from cloudctl.services.sts.provider import StsProvider

    for provider_cls in (StsProvider, FederationProvider):
        cloud.add_provider(provider_cls(cloud))


SERVICE = ServiceSpec("sts", _install)  # its sessions are IAM's tables
