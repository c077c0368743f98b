"""IAM (Euare): accounts, users, groups, roles, policies, keys, MFA, federation.

IAM also installs the cloud's credential store and its authorizer (policy engine):
every other service authenticates and authorises through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.db import pgreads
    from cloudctl.services.authz import PolicyAuthorizer
    from cloudctl.services.iam import fastsql
    from cloudctl.services.iam.credentials import IamCredentialStore
    from cloudctl.services.iam.install import IAM_PROVIDERS

    cloud.credentials = IamCredentialStore(cloud.sessions, cloud.secrets,
                                           fast=lambda: fastsql.for_cloud(cloud),
                                           pg=lambda: pgreads.for_cloud(cloud))
    cloud.authorizer = PolicyAuthorizer(cloud)
    for provider_cls in IAM_PROVIDERS:
        cloud.add_provider(provider_cls(cloud))


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.iam import federation_models, models

    return (*models.IAM_TABLES, *federation_models.FEDERATION_TABLES)


SERVICE = ServiceSpec("iam", _install, tables=_tables)
