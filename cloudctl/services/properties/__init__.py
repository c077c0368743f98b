"""Cloud properties over the Eucalyptus Properties API (admin only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.properties.provider import PropertiesProvider

    cloud.add_provider(PropertiesProvider(cloud))


SERVICE = ServiceSpec("properties", _install)  # its table is the core's (PropertyValue)
