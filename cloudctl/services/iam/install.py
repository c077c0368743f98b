"""The IAM providers a cloud runs (``assemble`` adds them)."""

from __future__ import annotations

from cloudctl.services.iam.accounts import AccountsProvider
from cloudctl.services.iam.idp import IdentityProvidersProvider
from cloudctl.services.iam.keys import KeysProvider
from cloudctl.services.iam.mfa import MfaProvider
from cloudctl.services.iam.policies import PoliciesProvider
from cloudctl.services.iam.roles import RolesProvider
from cloudctl.services.iam.service_roles import ServiceRolesProvider
from cloudctl.services.iam.users import UsersProvider

IAM_PROVIDERS = (AccountsProvider, UsersProvider, KeysProvider, RolesProvider, PoliciesProvider,
                 MfaProvider, IdentityProvidersProvider, ServiceRolesProvider)
